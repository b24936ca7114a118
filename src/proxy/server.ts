import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants, type IncomingHttpHeaders as Http2Headers, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { errors, type Dispatcher } from 'undici';
import { listenError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { choose, newDecision, type Decision } from '../routing/choose.js';
import type { CidrMap } from '../routing/cidr.js';
import { normalizeIP } from '../routing/cidr.js';
import { routeFor, type CompiledRoute } from '../routing/match.js';
import type { ProxyConfig } from './config.js';
import { limitedBody } from './body-limit.js';
import { PROXY_ERRORS, rawProxyError, sendProxyError, type ProxyErrorCode } from './errors.js';
import { intake, intakeH2 } from './intake.js';
import { openTunnel } from './tunnel.js';
import { RetryBudget } from './retry-budget.js';
import { clientAddress, downstreamResponseHeaders, forwardStyle, upstreamRequestHeaders, type ForwardStyle } from './headers.js';
import { Http2Exchange, Http2Guard } from './http2.js';
import { httpsPortSuffix, plainHttpAnswer, rawRedirect } from './https-redirect.js';
import type { CertificateSet } from './tls/certificate-set.js';
import { TlsListener } from './tls/listener.js';
import type { TlsMetrics } from './tls/metrics.js';
import type { ProxyMetrics } from './metrics.js';
import { ROUTE_PANIC, ROUTE_SPILLED, UNKNOWN_CLIENT_REGION } from './request-metrics.js';
import type { LiveState } from '../routing/live.js';
import type { BackendView, RoutingSnapshot } from '../routing/snapshot.js';
import type { RoutingState } from './routing-state.js';
import { newSweepSlot, UpstreamDeadlines, type Phase, type TimedTry } from './upstream-deadlines.js';
import { QueueTimeoutError, type UpstreamPool } from './upstream-pool.js';

/** Failures where the request never reached a backend: any method may go to another shard. */
const NOT_DELIVERED = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CLOSED']);
/** Failures before the response where the backend may have seen the request: idempotent methods only. */
const MAYBE_DELIVERED = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT']);
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/**
 * Failures of the request itself, not of the endpoint (the client's body over the limit, shorter
 * than declared, a header undici will not send, the client gone, a queue or client deadline):
 * they never count against the endpoint's health — a burst of them must not eject it.
 */
const NOT_THE_ENDPOINTS_FAULT = new Set(['E_BODY_TOO_LARGE', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_ABORTED', 'E_QUEUE_TIMEOUT', 'E_CLIENT_WRITE_TIMEOUT']);

/** Labels of requests the proxy answered itself, before any shard: every request is counted once. */
const NO_SHARD = { backendName: '', cluster: '', region: '' };

/** A backend's requests the proxy answered itself (E_NO_BACKEND): its own series, with no cluster. */
const backendOnly = new WeakMap<BackendView, { backendName: string; cluster: string; region: string }>();
function noShardOf(b: BackendView): { backendName: string; cluster: string; region: string } {
  let labels = backendOnly.get(b);
  if (!labels) backendOnly.set(b, (labels = { backendName: b.name, cluster: '', region: '' }));
  return labels;
}

/** The client's region as the metrics label it: its cell's region name. */
function clientRegion(snap: RoutingSnapshot, cell: number): string {
  return cell < 0 ? UNKNOWN_CLIENT_REGION : snap.regions[cell]!;
}

function routeFlags(d: Decision): number {
  return (d.spilled ? ROUTE_SPILLED : 0) | (d.panic ? ROUTE_PANIC : 0);
}

const kActive = Symbol('meridian.activeResponse');
const kClosing = Symbol('meridian.closing');
/**
 * The response being written on a connection, so an error answer for the next request waits for
 * it; and whether the proxy has told the client it closes the connection (RFC 9112 §9.6: nothing
 * the client pipelined after that is read as a request).
 */
type ClientSocket = Duplex & { [kActive]?: ServerResponse; [kClosing]?: boolean; destroySoon?: () => void };

/** The client left before the response: nginx's 499, the status the client "saw". */
const CLIENT_CLOSED = 499;

export interface ProxyServerDeps {
  state: RoutingState;
  trusted: CidrMap<true>;
  metrics: ProxyMetrics;
  logger: Logger;
  rng?: () => number;
  /** The certificates and TLS metrics, when a listener has `tls: true`. */
  tls?: { certificates: CertificateSet; metrics: TlsMetrics };
}

/**
 * The data plane of one process: node:http in, undici out. Per request: route → client facts →
 * choose() → dispatch to the endpoint's pool with a handler that streams the response straight
 * into `res` (with backpressure) → metrics, passive health, retries on another shard.
 */
export class ProxyServer {
  readonly servers: Server[] = [];
  private draining = false;
  private inFlight = 0;
  /** @internal read by Attempt */
  readonly retryBudget: RetryBudget;
  private budgetTicker: NodeJS.Timeout | undefined;
  /** @internal read by Attempt */
  readonly deadlines: UpstreamDeadlines;
  private deadlineTicker: NodeJS.Timeout | undefined;
  /** @internal read by Attempt */
  readonly rng: () => number;
  /** Reused for each request's first choice (synchronous); an Attempt copies what it keeps. */
  private readonly scratch = newDecision();
  /** Upgraded connections (WebSocket tunnels): the HTTP server no longer tracks them. */
  private readonly tunnels = new Set<Duplex>();
  /** The `tls: true` listeners (HTTPS: HTTP/2 and HTTP/1.1), and their HTTP/2 connections' guard. */
  private readonly tlsListeners: TlsListener[] = [];
  private http2Guard: Http2Guard | undefined;
  /**
   * `:port` (or nothing for 443) of the HTTPS listener redirects send clients to: the first
   * `tls: true` one's, or `tls.redirectPort`. Undefined without one: nothing is redirected.
   */
  private redirectPortSuffix: string | undefined;
  /** @internal read by Attempt */
  readonly forward: ForwardStyle;
  private readonly isTrusted = (ip: string): boolean => this.deps.trusted.has(ip);
  /** An HTTP/2 header list larger than this gets 431 (SETTINGS_MAX_HEADER_LIST_SIZE announces twice it: tls/listener.ts). */
  private readonly maxHeaderListBytes: number;

  constructor(
    /** @internal read by Attempt */
    readonly config: ProxyConfig,
    /** @internal read by Attempt */
    readonly deps: ProxyServerDeps,
  ) {
    this.rng = deps.rng ?? Math.random;
    this.forward = forwardStyle('http', config.via);
    this.maxHeaderListBytes = config.http2.maxHeaderListBytes ?? config.limits.maxHeaderBytes;
    this.retryBudget = new RetryBudget(config.retry.budgetRatio, config.retry.budgetMinPerSecond);
    const l = config.limits;
    this.deadlines = new UpstreamDeadlines({ headersTimeoutMs: l.upstreamHeadersTimeoutMs, bodyTimeoutMs: l.upstreamBodyTimeoutMs, queueTimeoutMs: l.upstreamQueueTimeoutMs, writeTimeoutMs: l.downstreamWriteTimeoutMs });
    deps.metrics.inFlightSource = () => this.inFlight;
    deps.metrics.tunnelSource = () => this.tunnels.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async listen(): Promise<AddressInfo[]> {
    const addresses: AddressInfo[] = [];
    this.budgetTicker ??= setInterval(() => this.retryBudget.tick(), 1000).unref();
    this.deadlineTicker ??= setInterval(() => this.deadlines.sweep(performance.now()), this.deadlines.intervalMs).unref();
    for (const l of this.config.listen) {
      if (l.tls) {
        const address = await this.listenTls(l.host, l.port);
        this.redirectPortSuffix ??= httpsPortSuffix(this.config.tls?.redirectPort ?? address.port);
        addresses.push(address);
        continue;
      }
      const server = createServer(
        {
          maxHeaderSize: this.config.limits.maxHeaderBytes,
          headersTimeout: this.config.limits.headersTimeoutMs,
          requestTimeout: this.config.limits.requestTimeoutMs,
          keepAliveTimeout: this.config.limits.keepAliveTimeoutMs,
          // Node checks those two timeouts every 30 s by default: a 10 s headers timeout then
          // fired after 10-40 s. A check a second (at most a tenth of the timeout) keeps it honest.
          connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(this.config.limits.headersTimeoutMs / 10))),
          insecureHTTPParser: false,
          // Duplicate Content-Length and CL+TE are parse errors in Node's strict parser. A missing
          // Host is refused by intake() instead, with the proxy's own error code.
          requireHostHeader: false,
        },
        (req, res) => this.handle(req, res, false),
      );
      // Expect: 100-continue is answered here, once the request passed its checks (a request the
      // proxy refuses is refused before the client sends its body).
      server.on('checkContinue', (req, res) => this.handle(req, res, true));
      // Node keeps only the first 2,000 header lines in req.headers and drops the rest silently —
      // Content-Length among them, and the body with it. The proxy counts them itself (intake).
      server.maxHeadersCount = 0;
      server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, 'the proxy', l.host, l.port, 'listen: in the config (--vip for the demo)')));
        server.listen(l.port, l.host, () => resolve());
      });
      this.servers.push(server);
      addresses.push(server.address() as AddressInfo);
    }
    return addresses;
  }

  /** Stops accepting, lets in-flight requests finish (up to the timeout), then closes. */
  async drain(timeoutMs = this.config.limits.drainTimeoutMs): Promise<void> {
    this.draining = true;
    clearInterval(this.budgetTicker);
    const closed = Promise.all([...this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))), ...this.tlsListeners.map((t) => t.close())]);
    for (const s of this.servers) s.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      for (const s of this.servers) s.closeIdleConnections();
      for (const t of this.tlsListeners) t.closeIdleConnections();
    }
    for (const s of this.servers) s.closeAllConnections();
    for (const t of this.tlsListeners) t.closeAllConnections();
    for (const t of this.tunnels) t.destroy();
    await closed;
    this.http2Guard?.stop();
    clearInterval(this.deadlineTicker);
  }

  /**
   * A request the parser refused (malformed, too large, too slow). Its answer never goes into a
   * response still being written on the same connection (a pipelined request behind a streaming
   * response): it waits for that response to finish, as nginx does, then closes.
   */
  private clientError(err: NodeJS.ErrnoException, socket: ClientSocket): void {
    const code: ProxyErrorCode =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'E_CLIENT_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'E_HEADERS_TOO_LARGE' : 'E_BAD_REQUEST';
    const s = socket;
    const current = s[kActive];
    const pending = current !== undefined && !current.writableFinished && !current.destroyed;
    // Nothing on this connection is answered any more: once the response in flight is done, it closes.
    const closeAfter = (then?: () => void) => {
      const close = () => {
        then?.();
        // A connection the client reset is destroyed already: ending it would only build an
        // ERR_STREAM_DESTROYED, stack trace and all, for nobody (4 µs of every such connection).
        if (socket.destroyed) return;
        // Ends once what is written has gone out (the answer), then closes.
        socket.end();
        socket.destroySoon?.();
      };
      if (pending) current.once('close', close);
      else close();
    };
    // Already told it closes: what comes after is not a request, and gets no answer.
    if (s[kClosing]) return closeAfter();
    s[kClosing] = true;
    const attempt = (current as AttemptResponse | undefined)?.[kAttempt];
    // The client closed its end in the middle of a request (HPE_INVALID_EOF_STATE: its body or its
    // head), or reset the connection: it left. Nobody is there to read an answer, so none is
    // written, and a request in progress is counted with the status the client saw, 499 (its try
    // upstream given up). A reset says nothing of a request in progress — an idle keep-alive
    // connection is reset all the time — so without one being proxied it counts nothing.
    const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
    const left = reset || err.code === 'HPE_INVALID_EOF_STATE';
    // The body of the request being proxied is what failed to parse (a bad chunk size): that
    // request gets the 400, and its upstream request is abandoned.
    if (attempt && !attempt.requestComplete && current && !current.headersSent) {
      if (left) return void current.destroy(); // closing the response gives its try up (clientClosed)
      attempt.refuse(code);
      return closeAfter();
    }
    if (left) {
      if (!reset) this.count(NO_SHARD, CLIENT_CLOSED, performance.now());
      return closeAfter();
    }
    this.count(NO_SHARD, PROXY_ERRORS[code].status, performance.now());
    closeAfter(() => {
      if (socket.writable) socket.write(rawProxyError(code));
    });
  }

  /** A request the proxy answers itself (refused, no route, no backend): counted, and closed when it had a body left unread. */
  private refuse(res: ServerResponse, code: ProxyErrorCode, start: number, close: boolean, labels = NO_SHARD, hsts: string | null = null): void {
    if (close) {
      res.shouldKeepAlive = false;
      (res.req.socket as ClientSocket)[kClosing] = true;
    }
    sendProxyError(res, code, close || this.draining, hsts);
    this.count(labels, PROXY_ERRORS[code].status, start);
  }

  /**
   * A plain-HTTP request its route wants over HTTPS (https-redirect.ts): 308 to the HTTPS URL,
   * or refused. A body left unread closes the connection, as for any refusal; the client sends it
   * again to the Location (a 308 keeps the method and body).
   */
  private answerPlainHttp(res: ServerResponse, answer: { location: string } | ProxyErrorCode, start: number, close: boolean, labels: typeof NO_SHARD): void {
    if (typeof answer === 'string') return this.refuse(res, answer, start, close, labels);
    if (close) {
      res.shouldKeepAlive = false;
      (res.req.socket as ClientSocket)[kClosing] = true;
    }
    res.writeHead(308, close || this.draining ? { location: answer.location, 'content-length': 0, connection: 'close' } : { location: answer.location, 'content-length': 0 });
    res.end();
    this.count(labels, 308, start);
  }

  private count(shard: { backendName: string; cluster: string; region: string }, status: number, start: number, client = '', route = 0): void {
    this.deps.metrics.requestDone(shard, shard.backendName, shard.cluster, shard.region, status, (performance.now() - start) / 1000, client, route);
  }

  private handle(req: IncomingMessage, res: ServerResponse, expectContinue: boolean, style = this.forward): void {
    const start = performance.now();
    const state = this.deps.state;
    const snap = state.snapshot;
    const socket = req.socket as ClientSocket;
    // Pipelined behind an answer that closes the connection: not a request any more (the
    // connection closes when that answer is out; this one is never answered nor forwarded).
    if (socket[kClosing]) {
      res.shouldKeepAlive = false;
      return;
    }
    socket[kActive] = res;
    if (this.draining) res.shouldKeepAlive = false;
    const declared = Number(req.headers['content-length'] ?? 0);
    // A body the proxy will not read (it refuses the request) leaves the connection unusable.
    const hasBody = declared > 0 || req.headers['transfer-encoding'] !== undefined;
    const it = intake(req, this.config.paths, this.config.limits.maxHeaderCount);
    if (typeof it === 'string') return this.refuse(res, it, start, true);
    const route = routeFor(snap.routes, snap.defaultRoute, it.host, it.path);
    const backend = route.backend;
    if (backend < 0) return this.refuse(res, state.hasTable ? 'E_NO_ROUTE' : 'E_NO_TABLE', start, hasBody);
    const peer = normalizeIP(req.socket.remoteAddress ?? '');
    const client = clientAddress(peer, req.headers['x-forwarded-for'], this.isTrusted);
    // A route without an HTTPS policy (most) pays this one test.
    let hsts: string | null = null;
    if (route.plainHttp !== 'serve' || route.hsts !== null) {
      const secure = isSecure(style, client.peerTrusted, req.headers['x-forwarded-proto']);
      const answer = secure ? undefined : plainHttpAnswer(route, it.host, it.target, this.redirectPortSuffix);
      if (answer !== undefined) return this.answerPlainHttp(res, answer, start, hasBody, noShardOf(snap.backends[backend]!));
      hsts = stsFor(route, secure);
    }
    if (declared > this.config.limits.maxBodyBytes) return this.refuse(res, 'E_BODY_TOO_LARGE', start, true, NO_SHARD, hsts);
    const facts = clientFacts(state, client.ip);
    const decision = choose(facts, snap, state.live, backend, this.rng, undefined, this.scratch);
    if (decision.endpoint < 0) return this.refuse(res, 'E_NO_BACKEND', start, hasBody, noShardOf(snap.backends[backend]!), hsts);
    const headers = upstreamRequestHeaders(req.headers, peer, client.peerTrusted, style, it.host);
    if (expectContinue) res.writeContinue();
    this.inFlight++;
    this.retryBudget.countRequest();
    const attempt = new Attempt(this, req, res, backend, client.ip, facts, headers, it.target, hasBody, start, style, hsts);
    attempt.send(decision, 0);
  }

  /**
   * An HTTPS listener (tls/listener.ts): HTTP/1.1 requests come to handle() as on a plain port,
   * HTTP/2 streams to handleH2(); both go on through the same Attempt.
   */
  private async listenTls(host: string, port: number): Promise<AddressInfo> {
    const tls = this.deps.tls;
    if (!tls) throw new Error('a tls: true listener without certificates (startProxyWith loads them)');
    const h1 = forwardStyle('https', this.config.via);
    const h2 = forwardStyle('https', this.config.via, '2');
    const http2 = this.config.http2;
    this.http2Guard ??= new Http2Guard(http2, tls.metrics, this.deps.logger);
    const guard = this.http2Guard;
    tls.metrics.http2SessionSource = () => guard.sessions.size;
    const listener = new TlsListener({
      certificates: tls.certificates,
      metrics: tls.metrics,
      guard,
      handshakeTimeoutMs: this.config.tls?.handshakeTimeoutMs ?? 10_000,
      limits: this.config.limits,
      http2: { maxConcurrentStreams: http2.maxConcurrentStreams, maxHeaderListBytes: this.maxHeaderListBytes },
    });
    listener.serve({
      http1: (req, res) => this.handle(req, res, false, h1),
      http1Continue: (req, res) => this.handle(req, res, true, h1),
      http2: (stream, headers, _flags, rawHeaders) => this.handleH2(stream, headers, rawHeaders, h2),
    });
    listener.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head, h1));
    listener.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
    const address = await listener.listen(host, port);
    this.tlsListeners.push(listener);
    return address;
  }

  /**
   * An HTTP/2 request (a stream, on node:http2's core API): the same checks, routing, choice and
   * Attempt as handle(), from the stream's pseudo-headers, with an Http2Exchange as its request
   * and response. What is per connection in HTTP/1.1 (pipelining, Connection: close, a body left
   * unread spoiling the connection) is per stream here: a refused request ends its own stream.
   */
  private handleH2(stream: ServerHttp2Stream, h: Http2Headers, rawHeaders: string[], style: ForwardStyle): void {
    const start = performance.now();
    // Reset by the client before it was even looked at (a rapid reset): nothing to route or answer.
    if (stream.destroyed) return;
    const state = this.deps.state;
    const snap = state.snapshot;
    const ex = new Http2Exchange(stream, h[':method'] ?? '');
    // As node:http does for HTTP/1.1 (the proxy hears no 'checkExpectation'): an expectation
    // other than 100-continue is one it cannot meet.
    const expect = h.expect;
    if (expect !== undefined && expect.toLowerCase() !== '100-continue') {
      ex.statusCode = 417;
      ex.end();
      return this.count(NO_SHARD, 417, start);
    }
    // A body is whatever follows a HEADERS frame that did not end the stream (HTTP/2 has no Transfer-Encoding).
    const hasBody = !stream.endAfterHeaders;
    const it = intakeH2(h, rawHeaders, this.config.paths, this.config.limits.maxHeaderCount, this.maxHeaderListBytes);
    if (typeof it === 'string') return this.refuseH2(ex, it, start);
    const route = routeFor(snap.routes, snap.defaultRoute, it.host, it.path);
    const backend = route.backend;
    if (backend < 0) return this.refuseH2(ex, state.hasTable ? 'E_NO_ROUTE' : 'E_NO_TABLE', start);
    // Always over TLS: the route's HSTS as it is.
    const hsts = route.hsts;
    if (Number(h['content-length'] ?? 0) > this.config.limits.maxBodyBytes) return this.refuseH2(ex, 'E_BODY_TOO_LARGE', start, NO_SHARD, hsts);
    const peer = Http2Guard.peerOf(stream.session);
    const client = clientAddress(peer, h['x-forwarded-for'], this.isTrusted);
    const facts = clientFacts(state, client.ip);
    const decision = choose(facts, snap, state.live, backend, this.rng, undefined, this.scratch);
    if (decision.endpoint < 0) return this.refuseH2(ex, 'E_NO_BACKEND', start, noShardOf(snap.backends[backend]!), hsts);
    const headers = upstreamRequestHeaders(h, peer, client.peerTrusted, style, it.host);
    if (expect !== undefined) ex.writeContinue();
    this.inFlight++;
    this.retryBudget.countRequest();
    // The exchange stands in for node:http's request and response (see Http2Exchange).
    const res = ex as unknown as ServerResponse;
    const attempt = new Attempt(this, ex as unknown as IncomingMessage, res, backend, client.ip, facts, headers, it.target, hasBody, start, style, hsts);
    if (hasBody && this.config.limits.requestTimeoutMs > 0) bodyDeadline(ex, this.config.limits.requestTimeoutMs);
    attempt.send(decision, 0);
  }

  /** An HTTP/2 request the proxy answers itself: its stream ends with the answer (Node resets it with NO_ERROR if the client was still sending, RFC 9113 §8.1). */
  private refuseH2(ex: Http2Exchange, code: ProxyErrorCode, start: number, labels = NO_SHARD, hsts: string | null = null): void {
    sendProxyError(ex as unknown as ServerResponse, code, false, hsts);
    this.count(labels, PROXY_ERRORS[code].status, start);
  }

  /** @internal called by Attempt */
  finished(): void {
    this.inFlight--;
  }

  /** WebSocket and other upgrades: route and choose as for any request, then see tunnel.ts. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, style = this.forward): void {
    const start = performance.now();
    const state = this.deps.state;
    const snap = state.snapshot;
    const { metrics } = this.deps;
    // Pipelined behind an answer that closes the connection: not a request (RFC 9112 §9.6).
    if ((req.socket as ClientSocket)[kClosing]) return void socket.end();
    const refuse = (code: ProxyErrorCode, outcome: string, labels = NO_SHARD) => {
      metrics.tunnels.inc({ outcome });
      this.count(labels, PROXY_ERRORS[code].status, start);
      socket.end(rawProxyError(code));
    };
    if (this.draining) return refuse('E_DRAINING', 'refused-by-proxy');
    const it = intake(req, this.config.paths, this.config.limits.maxHeaderCount);
    if (typeof it === 'string') return refuse(it, 'refused-by-proxy');
    const route = routeFor(snap.routes, snap.defaultRoute, it.host, it.path);
    const backend = route.backend;
    if (backend < 0) return refuse(state.hasTable ? 'E_NO_ROUTE' : 'E_NO_TABLE', 'refused-by-proxy');
    const peer = normalizeIP(req.socket.remoteAddress ?? '');
    const client = clientAddress(peer, req.headers['x-forwarded-for'], this.isTrusted);
    // A WebSocket to a route that wants HTTPS gets the same answer as any plain request (ws:// → wss://).
    if (route.plainHttp !== 'serve' && !isSecure(style, client.peerTrusted, req.headers['x-forwarded-proto'])) {
      const answer = plainHttpAnswer(route, it.host, it.target, this.redirectPortSuffix);
      if (typeof answer === 'string') return refuse(answer, 'refused-by-proxy', noShardOf(snap.backends[backend]!));
      if (answer !== undefined) {
        metrics.tunnels.inc({ outcome: 'refused-by-proxy' });
        this.count(noShardOf(snap.backends[backend]!), 308, start);
        return void socket.end(rawRedirect(answer.location));
      }
    }
    if (this.tunnels.size >= this.config.limits.maxTunnels) return refuse('E_TUNNEL_LIMIT', 'limited');
    const facts = clientFacts(state, client.ip);
    const d = choose(facts, snap, state.live, backend, this.rng, undefined, newDecision());
    if (d.endpoint < 0) return refuse('E_NO_BACKEND', 'refused-by-proxy', noShardOf(snap.backends[backend]!));
    const e = snap.endpoints[d.endpoint]!;
    const shard = snap.shards[d.shard]!;
    const from = clientRegion(snap, facts.cell);
    const flags = routeFlags(d);
    this.tunnels.add(socket);
    socket.on('error', () => socket.destroy());
    state.live.countRequest(d.shard);
    state.flows.count(snap, facts.cell, shard.clusterIdx);
    openTunnel(
      socket,
      head,
      {
        host: e.address,
        port: e.port,
        method: req.method ?? 'GET',
        path: it.target,
        headers: upstreamRequestHeaders(req.headers, peer, client.peerTrusted, style, it.host, true),
        ...(this.config.upstreamBind ? { localAddress: this.config.upstreamBind } : {}),
        forward: style,
        headersTimeoutMs: this.config.limits.upstreamHeadersTimeoutMs,
        idleTimeoutMs: this.config.limits.tunnelIdleTimeoutMs,
      },
      (outcome) => {
        metrics.tunnels.inc({ outcome: outcome.kind === 'refused' ? 'refused-by-origin' : outcome.kind });
        if (outcome.kind === 'failed') {
          metrics.upstreamErrors.inc({ cluster: shard.cluster, kind: outcome.error });
          if (state.snapshot === snap && !outcome.timeout) state.upstreamFailure(d.endpoint);
          const code: ProxyErrorCode = outcome.timeout ? 'E_UPSTREAM_TIMEOUT' : outcome.error === 'ECONNREFUSED' ? 'E_NO_BACKEND' : 'E_BAD_GATEWAY';
          this.count(shard, PROXY_ERRORS[code].status, start, from, flags);
          if (socket.writable) socket.end(rawProxyError(code));
          else socket.destroy();
        } else this.count(shard, outcome.status, start, from, flags);
      },
      () => this.tunnels.delete(socket),
    );
  }
}

/**
 * Where a client is: an in-cluster client is where its cluster is (so its failover goes to the
 * nearest other cluster); anyone else where GeoIP says (cached per /24).
 */
function clientFacts(state: RoutingState, ip: string): { cell: number; sourceCluster: number } {
  const snap = state.snapshot;
  const sourceCluster = snap.clientCIDRs.get(ip) ?? -1;
  const cell = sourceCluster >= 0 && snap.clusterCell[sourceCluster]! >= 0 ? snap.clusterCell[sourceCluster]! : state.cellOf(ip);
  return { cell, sourceCluster };
}

/**
 * The client's connection to the edge is HTTPS: it came to a TLS listener, or through a trusted
 * proxy (trustedProxies) that says it took it over HTTPS — a TLS-terminating balancer in front
 * would otherwise be redirected to HTTPS forever.
 */
function isSecure(style: ForwardStyle, peerTrusted: boolean, forwardedProto: string | string[] | undefined): boolean {
  return style.proto === 'https' || (peerTrusted && forwardedProto === 'https');
}

/**
 * What the route's policy does to Strict-Transport-Security: null, nothing (no policy: the
 * origin's goes through); over HTTPS, the route's value, replacing the origin's (one header, one
 * owner: the Ingress); over plain HTTP, '' — the origin's is removed, as RFC 6797 §7.2 forbids
 * sending it there.
 */
function stsFor(route: CompiledRoute, secure: boolean): string | null {
  return route.hsts === null ? null : secure ? route.hsts : '';
}

/**
 * An HTTP/2 request body must be in within `ms`, as node:http's requestTimeout holds an HTTP/1.1
 * one to (one timer per upload; a GET has none): else 408, the upstream request abandoned, and
 * the stream closed once the answer is out.
 */
function bodyDeadline(ex: Http2Exchange, ms: number): void {
  const timer = setTimeout(() => {
    if (ex.complete) return;
    const attempt = (ex as unknown as AttemptResponse)[kAttempt];
    if (attempt && !ex.headersSent) attempt.refuse('E_CLIENT_TIMEOUT');
    // NO_ERROR: "stop sending" (RFC 9113 §8.1), sent once the response is out, never cutting it.
    const close = () => Http2Guard.ownReset(ex.stream, constants.NGHTTP2_NO_ERROR);
    if (ex.writableEnded) close();
    else ex.once('finish', close);
  }, ms);
  timer.unref();
  ex.stream.once('close', () => clearTimeout(timer));
}

const kAttempt = Symbol('meridian.attempt');
type AttemptResponse = ServerResponse & { [kAttempt]?: Attempt };

function onClientClose(this: AttemptResponse): void {
  this[kAttempt]?.clientClosed();
}

/** One request's journey to an upstream, possibly several tries on different shards. */
class Attempt implements Dispatcher.DispatchHandler, TimedTry {
  /** The current try's shard and endpoint (indices in `snap`). */
  private shard = -1;
  private endpoint = -1;
  private tries = 0;
  /** The current try's choice: spilled past the nearest region, or in panic (ROUTE_* flags). */
  private route = 0;
  /** When the current try was sent upstream (performance.now ms): the time before it is the proxy's. */
  private tryStartMs = 0;
  /** Endpoints this request went to (in the current table's numbers), once it has been retried. */
  private tried: number[] | undefined;
  /** The current try's response headers have come (and, unless it is retried, gone out). */
  responseStarted = false;
  progress = 0;
  readonly sweep = newSweepSlot();
  /** Response body bytes still to come by its Content-Length; -1 when it has none. */
  private bodyLeft = -1;
  /** The final response's status and headers, until they are written (see flushHead). */
  private headStatus = 0;
  private head: Record<string, string | string[]> | null = null;
  private controller: Dispatcher.DispatchController | undefined;
  /**
   * The table and live state the current try was chosen from: the table can be replaced while a
   * try is out, and its indices (endpoint, shard) only mean something in their own table.
   */
  private snap!: RoutingSnapshot;
  private live!: LiveState;

  /** The request body, streamed to the upstream as it comes (never buffered), or null. */
  private readonly body: AsyncIterable<Buffer> | null;
  /** The pool the current try went to: a try still waiting for a connection is taken back from it. */
  private pool: UpstreamPool | undefined;
  /** Given up before it started (see abandon): aborted as soon as it does. */
  private abandoned: Error | null = null;

  constructor(
    private readonly proxy: ProxyServer,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private backend: number,
    private readonly clientIP: string,
    private facts: { cell: number; sourceCluster: number },
    /** For the upstream, as upstreamRequestHeaders lists them. */
    private readonly headers: string[],
    /** The normalised path and query the origin gets. */
    private readonly target: string,
    hasBody: boolean,
    private readonly startMs: number,
    /** The listener's forwarding (X-Forwarded-Proto, Via) for this request's protocol. */
    private readonly style: ForwardStyle,
    /** The route's Strict-Transport-Security for this request (stsFor): null leaves the origin's, '' removes it. */
    private readonly hsts: string | null = null,
  ) {
    // Node's parser holds a Content-Length body to its declared size; a chunked one is counted.
    // Each chunk sent upstream is a sign of life: the response-headers deadline runs from the end
    // of the upload, not from its start (a slow, steady upload is not a silent origin).
    this.body = hasBody ? limitedBody(req, proxy.config.limits.maxBodyBytes, () => void this.progress++) : null;
    // One shared listener instead of a closure per request: it finds its attempt on the response.
    (res as AttemptResponse)[kAttempt] = this;
    res.on('close', onClientClose);
  }

  get clientPaused(): boolean {
    return this.res.writableNeedDrain;
  }

  timedOut(phase: Phase): void {
    if (phase === 'queue') this.abandon(new QueueTimeoutError());
    else if (phase === 'client') this.controller?.abort(Object.assign(new Error('the client read nothing for too long'), { code: 'E_CLIENT_WRITE_TIMEOUT' }));
    else this.controller?.abort(phase === 'headers' ? new errors.HeadersTimeoutError() : new errors.BodyTimeoutError());
  }

  /** The whole request (its body included) has been received. */
  get requestComplete(): boolean {
    return this.req.complete;
  }

  /** The request turned out malformed (its body did not parse): answer `code` and abandon the upstream request. */
  refuse(code: ProxyErrorCode): void {
    sendProxyError(this.res, code, true, this.hsts);
    this.abandon(Object.assign(new Error('the request body did not parse'), { code: 'UND_ERR_ABORTED' }));
  }

  /** The client's connection closed: a response still being streamed has nobody to go to. */
  clientClosed(): void {
    if (!this.res.writableFinished) this.abandon(new errors.RequestAbortedError());
  }

  /**
   * Gives the current try up with `err`: aborted if it is out, taken back from the pool's queue if
   * it waits for a connection, and otherwise (handed to a connection that is still connecting)
   * aborted the moment it starts.
   */
  private abandon(err: Error): void {
    if (this.controller) this.controller.abort(err);
    else if (!this.pool?.cancel(this, err)) this.abandoned = err;
  }

  send(decision: Decision, tries: number): void {
    const { state } = this.proxy.deps;
    this.shard = decision.shard;
    this.endpoint = decision.endpoint;
    this.tries = tries;
    this.progress = 0;
    this.proxy.deadlines.add(this);
    this.snap = state.snapshot;
    this.live = state.live;
    this.route = routeFlags(decision);
    this.tryStartMs = performance.now();
    this.live.endpointOutstanding[decision.endpoint]!++;
    this.live.countRequest(decision.shard);
    const pool = (this.pool = state.endpointPools[decision.endpoint]!);
    this.controller = undefined;
    pool.dispatch(
      {
        path: this.target,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers,
        // undici streams any AsyncIterable body (its typings list only Readable).
        body: this.body as Dispatcher.DispatchOptions['body'],
        upgrade: null,
      },
      this,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.progress++;
    if (this.abandoned) controller.abort(this.abandoned);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.controller = controller;
    this.progress++;
    if (statusCode < 200) return; // 1xx informational: wait for the final response
    this.responseStarted = true;
    const { state } = this.proxy.deps;
    const cfg = this.proxy.config;
    const snap = this.snap;
    const shard = snap.shards[this.shard]!;
    const out = downstreamResponseHeaders(headers, this.style);
    if (this.hsts !== null) {
      if (this.hsts === '') delete out['strict-transport-security'];
      else out['strict-transport-security'] = this.hsts;
    }
    if (cfg.debugHeader) out['x-served-by'] = `${shard.cluster}/${snap.endpoints[this.endpoint]!.address}:${snap.endpoints[this.endpoint]!.port}`;
    if (this.proxy.isDraining) this.res.shouldKeepAlive = false;
    if (statusCode === 502 || statusCode === 503 || statusCode === 504) this.upstreamFailed();
    else if (state.snapshot === this.snap) state.outlier.success(this.endpoint);
    const length = headers['content-length'];
    this.bodyLeft = typeof length === 'string' ? Number(length) : -1; // a HEAD answer has it but no bytes: ends on onResponseEnd
    // Written with the first body byte (or the end): an answer that fails before then (a bad
    // chunk size, a body on a 204) can still become a 502 instead of a bare close.
    this.headStatus = statusCode;
    this.head = out;
  }

  private flushHead(): void {
    if (this.head === null) return;
    this.res.writeHead(this.headStatus, this.head);
    this.head = null;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.progress++;
    this.flushHead();
    if (this.bodyLeft >= 0 && (this.bodyLeft -= chunk.length) === 0) {
      // The body's last byte by its Content-Length: end() sends headers and body in one write
      // now, where write() + end() would cork, wait a tick and write an empty chunk as well.
      this.res.end(chunk);
      return;
    }
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.proxy.deadlines.remove(this);
    this.flushHead();
    if (!this.res.writableEnded) this.res.end();
    this.done(this.res.statusCode);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    const { state, metrics } = this.proxy.deps;
    const shard = this.snap.shards[this.shard]!;
    this.proxy.deadlines.remove(this);
    this.live.endpointOutstanding[this.endpoint]!--;
    const kind = err.code ?? err.name;
    // The client left (or stopped its upload): nobody to answer, and not the endpoint's doing.
    if (this.res.destroyed || this.req.readableAborted) {
      this.finish(this.res.headersSent ? this.res.statusCode : CLIENT_CLOSED, shard);
      return;
    }
    if (this.res.writableEnded && this.responseStarted) {
      this.finish(this.res.statusCode, shard);
      return;
    }
    if (kind === 'E_CLIENT_WRITE_TIMEOUT') {
      // A reader that read nothing for too long: the response is cut, the connection freed.
      this.res.destroy(err);
      this.finish(this.res.statusCode, shard);
      return;
    }
    if (NOT_THE_ENDPOINTS_FAULT.has(kind) && kind !== 'E_QUEUE_TIMEOUT') {
      // The request's own fault: no outlier strike, no retry; a body left unread closes the
      // connection after the answer (already given, when the request was refused as it came).
      if (!this.res.headersSent) sendProxyError(this.res, kind === 'E_BODY_TOO_LARGE' ? 'E_BODY_TOO_LARGE' : 'E_BAD_REQUEST', true, this.hsts);
      else if (!this.res.writableEnded) this.res.destroy(err);
      this.finish(this.res.statusCode, shard);
      return;
    }
    const cfg = this.proxy.config;
    if (kind !== 'E_QUEUE_TIMEOUT') {
      metrics.upstreamErrors.inc({ cluster: shard.cluster, kind });
      this.upstreamFailed();
    }
    // Nothing listens there (or nothing answers the connect): have the probes look now rather
    // than at their next round, so the endpoint's death is known — and voted on — in a fraction
    // of a second, not after two probe intervals.
    if (kind !== 'UND_ERR_CLOSED' && NOT_DELIVERED.has(kind) && state.snapshot === this.snap) state.onConnectFailure?.(this.endpoint);
    if (this.res.headersSent) {
      // Headers are out: the only honest thing left is to cut the response.
      this.res.destroy(err);
      this.finish(this.res.statusCode, shard);
      return;
    }
    this.head = null; // an answer that failed before its first byte went out: it is a 502 now
    // A streamed request body cannot be replayed, so only bodiless requests are retried. A request
    // that never arrived anywhere is retried whatever its method, and outside the retry budget:
    // the budget guards backends against retry storms, and such a retry adds no load to any.
    const notDelivered = NOT_DELIVERED.has(kind) || kind === 'E_QUEUE_TIMEOUT';
    const retryable = !this.responseStarted && (notDelivered || (MAYBE_DELIVERED.has(kind) && IDEMPOTENT_METHODS.has(this.req.method ?? '')));
    // A connect that failed costs the endpoint nothing and the client little (refused at once): such
    // a request may go on to the next shard until one answers — when a whole region dies, its
    // three clusters are all tried before the next region, and the client still gets its answer.
    // A connect timeout costs its full time, so those stop once the request has waited twice that.
    const limit = notDelivered && performance.now() - this.startMs < 2 * cfg.limits.upstreamConnectTimeoutMs ? cfg.retry.connectAttempts : cfg.retry.attempts;
    if (retryable && this.body === null && this.tries < limit) {
      const snap = state.snapshot;
      if (snap !== this.snap) {
        // The table was replaced while this try was out: find the backend and the client's place
        // again in the new one; what was tried is in the old table's numbers, so it is forgotten.
        this.backend = snap.backendByName.get(this.snap.backends[this.backend]!.name) ?? -1;
        this.facts = clientFacts(state, this.clientIP);
        this.tried = [];
      }
      // Never a shard or an endpoint this request has already tried (DESIGN §3: a retry goes
      // somewhere new) — when a whole region dies, the second try must not land in it again.
      const tried = (this.tried ??= [this.endpoint]);
      const exclude = { shards: tried.map((e) => snap.endpoints[e]!.shard), endpoint: tried.at(-1) ?? -1 };
      const next = this.backend < 0 ? newDecision() : choose(this.facts, snap, state.live, this.backend, this.proxy.rng, exclude, newDecision());
      if (next.endpoint >= 0 && !tried.includes(next.endpoint) && (notDelivered || this.proxy.retryBudget.tryRetry())) {
        tried.push(next.endpoint);
        metrics.retries.inc();
        this.send(next, this.tries + 1);
        return;
      }
    }
    // Nobody could even be connected to: that is "no backend answers" (503, retry later).
    const code: ProxyErrorCode =
      kind === 'UND_ERR_HEADERS_TIMEOUT' || kind === 'UND_ERR_BODY_TIMEOUT'
        ? 'E_UPSTREAM_TIMEOUT'
        : kind === 'ECONNREFUSED' || kind === 'UND_ERR_CONNECT_TIMEOUT'
          ? 'E_NO_BACKEND'
          : kind === 'E_QUEUE_TIMEOUT'
            ? 'E_QUEUE_TIMEOUT'
            : 'E_BAD_GATEWAY';
    if (!this.res.headersSent) sendProxyError(this.res, code, this.proxy.isDraining, this.hsts);
    else this.res.destroy(err);
    this.finish(this.res.statusCode, shard);
  }

  private upstreamFailed(): void {
    const { state, metrics } = this.proxy.deps;
    // Passive health is kept per table: a try from a replaced table has no say in the new one.
    if (state.snapshot !== this.snap) return;
    if (state.upstreamFailure(this.endpoint)) metrics.ejections.inc({ cluster: this.snap.shards[this.shard]!.cluster });
  }

  private done(status: number): void {
    this.live.endpointOutstanding[this.endpoint]!--;
    this.finish(status, this.snap.shards[this.shard]!);
  }

  private finish(status: number, shard: { backendName: string; cluster: string; region: string }): void {
    const seconds = (performance.now() - this.startMs) / 1000;
    const added = (this.tryStartMs - this.startMs) / 1000;
    this.proxy.deps.metrics.requestDone(shard, shard.backendName, shard.cluster, shard.region, status, seconds, clientRegion(this.snap, this.facts.cell), this.route, added);
    // Where the client is × the cluster that answered it (after any retries): the status page's flows.
    this.proxy.deps.state.flows.count(this.snap, this.facts.cell, this.snap.shards[this.shard]!.clusterIdx);
    this.proxy.finished();
  }
}
