import { Client, errors, type Dispatcher } from 'undici';

export interface UpstreamPoolOptions {
  /** Most connections open to this endpoint at once; requests beyond wait for one in order. */
  connections: number;
  client: Client.Options;
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
  private readonly all: Connection[] = [];
  private busy = 0;
  private closing: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    readonly origin: string,
    private readonly options: UpstreamPoolOptions,
  ) {}

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
      connection = new Connection(this, new Client(this.origin, { ...this.options.client, pipelining: 1 }));
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

  constructor(
    private readonly pool: UpstreamPool,
    readonly client: Client,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.handler!.onRequestStart?.(controller, context);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2], statusMessage?: string): void {
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
    return handler;
  }
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
