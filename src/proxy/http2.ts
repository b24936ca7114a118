import { constants, type Http2Session, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Logger } from '../common/log.js';
import { normalizeIP } from '../routing/cidr.js';
import type { Http2Abuse, TlsMetrics } from './tls/metrics.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM } = constants;
/** nghttp2's "flooding was detected" (frames to answer queued faster than the peer reads them). */
const NGHTTP2_ERR_FLOODED = -904;

const kOwnReset = Symbol('meridian.ownReset');
const kSessionGuard = Symbol('meridian.sessionGuard');
const kExchange = Symbol('meridian.exchange');
type Stream = ServerHttp2Stream & { [kOwnReset]?: boolean; [kSessionGuard]?: SessionGuard; [kExchange]?: Http2Exchange };

type ExchangeEvent = 'close' | 'drain' | 'finish';

/**
 * One HTTP/2 request and its response, on node:http2's core API (a 'stream' handler and
 * stream.respond()), standing in for node:http's IncomingMessage and ServerResponse where the
 * request path reads them (Attempt, sendProxyError, limitedBody): one object per stream over the
 * stream itself. Node's compat layer (Http2ServerRequest, a Readable, and Http2ServerResponse,
 * with 11 stream listeners, two closures and their state per request) cost 10–30 % of the CPU
 * of an HTTP/2 request (bench/tls.js: bare node h2 core against bare node https, medians
 * 0.66–0.91 of it in eight runs on a shared VM); Meridian's took 0.78–1.02 of what they took on
 * the compat layer (median 0.82, five interleaved A/B runs, two at a fixed offered load).
 *
 * As node:http means them: `writableEnded` once the proxy ended the response, `writableFinished`
 * once it also went out (a stream the client reset is finished too, but not delivered),
 * `complete` once the whole request body came, `shouldKeepAlive` meaningless (an HTTP/2
 * connection is closed with GOAWAY, not per response). A response the proxy destroys (cut
 * mid-body) marks its stream, so the reset is not counted as the client's (Http2Guard).
 */
export class Http2Exchange {
  statusCode = 200;
  shouldKeepAlive = true;
  writableEnded = false;
  readonly httpVersionMajor = 2;
  /** @internal The 'close' listener (the Attempt's, on every request): called by one listener shared by all streams, not bound per stream. */
  closeListener: ((this: Http2Exchange) => void) | undefined = undefined;

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly method: string,
  ) {
    // A stream destroyed with an error (the proxy cutting a response, nghttp2 failing it) emits
    // 'error': nobody else listens, and an unheard 'error' would end the process.
    stream.on('error', ignoreStreamError);
    (stream as Stream)[kExchange] = this;
    // The one 'close' listener of the stream: the exchange's own, and the Http2Guard's count.
    stream.on('close', onExchangeStreamClose);
  }

  /** sendProxyError reads the protocol version from the response's request: the same object. */
  get req(): this {
    return this;
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  get writableFinished(): boolean {
    return this.writableEnded && this.stream.writableFinished;
  }

  get writableNeedDrain(): boolean {
    return this.stream.writableNeedDrain;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  get complete(): boolean {
    return this.stream.readableEnded || this.stream.destroyed;
  }

  get readableAborted(): boolean {
    return this.stream.readableAborted;
  }

  /** The request body (limitedBody reads it as it reads node:http's). */
  iterator(options: { destroyOnReturn: boolean }): AsyncIterableIterator<unknown> {
    return this.stream.iterator(options);
  }

  /**
   * The stream's event, heard with this exchange as `this` (the request path's shared listeners
   * find their Attempt on it). Every request has a 'close' listener: it is kept here and called
   * by the listener shared by all streams, where a bound copy per stream cost an allocation.
   */
  on(event: ExchangeEvent, listener: (this: Http2Exchange) => void): this {
    if (event === 'close' && this.closeListener === undefined) this.closeListener = listener;
    else this.stream.on(event, listener.bind(this));
    return this;
  }

  once(event: ExchangeEvent, listener: (this: Http2Exchange) => void): this {
    this.stream.once(event, listener.bind(this));
    return this;
  }

  writeContinue(): void {
    if (!this.stream.headersSent && !this.stream.destroyed) this.stream.additionalHeaders({ ':status': 100 });
  }

  /** Sends the head at once (the request path calls it with the first body byte, or the end). `headers` becomes the HEADERS frame's: it is the caller's to give away. */
  writeHead(status: number, headers: OutgoingHttpHeaders = {}): this {
    this.statusCode = status;
    this.respond(headers, false);
    return this;
  }

  private respond(headers: OutgoingHttpHeaders, endStream: boolean): void {
    const s = this.stream;
    if (s.destroyed || s.closed || s.headersSent) return;
    headers[':status'] = this.statusCode;
    // HEAD, 204 and 304 end the stream with the HEADERS frame (Node does that by itself).
    s.respond(headers, endStream ? RESPOND_AND_END : RESPOND);
  }

  write(chunk: Buffer | string): boolean {
    const s = this.stream;
    if (s.destroyed) return false;
    if (!s.headersSent) this.respond({}, false);
    if (s.writableEnded) return true; // a HEAD, 204 or 304 answer: its body is not sent
    return s.write(chunk);
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    const s = this.stream;
    if (s.destroyed || s.closed) return this;
    // Nothing to send but the head: HEADERS with END_STREAM, no empty DATA frame after it.
    if (!s.headersSent) this.respond({}, chunk === undefined);
    if (s.writableEnded) return this;
    if (chunk === undefined) s.end();
    else s.end(chunk);
    return this;
  }

  destroy(err?: Error): this {
    (this.stream as Stream)[kOwnReset] = true;
    this.stream.destroy(err);
    return this;
  }
}

/** respond()'s options, shared (Node copies them before use). */
const RESPOND = Object.freeze({ endStream: false });
const RESPOND_AND_END = Object.freeze({ endStream: true });

/**
 * A stream with an exchange closed: the guard's count, then the exchange's listener. One listener
 * for both (a second on every stream cost an addListener, its array, and a call).
 */
function onExchangeStreamClose(this: Stream): void {
  onGuardedStreamClose.call(this);
  const ex = this[kExchange];
  ex?.closeListener?.call(ex);
}

function ignoreStreamError(): void {
  // Seen by whoever ends the stream: the Attempt (through 'close') and the Http2Guard (its rstCode).
}

export interface Http2Limits {
  /** A connection with no stream open for this long is closed (GOAWAY, then the connection). */
  idleTimeoutMs: number;
  /** Window the counts below are kept over. */
  abuseWindowMs: number;
  /** Streams the client resets (RST_STREAM) before their response is complete, per window. */
  maxResetStreamsPerWindow: number;
  maxPingsPerWindow: number;
  maxSettingsPerWindow: number;
}

const kGuard = Symbol('meridian.http2Guard');
/** How long a closed abuser's GOAWAY has to leave before its connection is destroyed. */
const ABUSER_GRACE_MS = 250;
type GuardedSession = Http2Session & { [kGuard]?: SessionGuard };

/** One connection: its counts in the current window, and its streams open now. */
class SessionGuard {
  constructor(
    readonly owner: Http2Guard,
    readonly session: Http2Session,
    /** The client's address, normalised (IPv4-mapped IPv6 as IPv4): once per connection, not per stream. */
    readonly peer: string,
    /** The connection under the session (its socket proxy refuses destroy()). */
    readonly socket: Duplex | undefined,
    /** Since when no stream has been open (a new connection has none yet). */
    public idleSince: number,
  ) {}
  open = 0;
  windowStart = 0;
  resets = 0;
  pings = 0;
  settings = 0;
  /** Closed for abuse and counted: counted once per connection. */
  reported = false;
}

/**
 * One listener for every stream's end (no closure per stream): its connection's guard is on it.
 * Counted once, whichever listener calls it first (a stream's exchange and the guard's own).
 */
function onGuardedStreamClose(this: Stream): void {
  const g = this[kSessionGuard];
  if (!g) return;
  this[kSessionGuard] = undefined;
  g.owner.streamEnded(g, this);
}

/**
 * Per HTTP/2 connection, what nghttp2 and Node do not bound on their own:
 *
 * - idleness: a connection with no stream open for `idleTimeoutMs` is closed (GOAWAY, then the
 *   connection), as nginx's keepalive_timeout and Envoy's idle_timeout do. PINGs and SETTINGS do
 *   not keep it open (Node's session timeout counts any frame). One sweep for all connections.
 * - rapid reset (CVE-2023-44487): a client opening streams and resetting them at once is never
 *   held back by SETTINGS_MAX_CONCURRENT_STREAMS (a reset stream no longer counts) while each one
 *   costs the proxy a routed request and an upstream dispatch. Streams the client resets before
 *   their response is complete are counted per window; over the limit, the connection is closed
 *   with GOAWAY (ENHANCE_YOUR_CALM). (nghttp2's own reset limit, 1,000 at once then 33/s, stays
 *   beneath as a backstop.)
 * - PING and SETTINGS floods: each needs an ACK. nghttp2 stops a peer that does not read its
 *   ACKs (ERR_FLOODED, counted as `flood`); one that reads them is counted here.
 *
 * Fixed windows: one comparison and one addition per event, no timer per connection.
 */
export class Http2Guard {
  readonly sessions = new Set<Http2Session>();
  /** Log lines for closed connections, per kind per window: under attack the log must not become the next resource exhausted. */
  private readonly logged = new Map<string, { at: number; suppressed: number }>();
  private idleSweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: Http2Limits,
    private readonly metrics: TlsMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A new connection (on `socket`): tracked, closed once idle, and watched for floods. */
  session(session: Http2Session, socket?: Duplex): void {
    (session as GuardedSession)[kGuard] = new SessionGuard(this, session, normalizeIP(session.socket.remoteAddress ?? ''), socket, this.now());
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    session.on('ping', () => this.count(session, 'ping-flood'));
    session.on('remoteSettings', () => this.count(session, 'settings-flood'));
    session.on('stream', (stream: ServerHttp2Stream) => this.stream(session, stream));
    // A tenth of the timeout late at most, and a sweep a second at most: over every connection,
    // a comparison each — cheaper than a timer per connection re-armed by every stream.
    this.idleSweep ??= setInterval(() => this.closeIdle(), Math.max(50, Math.min(1000, Math.floor(this.limits.idleTimeoutMs / 10)))).unref();
  }

  /** Stops the idle sweep (the listeners are closed). */
  stop(): void {
    clearInterval(this.idleSweep);
    this.idleSweep = undefined;
  }

  /** Connections with no stream open for the idle timeout: GOAWAY (NO_ERROR), then closed by Node once nothing is in flight. */
  closeIdle(now = this.now()): void {
    for (const session of this.sessions) {
      const g = (session as GuardedSession)[kGuard];
      if (g && g.open === 0 && !session.closed && now - g.idleSince >= this.limits.idleTimeoutMs) session.close();
    }
  }

  /**
   * A new stream: was it reset by the client before its response was complete? Node announces a
   * stream a tick after its HEADERS, so one reset in the same read (the attack) is closed already.
   */
  private stream(session: Http2Session, stream: Stream): void {
    const g = (session as GuardedSession)[kGuard];
    if (!g) return;
    g.open++;
    if (stream.destroyed || stream.closed) return this.streamEnded(g, stream);
    stream[kSessionGuard] = g;
    // A stream the request path made an exchange for (Node announces it there first) has the
    // exchange's close listener call the count; any other gets its own. 'on', not 'once': a
    // stream closes once, and once() wraps the listener in a closure per stream.
    if (!stream[kExchange]) stream.on('close', onGuardedStreamClose);
  }

  /** @internal a stream of `g`'s connection ended */
  streamEnded(g: SessionGuard, stream: Stream): void {
    if (--g.open === 0) g.idleSince = this.now();
    if (stream.rstCode !== NGHTTP2_NO_ERROR && stream.rstCode !== undefined && !stream[kOwnReset]) this.count(g.session, 'rapid-reset');
  }

  /** The address of the client on `session`'s connection (normalised). */
  static peerOf(session: Http2Session | undefined): string {
    return (session as GuardedSession | undefined)?.[kGuard]?.peer ?? normalizeIP(session?.socket?.remoteAddress ?? '');
  }

  /** A stream the proxy resets itself (not the client's doing). */
  static ownReset(stream: ServerHttp2Stream, code: number): void {
    (stream as Stream)[kOwnReset] = true;
    stream.close(code);
  }

  /** An error that ended a connection: counted when it is the peer's abuse, not a network failure. */
  sessionError(err: NodeJS.ErrnoException, session: Http2Session): void {
    const kind: Http2Abuse | undefined =
      err.errno === NGHTTP2_ERR_FLOODED ? 'flood' : err.code === 'ERR_HTTP2_TOO_MANY_INVALID_FRAME' ? 'invalid-frames' : err.code?.startsWith('ERR_HTTP2') ? 'protocol-error' : undefined;
    if (kind) this.closed(session, kind, err.code);
  }

  private count(session: Http2Session, kind: 'rapid-reset' | 'ping-flood' | 'settings-flood'): void {
    const g = (session as GuardedSession)[kGuard];
    if (!g || g.reported || session.destroyed) return;
    const now = this.now();
    if (now - g.windowStart >= this.limits.abuseWindowMs) {
      g.windowStart = now;
      g.resets = g.pings = g.settings = 0;
    }
    const over =
      kind === 'rapid-reset'
        ? ++g.resets > this.limits.maxResetStreamsPerWindow
        : kind === 'ping-flood'
          ? ++g.pings > this.limits.maxPingsPerWindow
          : ++g.settings > this.limits.maxSettingsPerWindow;
    if (!over) return;
    this.closed(session, kind);
    // GOAWAY(ENHANCE_YOUR_CALM), then the connection. Node closes the socket only once its last
    // write is out, which a client that does not read never lets happen: a moment for the
    // GOAWAY to go, then it is destroyed regardless.
    // (An Error first: an undefined one takes destroy()'s default, NO_ERROR, over the code.)
    session.destroy(new Error(`HTTP/2 ${kind}: connection closed`), NGHTTP2_ENHANCE_YOUR_CALM);
    if (g.socket) setTimeout(() => g.socket!.destroy(), ABUSER_GRACE_MS).unref();
  }

  private closed(session: Http2Session, kind: Http2Abuse, code?: string): void {
    const g = (session as GuardedSession)[kGuard];
    if (!g || g.reported) return; // counted once per connection
    g.reported = true;
    this.metrics.http2Abuse.inc({ kind });
    const now = this.now();
    const last = this.logged.get(kind);
    if (last && now - last.at < this.limits.abuseWindowMs) {
      last.suppressed++;
      return;
    }
    this.logged.set(kind, { at: now, suppressed: 0 });
    this.logger.warn({ kind, ...(code ? { code } : {}), client: g.peer, alsoClosedSinceLastLine: last?.suppressed ?? 0 }, 'closed an HTTP/2 connection for abuse');
  }
}
