import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errors, type Dispatcher } from 'undici';
import type { Logger } from '../common/log.js';
import { choose, newDecision, type Decision } from '../routing/choose.js';
import type { CidrMap } from '../routing/cidr.js';
import { normalizeIP } from '../routing/cidr.js';
import { matchRoute } from '../routing/match.js';
import type { ProxyConfig } from './config.js';
import { BodyTooLargeError, limitedBody } from './body-limit.js';
import { ERROR_HEADER, sendProxyError, type ProxyErrorCode } from './errors.js';
import { RetryBudget } from './retry-budget.js';
import { clientAddress, downstreamResponseHeaders, forwardStyle, upstreamRequestHeaders, type ForwardStyle } from './headers.js';
import type { ProxyMetrics } from './metrics.js';
import type { LiveState } from '../routing/live.js';
import type { RoutingSnapshot } from '../routing/snapshot.js';
import type { RoutingState } from './routing-state.js';
import { newSweepSlot, UpstreamDeadlines, type TimedTry } from './upstream-deadlines.js';

/** Failures where the request never reached a backend: any method may go to another shard. */
const NOT_DELIVERED = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CLOSED']);
/** Failures before the response where the backend may have seen the request: idempotent methods only. */
const MAYBE_DELIVERED = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT']);
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export interface ProxyServerDeps {
  state: RoutingState;
  trusted: CidrMap<true>;
  metrics: ProxyMetrics;
  logger: Logger;
  rng?: () => number;
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
  /** @internal read by Attempt */
  readonly forward: ForwardStyle;
  private readonly isTrusted = (ip: string): boolean => this.deps.trusted.has(ip);

  constructor(
    /** @internal read by Attempt */
    readonly config: ProxyConfig,
    /** @internal read by Attempt */
    readonly deps: ProxyServerDeps,
  ) {
    this.rng = deps.rng ?? Math.random;
    this.forward = forwardStyle('http', config.via);
    this.retryBudget = new RetryBudget(config.retry.budgetRatio, config.retry.budgetMinPerSecond);
    this.deadlines = new UpstreamDeadlines(config.limits.upstreamHeadersTimeoutMs, config.limits.upstreamBodyTimeoutMs);
    deps.metrics.inFlightSource = () => this.inFlight;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async listen(): Promise<AddressInfo[]> {
    const addresses: AddressInfo[] = [];
    this.budgetTicker ??= setInterval(() => this.retryBudget.tick(), 1000).unref();
    this.deadlineTicker ??= setInterval(() => this.deadlines.sweep(performance.now()), this.deadlines.intervalMs).unref();
    for (const l of this.config.listen) {
      const server = createServer(
        {
          maxHeaderSize: this.config.limits.maxHeaderBytes,
          headersTimeout: this.config.limits.headersTimeoutMs,
          requestTimeout: this.config.limits.requestTimeoutMs,
          keepAliveTimeout: this.config.limits.keepAliveTimeoutMs,
          insecureHTTPParser: false,
          // Duplicate Content-Length and CL+TE are parse errors in Node's strict parser.
        },
        (req, res) => this.handle(req, res),
      );
      server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
        if (!socket.writable) return socket.destroy();
        const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
        const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
        const status = timeout ? '408 Request Timeout' : tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
        const code = timeout ? 'E_CLIENT_TIMEOUT' : tooLarge ? 'E_HEADERS_TOO_LARGE' : 'E_BAD_REQUEST';
        const body = `${status} (${code})\n`;
        socket.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n${ERROR_HEADER}: ${code}\r\nconnection: close\r\n\r\n${body}`);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
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
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const s of this.servers) s.closeIdleConnections();
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      for (const s of this.servers) s.closeIdleConnections();
    }
    for (const s of this.servers) s.closeAllConnections();
    for (const t of this.tunnels) t.destroy();
    await closed;
    clearInterval(this.deadlineTicker);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const state = this.deps.state;
    const snap = state.snapshot;
    if (this.draining) res.shouldKeepAlive = false;
    const backend = matchRoute(snap.routes, snap.defaultBackend, req.headers.host, req.url ?? '/');
    if (backend < 0) return sendProxyError(res, state.hasTable ? 'E_NO_ROUTE' : 'E_NO_TABLE', this.draining);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.config.limits.maxBodyBytes) {
      res.shouldKeepAlive = false;
      return sendProxyError(res, 'E_BODY_TOO_LARGE', true);
    }
    const peer = normalizeIP(req.socket.remoteAddress ?? '');
    const client = clientAddress(peer, req.headers['x-forwarded-for'], this.isTrusted);
    const facts = clientFacts(state, client.ip);
    const decision = choose(facts, snap, state.live, backend, this.rng, undefined, this.scratch);
    if (decision.endpoint < 0) return sendProxyError(res, 'E_NO_BACKEND', this.draining);
    // Node's parser holds a Content-Length body to its declared size; a chunked one is counted.
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const body = chunked ? limitedBody(req, this.config.limits.maxBodyBytes) : declared > 0 ? req : null;
    const headers = upstreamRequestHeaders(req.headers, peer, client.peerTrusted, this.forward);
    this.inFlight++;
    this.retryBudget.countRequest();
    const attempt = new Attempt(this, req, res, backend, client.ip, facts, headers, body, performance.now());
    attempt.send(decision, 0);
  }

  /** @internal called by Attempt */
  finished(): void {
    this.inFlight--;
  }

  /** WebSocket and other upgrades: choose a shard, open a TCP tunnel, replay the request. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const state = this.deps.state;
    const snap = state.snapshot;
    const fail = (code: ProxyErrorCode) => {
      const status = code === 'E_NO_ROUTE' ? '404 Not Found' : code === 'E_NO_BACKEND' || code === 'E_NO_TABLE' ? '503 Service Unavailable' : '502 Bad Gateway';
      socket.end(`HTTP/1.1 ${status}\r\n${ERROR_HEADER}: ${code}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    };
    const backend = matchRoute(snap.routes, snap.defaultBackend, req.headers.host, req.url ?? '/');
    if (backend < 0) return fail(state.hasTable ? 'E_NO_ROUTE' : 'E_NO_TABLE');
    const peer = normalizeIP(req.socket.remoteAddress ?? '');
    const client = clientAddress(peer, req.headers['x-forwarded-for'], this.isTrusted);
    const d = choose(clientFacts(state, client.ip), snap, state.live, backend, this.rng, undefined, newDecision());
    if (d.endpoint < 0) return fail('E_NO_BACKEND');
    if (this.draining) return fail('E_NO_BACKEND');
    this.tunnels.add(socket);
    socket.once('close', () => this.tunnels.delete(socket));
    const e = snap.endpoints[d.endpoint]!;
    const headers = upstreamRequestHeaders(req.headers, peer, client.peerTrusted, this.forward, true);
    const upstream: Socket = connect({ host: e.address, port: e.port });
    upstream.setNoDelay(true);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => {
      if (!upstream.readable || upstream.bytesRead === 0) fail('E_BAD_GATEWAY');
      socket.destroy();
    });
    upstream.on('connect', () => {
      let head1 = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) head1 += `${k}: ${one}\r\n`;
      upstream.write(`${head1}\r\n`);
      if (head.length) upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
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
  /** Endpoints this request went to (in the current table's numbers), once it has been retried. */
  private tried: number[] | undefined;
  /** The current try's response headers have come (and, unless it is retried, gone out). */
  responseStarted = false;
  progress = 0;
  readonly sweep = newSweepSlot();
  /** Response body bytes still to come by its Content-Length; -1 when it has none. */
  private bodyLeft = -1;
  private controller: Dispatcher.DispatchController | undefined;
  /**
   * The table and live state the current try was chosen from: the table can be replaced while a
   * try is out, and its indices (endpoint, shard) only mean something in their own table.
   */
  private snap!: RoutingSnapshot;
  private live!: LiveState;

  constructor(
    private readonly proxy: ProxyServer,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private backend: number,
    private readonly clientIP: string,
    private facts: { cell: number; sourceCluster: number },
    private readonly headers: Record<string, string | string[]>,
    private readonly body: IncomingMessage | AsyncIterable<Buffer> | null,
    private readonly startMs: number,
  ) {
    // One shared listener instead of a closure per request: it finds its attempt on the response.
    (res as AttemptResponse)[kAttempt] = this;
    res.on('close', onClientClose);
  }

  get clientPaused(): boolean {
    return this.res.writableNeedDrain;
  }

  timedOut(phase: 'headers' | 'body'): void {
    this.controller?.abort(phase === 'headers' ? new errors.HeadersTimeoutError() : new errors.BodyTimeoutError());
  }

  /** The client's connection closed: a response still being streamed has nobody to go to. */
  clientClosed(): void {
    if (!this.res.writableFinished) this.controller?.abort(new Error('client went away'));
  }

  send(decision: Decision, tries: number): void {
    const { state, metrics } = this.proxy.deps;
    this.shard = decision.shard;
    this.endpoint = decision.endpoint;
    this.tries = tries;
    this.progress = 0;
    this.proxy.deadlines.add(this);
    this.snap = state.snapshot;
    this.live = state.live;
    if (decision.panic) metrics.panics.inc();
    if (decision.spilled) metrics.spillovers.inc();
    this.live.endpointOutstanding[decision.endpoint]!++;
    this.live.countRequest(decision.shard);
    const pool = state.endpointPools[decision.endpoint]!;
    pool.dispatch(
      {
        path: this.req.url ?? '/',
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
    const out = downstreamResponseHeaders(headers, this.proxy.forward);
    if (cfg.debugHeader) out['x-served-by'] = `${shard.cluster}/${snap.endpoints[this.endpoint]!.address}:${snap.endpoints[this.endpoint]!.port}`;
    if (this.proxy.isDraining) this.res.shouldKeepAlive = false;
    if (statusCode === 502 || statusCode === 503 || statusCode === 504) this.upstreamFailed();
    else if (state.snapshot === this.snap) state.outlier.success(this.endpoint);
    const length = headers['content-length'];
    this.bodyLeft = typeof length === 'string' ? Number(length) : -1; // a HEAD answer has it but no bytes: ends on onResponseEnd
    this.res.writeHead(statusCode, out);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.progress++;
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
    if (!this.res.writableEnded) this.res.end();
    this.done(this.res.statusCode);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    const { state, metrics } = this.proxy.deps;
    const cfg = this.proxy.config;
    const shard = this.snap.shards[this.shard]!;
    this.proxy.deadlines.remove(this);
    this.live.endpointOutstanding[this.endpoint]!--;
    if (this.res.destroyed || (this.res.writableEnded && this.responseStarted)) {
      this.finish(this.res.statusCode || 499, shard);
      return;
    }
    if (err instanceof BodyTooLargeError) {
      // The client's fault, not the backend's: no outlier strike, no retry; the rest of the body
      // is never read, so the connection closes after the answer.
      if (!this.responseStarted) sendProxyError(this.res, 'E_BODY_TOO_LARGE', true);
      else this.res.destroy(err);
      this.finish(this.res.statusCode, shard);
      return;
    }
    const kind = err.code ?? err.name;
    metrics.upstreamErrors.inc({ cluster: shard.cluster, kind });
    this.upstreamFailed();
    // Nothing listens there (or nothing answers the connect): have the probes look now rather
    // than at their next round, so the endpoint's death is known — and voted on — in a fraction
    // of a second, not after two probe intervals.
    if (kind !== 'UND_ERR_CLOSED' && NOT_DELIVERED.has(kind) && state.snapshot === this.snap) state.onConnectFailure?.(this.endpoint);
    if (this.responseStarted) {
      // Headers are out: the only honest thing left is to cut the response.
      this.res.destroy(err);
      this.finish(this.res.statusCode, shard);
      return;
    }
    // A streamed request body cannot be replayed, so only bodiless requests are retried. A request
    // that never arrived anywhere is retried whatever its method, and outside the retry budget:
    // the budget guards backends against retry storms, and such a retry adds no load to any.
    const notDelivered = NOT_DELIVERED.has(kind);
    const retryable = notDelivered || (MAYBE_DELIVERED.has(kind) && IDEMPOTENT_METHODS.has(this.req.method ?? ''));
    if (retryable && this.body === null && this.tries < cfg.retry.attempts) {
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
      kind === 'UND_ERR_HEADERS_TIMEOUT' || kind === 'UND_ERR_BODY_TIMEOUT' ? 'E_UPSTREAM_TIMEOUT' : kind === 'ECONNREFUSED' || kind === 'UND_ERR_CONNECT_TIMEOUT' ? 'E_NO_BACKEND' : 'E_BAD_GATEWAY';
    sendProxyError(this.res, code, this.proxy.isDraining);
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
    this.proxy.deps.metrics.requestDone(shard, shard.backendName, shard.cluster, shard.region, status, seconds);
    this.proxy.finished();
  }
}
