import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamPool } from '../../../src/proxy/upstream-pool.js';
import { waitFor } from '../../helpers/wait.js';

/** A real backend that can hold its answers back, and counts the connections it was given. */
let server: Server;
let origin: string;
const sockets = new Set<Socket>();
let held: Array<{ path: string; res: ServerResponse }> = [];
let hold = false;
let accepted = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/reset') return void req.socket.destroy();
    if (hold) return void held.push({ path: req.url ?? '', res });
    res.end(`answer ${req.url}`);
  });
  server.on('connection', (s: Socket) => {
    accepted++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
afterEach(() => {
  hold = false;
  for (const h of held) h.res.end();
  held = [];
  for (const s of sockets) s.destroy();
  accepted = 0;
});

interface Outcome {
  status?: number;
  body: string;
  error?: Error & { code?: string };
}

/** One request through the pool, resolved when it ends either way. */
function send(pool: UpstreamPool, path: string, order?: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: '' };
    const handler: Dispatcher.DispatchHandler = {
      onResponseStart(_c, status) {
        out.status = status;
      },
      onResponseData(_c, chunk) {
        out.body += chunk.toString();
      },
      onResponseEnd() {
        order?.push(path);
        resolve(out);
      },
      onResponseError(_c, error) {
        out.error = error;
        resolve(out);
      },
    };
    pool.dispatch({ path, method: 'GET', headers: {} }, handler);
  });
}

const newPool = (connections: number) => new UpstreamPool(origin, { connections, client: { keepAliveTimeout: 10_000 } });

describe('UpstreamPool', () => {
  it('carries one request after another on one kept-alive connection', async () => {
    const pool = newPool(8);
    for (let i = 0; i < 5; i++) expect(await send(pool, `/${i}`)).toEqual({ status: 200, body: `answer /${i}` });
    expect(accepted).toBe(1);
    expect(pool.stats).toEqual({ connections: 1, busy: 0, waiting: 0 });
    await pool.close();
  });

  it('opens no more connections than its limit; the rest wait and go out in arrival order', async () => {
    const pool = newPool(2);
    hold = true;
    const order: string[] = [];
    const outcomes = ['/a', '/b', '/c', '/d', '/e'].map((p) => send(pool, p, order));
    await waitFor(() => held.length === 2);
    expect(pool.stats).toEqual({ connections: 2, busy: 2, waiting: 3 });
    hold = false;
    // Answer the held ones; each freed connection takes the next waiting request.
    for (const h of held.splice(0)) h.res.end(`answer ${h.path}`);
    const results = await Promise.all(outcomes);
    expect(results.map((r) => r.body)).toEqual(['answer /a', 'answer /b', 'answer /c', 'answer /d', 'answer /e']);
    expect(order.slice(2)).toEqual(['/c', '/d', '/e']);
    expect(accepted).toBe(2);
    expect(pool.stats).toEqual({ connections: 2, busy: 0, waiting: 0 });
    await pool.close();
  });

  it('keeps a connection usable after its request failed: the next request reconnects', async () => {
    const pool = newPool(1);
    const failed = await send(pool, '/reset');
    expect(failed.error?.code).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
    expect(await send(pool, '/after')).toEqual({ status: 200, body: 'answer /after' });
    expect(pool.stats).toEqual({ connections: 1, busy: 0, waiting: 0 });
    await pool.close();
  });

  it('close() lets the request on a connection finish, and refuses waiting and new ones with UND_ERR_CLOSED', async () => {
    const pool = newPool(1);
    hold = true;
    const first = send(pool, '/first');
    const queued = send(pool, '/queued');
    await waitFor(() => held.length === 1);
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    // Never sent anywhere, so the proxy may send it elsewhere (a table that dropped this endpoint).
    expect((await queued).error?.code).toBe('UND_ERR_CLOSED');
    expect((await send(pool, '/late')).error?.code).toBe('UND_ERR_CLOSED');
    expect(closed).toBe(false);
    hold = false;
    held.shift()!.res.end('answer /first');
    expect((await first).body).toBe('answer /first');
    await closing;
    expect(closed).toBe(true);
    expect(held).toEqual([]); // the queued request never reached the backend
  });

  it('answers a refused connection with ECONNREFUSED and frees the slot', async () => {
    const dead = new UpstreamPool('http://127.0.0.1:9', { connections: 1, client: {} });
    const a = send(dead, '/a');
    const b = send(dead, '/b');
    expect((await a).error?.code).toBe('ECONNREFUSED');
    expect((await b).error?.code).toBe('ECONNREFUSED');
    expect(dead.stats).toEqual({ connections: 1, busy: 0, waiting: 0 });
    await dead.close();
  });
});
