import type { Socket } from 'node:net';
import { buildConnector, Client, errors, type Dispatcher } from 'undici';

export interface UpstreamPoolOptions {
  /** Most connections open to this endpoint at once; requests beyond wait for one in order. */
  connections: number;
  /** Options of each connection's undici Client (`connect` is the pool's own, see below). */
  client: Omit<Client.Options, 'connect'> & { connect?: buildConnector.BuildOptions };
}

/** A request that waited too long for a connection (never sent: safe to send elsewhere). */
export class QueueTimeoutError extends Error {
  readonly code = 'E_QUEUE_TIMEOUT';
  constructor() {
    super('waited too long for a connection to the endpoint');
  }
}

/**
 * One endpoint's keep-alive connections: undici Clients that each carry one request at a time,
 * the idle ones on a stack. The most recently freed connection goes out first, so it is warm and
 * the others reach their keep-alive timeout when traffic drops. Requests over the connection limit
 * wait in order for the next free one.
 *
 * undici's Pool does the same job, but finds a free client by scanning all of them and relays
 * every client's 'drain' event through its own; with ~50 busy connections that is ~4 µs of a
 * bare proxy's ~31 µs per request here (bench/proxy.js with a bare proxy on each: 31.3 → 27.2).
 */
export class UpstreamPool {
  private readonly idle: Connection[] = [];
  private readonly waiting: Array<{ opts: Dispatcher.DispatchOptions; handler: Dispatcher.DispatchHandler }> = [];
  private readonly connector: buildConnector.connector;
  private readonly all: Connection[] = [];
  private busy = 0;
  private closing: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    readonly origin: string,
    private readonly options: UpstreamPoolOptions,
  ) {
    this.connector = buildConnector({ ...options.client.connect });
  }

  /** Open connections (busy or idle) and requests waiting for one. */
  get stats(): { connections: number; busy: number; waiting: number } {
    return { connections: this.all.length, busy: this.busy, waiting: this.waiting.length };
  }

  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    if (this.closing) {
      handler.onResponseError?.(closedController, new errors.ClientClosedError());
      return;
    }
    let connection = this.idle.pop();
    if (!connection && this.all.length < this.options.connections) {
      connection = new Connection(this);
      const c = connection;
      const connect: buildConnector.connector = (opts, callback) =>
        this.connector(opts, (...args) => {
          if (args[0] === null) skipInterimContinue(args[1] as Socket, c);
          callback(...args);
        });
      connection.client = new Client(this.origin, { ...this.options.client, connect, pipelining: 1 });
      this.all.push(connection);
    }
    if (!connection) {
      this.waiting.push({ opts, handler });
      return;
    }
    this.busy++;
    this.send(connection, opts, handler);
  }

  /**
   * Takes back a request still waiting for a connection: it fails with `error` (the caller's
   * queue deadline, or its client leaving). Returns false when it is not waiting (it is out).
   */
  cancel(handler: Dispatcher.DispatchHandler, error: Error): boolean {
    const i = this.waiting.findIndex((w) => w.handler === handler);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    handler.onResponseError?.(closedController, error);
    return true;
  }

  /**
   * Stops taking requests and refuses those still waiting for a connection (UND_ERR_CLOSED: they
   * never left, so the proxy may send them elsewhere); resolves once the requests on its
   * connections are done.
   */
  close(): Promise<void> {
    if (!this.closing) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r)).then(() => Promise.allSettled(this.all.map((c) => c.client.close()))).then(() => undefined);
      this.closing = { promise, resolve };
      for (const w of this.waiting.splice(0)) w.handler.onResponseError?.(closedController, new errors.ClientClosedError());
      if (this.busy === 0) resolve();
    }
    return this.closing.promise;
  }

  private send(connection: Connection, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    connection.handler = handler;
    connection.awaitingHead = true;
    connection.client.dispatch(opts, connection);
  }

  /** @internal called by Connection when its request has ended either way */
  release(connection: Connection): void {
    const next = this.waiting.shift();
    if (next) {
      // Still busy, with the next request. Sent after undici's callback has returned: a client
      // that fails its connect errors out its whole queue and then asserts that queue is empty.
      queueMicrotask(() => this.send(connection, next.opts, next.handler));
      return;
    }
    this.busy--;
    this.idle.push(connection);
    if (this.closing && this.busy === 0) this.closing.resolve();
  }
}

/**
 * The handler undici sees for every request on one connection, made once per connection rather
 * than per request: it passes each callback to the current request's handler and frees the
 * connection when the request ends.
 */
class Connection implements Dispatcher.DispatchHandler {
  handler: Dispatcher.DispatchHandler | null = null;
  client!: Client;
  /** A request is out and its response has not begun: what arrives next starts a response. */
  awaitingHead = false;

  constructor(private readonly pool: UpstreamPool) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.handler!.onRequestStart?.(controller, context);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2], statusMessage?: string): void {
    if (statusCode >= 200) this.awaitingHead = false;
    this.handler!.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.handler!.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseEnd']>>[1]): void {
    const handler = this.end();
    try {
      handler.onResponseEnd?.(controller, trailers);
    } finally {
      this.pool.release(this);
    }
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    const handler = this.end();
    try {
      handler.onResponseError?.(controller, error);
    } finally {
      this.pool.release(this);
    }
  }

  private end(): Dispatcher.DispatchHandler {
    const handler = this.handler!;
    this.handler = null;
    this.awaitingHead = false;
    return handler;
  }
}

const INTERIM_100 = [Buffer.from('HTTP/1.1 100 '), Buffer.from('HTTP/1.0 100 ')];
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * undici refuses any `100 Continue` (it never sends Expect, so it calls one a bad response and
 * drops the connection), but RFC 9110 §15.2 has a client parse any 1xx before the final response,
 * and origins send unsolicited ones: that was a 502. This drops whole `100` interim responses
 * where a response begins, before undici's parser reads them (it reads with socket.read()); other
 * 1xx reach it and are skipped by the proxy. It looks only at the first bytes of a response.
 */
function skipInterimContinue(socket: Socket, connection: Connection): void {
  const read = socket.read.bind(socket);
  socket.read = function readSkipping100(size?: number) {
    let chunk = read(size) as Buffer | null;
    while (chunk && connection.awaitingHead && startsInterim100(chunk)) {
      const end = chunk.indexOf(HEAD_END);
      if (end < 0) break; // split across reads: left to undici (a 502, as before)
      chunk = chunk.length > end + 4 ? chunk.subarray(end + 4) : (read(size) as Buffer | null);
    }
    return chunk;
  } as Socket['read'];
}

/**
 * `chunk` begins with a `100` status line. Every response's first read is tested: the status
 * digits are looked at in place first (a 200 fails there), where two subarrays and two compares
 * per response cost ~0.4 µs of an HTTP/2 request (node --cpu-prof under h2load).
 */
function startsInterim100(chunk: Buffer): boolean {
  if (chunk.length < 13 || chunk[9] !== 0x31 || chunk[10] !== 0x30 || chunk[11] !== 0x30 || chunk[12] !== 0x20) return false;
  return chunk.compare(INTERIM_100[0]!, 0, 13, 0, 13) === 0 || chunk.compare(INTERIM_100[1]!, 0, 13, 0, 13) === 0;
}

/** What a request refused before it reached a connection is told: there is nothing to abort. */
const closedController: Dispatcher.DispatchController = {
  abort() {},
  pause() {},
  resume() {},
  aborted: true,
  paused: false,
  reason: null,
};
