import { Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import { listenError } from '../../common/errors.js';
import type { Http2Guard } from '../http2.js';
import type { CertificateSet } from './certificate-set.js';
import type { TlsContexts } from './contexts.js';
import type { HandshakeFailure, TlsMetrics } from './metrics.js';

export interface TlsListenerOptions {
  certificates: CertificateSet;
  metrics: TlsMetrics;
  guard: Http2Guard;
  /** A handshake not done in this long is dropped (Node's timer is not reset by handshake bytes: a hard bound). */
  handshakeTimeoutMs: number;
  /** The HTTP/1.1 limits, as the plain listeners have them. */
  limits: { maxHeaderBytes: number; maxHeaderCount: number; headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number };
  /** `maxHeaderListBytes` and `maxHeaderCount` (above) are the request path's to answer 431 for; nghttp2 resets a stream only past twice them. */
  http2: { maxConcurrentStreams: number; maxHeaderListBytes: number };
}

/** An HTTP/2 request on node:http2's core API, as its 'stream' event gives it. */
export type Http2StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;
type Http1Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What a failed handshake's error says went wrong (OpenSSL's reason, as Node's code). */
export function handshakeFailure(err: NodeJS.ErrnoException): HandshakeFailure {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code === 'ERR_SSL_HTTP_REQUEST') return 'plain-http';
  if (/NO_SHARED_CIPHER|NO_CIPHERS/.test(code)) return 'cipher';
  if (/UNSUPPORTED_PROTOCOL|PROTOCOL_VERSION|VERSION_TOO_LOW|NO_PROTOCOLS_AVAILABLE|WRONG_VERSION_NUMBER|INAPPROPRIATE_FALLBACK/.test(code)) return 'protocol';
  if (/ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|DECRYPT_ERROR|HANDSHAKE_FAILURE)/.test(code)) return 'certificate-refused';
  return 'other';
}

/**
 * One `tls: true` listener: node:http2's secure server with `allowHTTP1`, so ALPN gives each
 * client HTTP/2 or HTTP/1.1 on the same port; certificates by SNI from the CertificateSet (new
 * connections see a rotation at once); the HTTP/1.1 side held to the plain listeners' limits;
 * HTTP/2 connections to the Http2Guard's. The caller gives the request handlers (serve()).
 */
export class TlsListener {
  readonly server: Http2SecureServer<typeof IncomingMessage, typeof ServerResponse>;
  /** Every connection, from accept (mid-handshake too): closed at the end of a drain. */
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private contexts: TlsContexts;

  constructor(private readonly opts: TlsListenerOptions) {
    const { certificates, metrics, guard, limits } = opts;
    this.contexts = certificates.current;
    this.server = createSecureServer({
      ...this.contexts.serverOptions(),
      allowHTTP1: true,
      handshakeTimeout: opts.handshakeTimeoutMs,
      // The contexts are built once per set of certificates; a handshake looks its one up.
      SNICallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => cb(null, certificates.current.contextFor(servername)),
      settings: {
        maxConcurrentStreams: opts.http2.maxConcurrentStreams,
        // Node resets a stream whose header list (RFC 9113 §6.5.2: name + value + 32 per field)
        // passes this: the client sees a stream error, no answer. Twice the limit here, so a list
        // up to twice too large reaches the request path, which answers 431 (as over HTTP/1.1,
        // and as nginx and Envoy do); only one past that is reset. The setting is advisory for
        // the client (§6.5.2), the 431 is the limit. (A request sent before the client has
        // acknowledged these SETTINGS is held to nghttp2's default instead, 64 KiB: nghttp,
        // which does not wait, gets 431 up to that.)
        maxHeaderListSize: 2 * opts.http2.maxHeaderListBytes,
        enablePush: false,
      },
      // Fields per request, pseudo-headers included: the same, twice the count the request path answers 431 for.
      maxHeaderListPairs: 2 * limits.maxHeaderCount + 4,
    });
    // The HTTP/1.1 connections ALPN hands to node:http: its settings live on the server object.
    Object.assign(this.server, {
      maxHeaderSize: limits.maxHeaderBytes,
      maxHeadersCount: 0,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 10))),
    });
    certificates.onChange((c) => {
      // The server's own context holds the default certificate and the ticket keys: replaced
      // only when one of them changed (a new context means new ticket keys for everyone).
      if (!c.sameDefault(this.contexts)) this.server.setSecureContext(c.serverOptions());
      this.contexts = c;
    });
    // Node's own handler re-emits handshake failures as 'clientError', where an HTTP/1.1 answer
    // would be written to a socket that never became TLS: counted and closed here instead.
    for (const l of this.server.listeners('tlsClientError')) this.server.removeListener('tlsClientError', l as (...args: unknown[]) => void);
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      let reason = handshakeFailure(err);
      // No certificate for the name asked (strict SNI): OpenSSL calls it no shared cipher, or no signature algorithm.
      if ((reason === 'cipher' || reason === 'other') && !certificates.current.serves((socket as TLSSocket & { servername?: string | false | null }).servername)) reason = 'no-certificate';
      metrics.handshakeErrors.inc({ reason });
      socket.destroy();
    });
    // Per connection, the least that does the job: one shared close handler (no closure, no
    // once-wrapper per socket), and one 'secureConnection' listener for both of its jobs.
    const sockets = this.sockets;
    function forget(this: Socket): void {
      sockets.delete(this);
    }
    this.server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', forget);
    });
    // Node makes the HTTP/2 session inside its own 'secureConnection' listener and announces it
    // there: a listener put before it knows which socket the session that follows is on.
    let connecting: TLSSocket | undefined;
    this.server.prependListener('secureConnection', (socket: TLSSocket) => {
      connecting = socket;
      metrics.handshake(socket.getProtocol() ?? 'unknown', socket.isSessionReused());
    });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      guard.session(session, connecting);
      connecting = undefined;
    });
    this.server.on('sessionError', (err: NodeJS.ErrnoException, session) => guard.sessionError(err, session));
  }

  /**
   * The request handlers: HTTP/1.1 requests (ALPN http/1.1 or none) come to node:http's
   * 'request' and 'checkContinue'; HTTP/2 streams to `http2`, on the core API. Node sets its
   * compat layer up (an Http2ServerRequest and Http2ServerResponse per stream, onto 'request')
   * the moment a 'request' listener is added: its 'stream' listener is taken off again.
   */
  serve(handlers: { http1: Http1Handler; http1Continue: Http1Handler; http2: Http2StreamHandler }): void {
    const before = new Set(this.server.listeners('stream'));
    this.server.on('request', handlers.http1);
    this.server.on('checkContinue', handlers.http1Continue);
    for (const l of this.server.listeners('stream')) if (!before.has(l)) this.server.removeListener('stream', l as (...args: unknown[]) => void);
    this.server.on('stream', handlers.http2);
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, 'the proxy', host, port, 'listen: in the config')));
      this.server.listen(port, host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  /** Drain, first step: no new connections; HTTP/2 ones get GOAWAY (their open streams finish); idle HTTP/1.1 ones close. Resolves when all are gone. */
  close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sessions) s.close();
    this.closeIdleConnections();
    return closed;
  }

  /** Idle HTTP/1.1 connections (Node's Http2SecureServer has the method with allowHTTP1; its typings do not). */
  closeIdleConnections(): void {
    (this.server as unknown as { closeIdleConnections(): void }).closeIdleConnections();
  }

  /** Drain, last step: whatever is still open is closed. */
  closeAllConnections(): void {
    // node:http's, for the HTTP/1.1 connections it tracks on this server (Http2SecureServer has no such method).
    HttpServer.prototype.closeAllConnections.call(this.server);
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
  }
}
