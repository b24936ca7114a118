import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/common/log.js';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith, type RunningProxy } from '../../../src/proxy/main.js';
import { waitFor } from '../../helpers/wait.js';

/** A real backend: silent, stalling mid-body, slow but steady, or holding its answer until told. */
let backend: Server;
const held: Array<() => void> = [];
let proxy: RunningProxy;
let port: number;
let table: unknown;

beforeAll(async () => {
  backend = createServer((req, res) => {
    if (req.url === '/silent') return; // never answers
    if (req.url === '/hold') return void held.push(() => res.end('held'));
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (req.url === '/stall') return void res.write('first part;'); // then nothing
    // /trickle: a chunk every 100 ms for 0.8 s — never quiet for the 400 ms body timeout (with
    // room for a busy test machine's event-loop stalls).
    let n = 0;
    const t = setInterval(() => {
      res.write(`${n};`);
      if (++n === 8) {
        clearInterval(t);
        res.end();
      }
    }, 100);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const config = parseProxyConfig({
    listen: [{ host: '127.0.0.1', port: 0 }],
    admin: { host: '127.0.0.1', port: 0 },
    limits: { upstreamHeadersTimeoutMs: 400, upstreamBodyTimeoutMs: 400, upstreamConnectionsPerEndpoint: 1 },
    healthCheck: { intervalMs: 60_000 },
    outlier: { consecutiveErrors: 1000 },
    table: { version: 't', defaultBackend: 'b', backends: { b: { shards: [{ cluster: 'c', region: 'us-central1', endpoints: [{ address: '127.0.0.1', port: (backend.address() as AddressInfo).port }] }] } } },
  });
  table = config.table;
  proxy = await startProxyWith(config, config.table, { configPath: 'inline.yaml', logger: createLogger('timeouts-test', 'silent'), watchTable: false });
  port = proxy.addresses[0]!.port;
});

afterAll(async () => {
  await proxy?.drain();
  backend.closeAllConnections();
  await new Promise<void>((r) => backend.close(() => r()));
});

/** GET through the proxy: status, what body arrived, whether the response was cut, and how long it took. */
function get(path: string): Promise<{ status: number; body: string; cut: boolean; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cut: false, ms: performance.now() - start }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body, cut: true, ms: performance.now() - start }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body, cut: true, ms: performance.now() - start }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One sample of the proxy's /metrics: the metric's value on the line that has `label`, or 0. */
async function sample(metric: string, label: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${proxy.admin!.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(label));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
const upstreamErrors = (kind: string) => sample('meridian_proxy_upstream_errors_total', `kind="${kind}"`);

describe('upstream timeouts', () => {
  it('answers 504 when the backend sends no headers within the headers timeout', async () => {
    const r = await get('/silent');
    expect(r.status).toBe(504);
    // 400 ms, checked every 40 ms: the deadline fires between the two.
    expect(r.ms).toBeGreaterThanOrEqual(400);
    expect(r.ms).toBeLessThan(2000);
    expect(await upstreamErrors('UND_ERR_HEADERS_TIMEOUT')).toBe(1);
  });

  it('cuts a response whose body goes quiet for longer than the body timeout', async () => {
    const r = await get('/stall');
    expect([r.status, r.body, r.cut]).toEqual([200, 'first part;', true]);
    expect(r.ms).toBeLessThan(2000);
    expect(await upstreamErrors('UND_ERR_BODY_TIMEOUT')).toBe(1);
  });

  it('lets a slow body through as long as it keeps coming', async () => {
    const r = await get('/trickle');
    expect([r.status, r.body, r.cut]).toEqual([200, '0;1;2;3;4;5;6;7;', false]);
  });
});

describe('upstream connection limit', () => {
  it('queues requests over limits.upstreamConnectionsPerEndpoint and shows both counts in /metrics', async () => {
    const first = get('/hold');
    const second = get('/hold');
    await waitFor(() => held.length === 1);
    // The second request may still be on its way to the proxy on a busy machine.
    await waitFor(async () => (await sample('meridian_proxy_upstream_queued_requests', 'cluster="c"')) === 1, { what: 'the second request queued' });
    expect(await sample('meridian_proxy_upstream_active_connections', 'cluster="c"')).toBe(1);
    held.shift()!();
    await waitFor(() => held.length === 1); // the freed connection took the waiting request
    held.shift()!();
    expect((await Promise.all([first, second])).map((r) => [r.status, r.body])).toEqual([
      [200, 'held'],
      [200, 'held'],
    ]);
    expect(await sample('meridian_proxy_upstream_active_connections', 'cluster="c"')).toBe(0);
    expect(await sample('meridian_proxy_upstream_queued_requests', 'cluster="c"')).toBe(0);
  });

  it('sends requests still waiting for a connection to the new table when their endpoint leaves it', async () => {
    const other = createServer((_req, res) => res.end('other'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      const first = get('/hold');
      const queued = get('/hold');
      await waitFor(() => held.length === 1);
      const endpoints = [{ address: '127.0.0.1', port: (other.address() as AddressInfo).port }];
      proxy.state.setTable({ version: 't2', defaultBackend: 'b', backends: { b: { shards: [{ cluster: 'c2', region: 'us-central1', endpoints }] } } });
      expect(await queued).toMatchObject({ status: 200, body: 'other' });
      held.shift()!(); // the request already at the old endpoint finishes there
      expect(await first).toMatchObject({ status: 200, body: 'held' });
    } finally {
      proxy.state.setTable(table);
      other.closeAllConnections();
      await new Promise<void>((r) => other.close(() => r()));
    }
  });
});
