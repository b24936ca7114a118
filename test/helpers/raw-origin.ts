/**
 * A raw TCP origin for adversarial proxy tests. It records, per accepted connection, every byte it
 * receives and reads them strictly as HTTP/1.1 requests (test/helpers/raw-http.ts), so a test can
 * say "the origin saw exactly one request" or "these bytes never reached the origin"; and it
 * answers each request by script — a normal 200, or raw bytes given by the test (hostile
 * responses), with pauses, partial writes, a close mid-body or no answer at all.
 *
 * Bytes it cannot read as a request are recorded as an error on their connection (a conforming
 * proxy never sends any), answered 400, and the connection closed, as a strict server would.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { parseMessages, type HttpMessage, type Parsed } from './raw-http.js';

/** One piece of a raw answer: bytes, a pause, or `n` bytes of filler written with backpressure. */
export type Step = Buffer | string | { waitMs: number } | { stream: number; chunk?: number };

/** What the connection does after the answer: stay open (default), FIN, RST, or neither and stop reading. */
export type After = 'keep' | 'end' | 'reset' | 'hang';

export type Reply =
  | { status?: number; reason?: string; headers?: Record<string, string | number>; body?: string | Buffer; then?: After }
  | { raw: Step[]; then?: After }
  | { hang: true }
  | { close: true }
  | { reset: true };

export type Script = (req: HttpMessage, conn: OriginConnection) => Reply | undefined;

export interface OriginConnection {
  id: number;
  /** Everything received on it, in order. */
  readonly bytes: Buffer;
  /** Requests read from it, strictly, in order. */
  requests: HttpMessage[];
  /** Why its bytes stopped being requests, when they did. */
  error?: string;
  /** A request whose head has come and whose body has not (yet). */
  partial?: Parsed['partial'];
  /** Its first request was a health probe: left out of every count. */
  probe: boolean;
  /** Bytes of answers flushed to the kernel (a reader that never reads stalls this). */
  written: number;
  closed: boolean;
  /** The peer half-closed (FIN). */
  peerEnded: boolean;
  socket: Socket;
}

interface Event {
  seq: number;
  conn: OriginConnection;
  request?: HttpMessage;
  error?: string;
  data?: Buffer;
}

/** A request the origin read, with its place in the origin's history. */
export interface SeenRequest {
  seq: number;
  conn: number;
  message: HttpMessage;
}

const text = (b: Buffer | string) => (typeof b === 'string' ? Buffer.from(b, 'latin1') : b);

/** The default answer: 200, keep-alive, a body naming the request. */
export function okReply(req: HttpMessage): Reply {
  return { status: 200, headers: { 'content-type': 'text/plain', 'x-origin-target': req.target ?? '' }, body: `ok ${req.method} ${req.target}` };
}

export class RawOrigin {
  readonly connections: OriginConnection[] = [];
  private readonly events: Event[] = [];
  private seqNo = 0;
  private waiters: Array<() => void> = [];
  private lastDataAt = performance.now();

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
    /** Requests for this path are the proxy's health probes: answered 200, never counted. */
    readonly probePath: string,
    public script: Script,
  ) {}

  static async start(opts: { host?: string; probePath?: string; script?: Script } = {}): Promise<RawOrigin> {
    const host = opts.host ?? '127.0.0.1';
    const server = createServer({ allowHalfOpen: true });
    await new Promise<void>((r) => server.listen(0, host, () => r()));
    const origin = new RawOrigin(server, host, (server.address() as AddressInfo).port, opts.probePath ?? '/__probe', opts.script ?? okReply);
    server.on('connection', (s) => origin.accept(s));
    return origin;
  }

  /** The routing-table endpoint for this origin. */
  get endpoint(): { address: string; port: number } {
    return { address: this.host, port: this.port };
  }

  /** A mark in the origin's history: pass it to requests()/received()/errors() to see only what came after. */
  mark(): number {
    return this.seqNo;
  }

  private record(e: Omit<Event, 'seq'>): void {
    this.events.push({ seq: ++this.seqNo, ...e });
    this.wake();
  }

  /** Re-runs the checks of until(): on every event and on every write the kernel takes. */
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Requests read since `mark` (health probes left out). */
  requests(mark = 0): SeenRequest[] {
    return this.events.filter((e) => e.seq > mark && e.request && !e.conn.probe).map((e) => ({ seq: e.seq, conn: e.conn.id, message: e.request! }));
  }

  /** Bytes that could not be read as requests, since `mark`. */
  errors(mark = 0): Array<{ conn: number; error: string; bytes: Buffer }> {
    return this.events.filter((e) => e.seq > mark && e.error !== undefined && !e.conn.probe).map((e) => ({ conn: e.conn.id, error: e.error!, bytes: e.conn.bytes }));
  }

  /** Everything received since `mark`, per connection (health probes left out). */
  received(mark = 0): Buffer[] {
    const by = new Map<number, Buffer[]>();
    for (const e of this.events) if (e.seq > mark && e.data && !e.conn.probe) by.set(e.conn.id, [...(by.get(e.conn.id) ?? []), e.data]);
    return [...by.values()].map((parts) => Buffer.concat(parts));
  }

  /** Connections (not probes) that were open or opened since `mark` and hold a request still arriving. */
  partials(mark = 0): NonNullable<Parsed['partial']>[] {
    const touched = new Set(this.events.filter((e) => e.seq > mark && !e.conn.probe).map((e) => e.conn));
    return [...touched].filter((c) => c.partial).map((c) => c.partial!);
  }

  /** Resolves once `check` holds (re-checked on every event and write), or with undefined at the deadline. */
  until<T>(check: () => T | undefined | false, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const first = check();
      if (first) return resolve(first);
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== poll);
        resolve(undefined);
      }, timeoutMs);
      const poll = () => {
        const v = check();
        if (v) {
          clearTimeout(timer);
          resolve(v);
        } else this.waiters.push(poll);
      };
      this.waiters.push(poll);
    });
  }

  /** Waits until `n` requests have been read since `mark`; returns them (fewer at the deadline). */
  async waitForRequests(n: number, mark: number, timeoutMs = 5000): Promise<SeenRequest[]> {
    await this.until(() => this.requests(mark).length >= n, timeoutMs);
    return this.requests(mark);
  }

  /**
   * Resolves once no byte has arrived for `quietMs` (at most `timeoutMs`): the end of whatever a
   * proxy was still sending, before a test counts what reached the origin.
   */
  async quiet(quietMs: number, timeoutMs = 5000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const left = quietMs - (performance.now() - this.lastDataAt);
      if (left <= 0 || performance.now() >= deadline) return;
      await new Promise((r) => setTimeout(r, Math.min(left, deadline - performance.now())));
    }
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    let consumed = 0;
    const conn: OriginConnection = {
      id: this.connections.length + 1,
      get bytes() {
        if (chunks.length > 1) chunks.splice(0, chunks.length, Buffer.concat(chunks));
        return chunks[0] ?? Buffer.alloc(0);
      },
      requests: [],
      probe: false,
      written: 0,
      closed: false,
      peerEnded: false,
      socket,
    };
    this.connections.push(conn);
    let queue = Promise.resolve();
    let stopped = false;
    socket.on('data', (d: Buffer) => {
      if (stopped) return;
      chunks.push(d);
      this.lastDataAt = performance.now();
      const all = conn.bytes;
      const parsed = parseMessages('request', all.subarray(consumed), { closed: false });
      for (const m of parsed.messages) {
        if (conn.requests.length === 0 && m.target === this.probePath) conn.probe = true;
        conn.requests.push(m);
      }
      consumed += all.length - consumed - parsed.rest.length;
      conn.partial = parsed.partial;
      this.record({ conn, data: d });
      for (const m of parsed.messages) {
        this.record({ conn, request: m });
        queue = queue.then(() => this.answer(conn, m));
      }
      if (parsed.error) {
        stopped = true;
        conn.error = parsed.error;
        this.record({ conn, error: parsed.error });
        queue = queue.then(() => this.answer(conn, null));
      }
    });
    socket.on('end', () => {
      conn.peerEnded = true;
      queue = queue.then(() => void socket.end());
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      conn.closed = true;
      this.record({ conn });
    });
  }

  private async answer(conn: OriginConnection, req: HttpMessage | null): Promise<void> {
    const s = conn.socket;
    if (s.destroyed) return;
    if (!req) {
      await this.write(conn, text('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'));
      s.end();
      return;
    }
    const reply = conn.probe ? okReply(req) : (this.script(req, conn) ?? okReply(req));
    if ('hang' in reply) return new Promise(() => {}); // this connection answers nothing more
    if ('close' in reply) return void s.end();
    if ('reset' in reply) return void s.resetAndDestroy();
    if ('raw' in reply) {
      for (const step of reply.raw) {
        if (s.destroyed) return;
        if (typeof step === 'string' || Buffer.isBuffer(step)) await this.write(conn, text(step));
        else if ('waitMs' in step) await new Promise((r) => setTimeout(r, step.waitMs));
        else await this.stream(conn, step.stream, step.chunk ?? 64 * 1024);
      }
    } else {
      const body = text(reply.body ?? '');
      let head = `HTTP/1.1 ${reply.status ?? 200} ${reply.reason ?? 'OK'}\r\n`;
      const headers = { 'content-length': body.length, ...reply.headers };
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      await this.write(conn, Buffer.concat([text(`${head}\r\n`), req.method === 'HEAD' ? Buffer.alloc(0) : body]));
    }
    const then = reply.then ?? 'keep';
    if (then === 'end') s.end();
    else if (then === 'reset') s.resetAndDestroy();
    else if (then === 'hang') {
      s.pause();
      return new Promise(() => {});
    }
  }

  private write(conn: OriginConnection, b: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (conn.socket.destroyed) return resolve();
      conn.socket.write(b, (err) => {
        if (!err) conn.written += b.length;
        this.wake();
        resolve();
      });
    });
  }

  /** `n` bytes of filler, a chunk at a time, each after the last was taken by the kernel. */
  private async stream(conn: OriginConnection, n: number, chunk: number): Promise<void> {
    const filler = Buffer.alloc(chunk, 'x');
    for (let left = n; left > 0 && !conn.socket.destroyed; left -= chunk) await this.write(conn, left >= chunk ? filler : filler.subarray(0, left));
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
