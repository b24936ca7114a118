import { constants, Http2ServerResponse, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Logger } from '../common/log.js';
import type { Http2Abuse, TlsMetrics } from './tls/metrics.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_ENHANCE_YOUR_CALM } = constants;
/** nghttp2's "flooding was detected" (frames to answer queued faster than the peer reads them). */
const NGHTTP2_ERR_FLOODED = -904;

const kOwnReset = Symbol('meridian.ownReset');
type Stream = ServerHttp2Stream & { [kOwnReset]?: boolean };

/**
 * Node's HTTP/2 compatibility response, with what the HTTP/1.1 path reads from a ServerResponse
 * and the compat class leaves out, so one request path serves both: whether the client is behind
 * on reading (for the downstream write timeout), whether it is gone, and a `shouldKeepAlive` that
 * means nothing here (an HTTP/2 connection is closed with GOAWAY, not per response). A response
 * the proxy destroys (cut mid-body) marks its stream, so the reset is not counted as the client's.
 */
export class ProxyHttp2Response extends Http2ServerResponse {
  shouldKeepAlive = true;

  override destroy(err?: Error): this {
    (this.stream as Stream)[kOwnReset] = true;
    super.destroy(err);
    return this;
  }
}
// Node 20's compat response lacks the first two (its typings list them): read from the stream.
// The third as node:http means it — the proxy ended the response and it went out: the compat
// one reads the stream's, which a client's RST_STREAM finishes too, and a response its client
// abandoned must not look delivered (its upstream request would never be let go).
Object.defineProperties(ProxyHttp2Response.prototype, {
  writableFinished: {
    get(this: ProxyHttp2Response) {
      return this.writableEnded && this.stream.writableFinished;
    },
  },
  writableNeedDrain: {
    get(this: ProxyHttp2Response) {
      return this.stream.writableNeedDrain;
    },
  },
  destroyed: {
    get(this: ProxyHttp2Response) {
      return this.stream.destroyed;
    },
  },
});

export interface Http2Limits {
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

/** One connection's counts in the current window. */
class SessionGuard {
  constructor(
    readonly peer: string | undefined,
    /** The connection under the session (its socket proxy refuses destroy()). */
    readonly socket: Duplex | undefined,
  ) {}
  windowStart = 0;
  resets = 0;
  pings = 0;
  settings = 0;
}

/**
 * Per HTTP/2 connection, the abuse nghttp2 and Node do not bound on their own, closed with GOAWAY
 * (ENHANCE_YOUR_CALM) and counted:
 *
 * - rapid reset (CVE-2023-44487): a client opening streams and resetting them at once is never
 *   held back by SETTINGS_MAX_CONCURRENT_STREAMS (a reset stream no longer counts) while each one
 *   costs the proxy a routed request and an upstream dispatch. Streams the client resets before
 *   their response is complete are counted per window; over the limit, the connection is closed.
 *   (nghttp2's own reset limit, 1,000 at once then 33/s, stays beneath as a backstop.)
 * - PING and SETTINGS floods: each needs an ACK. nghttp2 stops a peer that does not read its
 *   ACKs (ERR_FLOODED, counted as `flood`); one that reads them is counted here.
 *
 * Fixed windows: one comparison and one addition per event, no timers.
 */
export class Http2Guard {
  readonly sessions = new Set<Http2Session>();
  /** Log lines for closed connections, per kind per window: under attack the log must not become the next resource exhausted. */
  private readonly logged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly limits: Http2Limits,
    private readonly metrics: TlsMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A new connection (on `socket`): tracked, idle-closed after `idleTimeoutMs` without frames, and watched for floods. */
  session(session: Http2Session, idleTimeoutMs: number, socket?: Duplex): void {
    (session as GuardedSession)[kGuard] = new SessionGuard(session.socket.remoteAddress, socket);
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    // Graceful: GOAWAY, streams still open finish. Node's default would destroy it.
    session.setTimeout(idleTimeoutMs, () => session.close());
    session.on('ping', () => this.count(session, 'ping-flood'));
    session.on('remoteSettings', () => this.count(session, 'settings-flood'));
    session.on('stream', (stream: ServerHttp2Stream) => this.stream(session, stream));
  }

  /**
   * A new stream: was it reset by the client before its response was complete? Node announces a
   * stream a tick after its HEADERS, so one reset in the same read (the attack) is closed already.
   */
  private stream(session: Http2Session, stream: ServerHttp2Stream): void {
    if (stream.destroyed || stream.closed) return this.ended(session, stream);
    stream.once('close', () => this.ended(session, stream));
  }

  private ended(session: Http2Session, stream: ServerHttp2Stream): void {
    if (stream.rstCode !== NGHTTP2_NO_ERROR && stream.rstCode !== undefined && !(stream as Stream)[kOwnReset]) this.count(session, 'rapid-reset');
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
    if (!g || session.destroyed) return;
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
    if (!g) return; // counted once per connection
    delete (session as GuardedSession)[kGuard];
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
