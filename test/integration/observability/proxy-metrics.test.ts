import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createLogger } from '../../../src/common/log.js';
import { ProxyMetrics } from '../../../src/proxy/metrics.js';
import { startProxy, type RunningProxy } from '../../../src/proxy/main.js';
import { RawConnection } from '../../helpers/raw-http.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * The proxy's metrics measure what they say, through a real proxy on real sockets: a client that
 * leaves before its answer is a 499 (not the 200 it never got), and the series of shards and
 * backends that leave the routing table stop being exported.
 */

const TOKYO = '133.11.0.1';
const NEW_YORK = '72.229.28.185';

/** An origin answering by path: /slow after 1.5 s, /upload once the whole body is in, /stream in parts, anything else at once. */
async function origin(name: string): Promise<{ server: Server; port: number; upstreamClosed: string[] }> {
  const upstreamClosed: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (String(req.headers['user-agent']).startsWith('meridian-health-check')) return void res.end('ok');
    req.on('close', () => {
      if (!res.writableEnded) upstreamClosed.push(req.url ?? '');
    });
    if (req.url === '/slow') return void setTimeout(() => res.end(`${name} late`), 1_500).unref();
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part\n');
      return void setTimeout(() => res.end('last part\n'), 1_500).unref();
    }
    req.resume();
    req.on('end', () => res.end(name));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port, upstreamClosed };
}

const table = (version: string, shards: Record<string, { cluster: string; region: string; port: number }[]>) => ({
  version,
  routes: Object.keys(shards).map((b) => ({ host: `${b}.test`, path: '/', backend: b })),
  backends: Object.fromEntries(Object.entries(shards).map(([b, list]) => [b, { shards: list.map((s) => ({ cluster: s.cluster, region: s.region, endpoints: [{ address: '127.0.0.1', port: s.port }] })) }])),
});

const closers: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

let dir: Awaited<ReturnType<typeof tempDir>>;
let asia: Awaited<ReturnType<typeof origin>>;
let us: Awaited<ReturnType<typeof origin>>;
beforeAll(async () => {
  dir = await tempDir();
  asia = await origin('asia');
  us = await origin('us');
  closers.push(() => dir.remove());
  for (const o of [asia, us]) {
    closers.push(() => {
      o.server.closeAllConnections();
      o.server.close();
    });
  }
});

/** A proxy on a table file in `dir` (setTable writes a new one and has it reload), trusting X-Forwarded-For from loopback. */
async function proxyOn(t: unknown, metrics: ProxyMetrics, extra: Record<string, unknown> = {}): Promise<RunningProxy & { setTable(t: unknown): Promise<void> }> {
  const name = `proxy-${Math.random().toString(36).slice(2)}`;
  const tablePath = join(dir.path, `${name}.json`);
  await writeFile(tablePath, JSON.stringify(t));
  await writeFile(
    join(dir.path, `${name}.yaml`),
    stringify({ listen: [{ host: '127.0.0.1', port: 0 }], admin: { host: '127.0.0.1', port: 0 }, region: 'us-central1', trustedProxies: ['127.0.0.1/32'], tableFile: `${name}.json`, healthCheck: { intervalMs: 60_000 }, ...extra }),
  );
  const proxy = await startProxy({ configPath: join(dir.path, `${name}.yaml`), logger: createLogger('obs-test', 'silent'), watchTable: false, metrics });
  closers.push(() => proxy.drain());
  return Object.assign(proxy, {
    async setTable(next: unknown) {
      await writeFile(tablePath, JSON.stringify(next));
      await proxy.reload();
      expect(proxy.state.snapshot.version).toBe((next as { version: string }).version);
    },
  });
}

const scrape = async (p: RunningProxy) => (await fetch(`http://127.0.0.1:${p.admin!.port}/metrics`)).text();
/** Requests counted with `code` (all series). */
const counted = (text: string, code: number) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('meridian_proxy_requests_total{') && l.includes(`code="${code}"`))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);

describe('a client that leaves before its answer is counted 499, once', () => {
  let proxy: RunningProxy;
  let port: number;
  beforeAll(async () => {
    // One upstream connection per endpoint: a second request waits in the proxy's queue for it.
    proxy = await proxyOn(table('t1', { app: [{ cluster: 'us-a', region: 'us-central1', port: us.port }] }), new ProxyMetrics(false), { limits: { upstreamConnectionsPerEndpoint: 1 } });
    port = proxy.addresses[0]!.port;
  });
  afterEach(async () => {
    // Each case starts when the last has settled: nothing in flight.
    await waitFor(async () => /^meridian_proxy_in_flight_requests 0$/m.test(await scrape(proxy)), { what: 'nothing in flight' });
  });

  const deltaOf = async (run: () => Promise<void>) => {
    const before = await scrape(proxy);
    await run();
    await waitFor(async () => /^meridian_proxy_in_flight_requests 0$/m.test(await scrape(proxy)), { what: 'the request over' });
    const after = await scrape(proxy);
    return (code: number) => counted(after, code) - counted(before, code);
  };

  it('while the origin is still thinking (before any response header)', async () => {
    const delta = await deltaOf(async () => {
      const c = await RawConnection.open(port);
      await c.write('GET /slow HTTP/1.1\r\nhost: app.test\r\n\r\n');
      await waitFor(async () => /^meridian_proxy_upstream_active_connections\{cluster="us-a"\} 1$/m.test(await scrape(proxy)), { what: 'the request at the origin' });
      c.destroy();
    });
    expect([delta(499), delta(200)]).toEqual([1, 0]);
    // The proxy gave the upstream request up too.
    await waitFor(() => us.upstreamClosed.includes('/slow'), { what: 'the upstream request abandoned' });
  });

  it('in the middle of its upload', async () => {
    const delta = await deltaOf(async () => {
      const c = await RawConnection.open(port);
      await c.write('POST /upload HTTP/1.1\r\nhost: app.test\r\ncontent-length: 100000\r\n\r\n');
      await c.write('x'.repeat(10_000));
      await new Promise((r) => setTimeout(r, 200));
      c.destroy();
    });
    expect([delta(499), delta(200), delta(400), delta(502)]).toEqual([1, 0, 0, 0]);
  });

  it('in the middle of its upload, with a reset rather than a close', async () => {
    const delta = await deltaOf(async () => {
      const c = await RawConnection.open(port);
      await c.write('POST /upload HTTP/1.1\r\nhost: app.test\r\ncontent-length: 100000\r\n\r\n');
      await c.write('x'.repeat(10_000));
      await new Promise((r) => setTimeout(r, 200));
      c.socket.resetAndDestroy();
    });
    expect([delta(499), delta(200), delta(400), delta(502)]).toEqual([1, 0, 0, 0]);
  });

  it('in the middle of its request head: no request the proxy could answer, counted 499 rather than 400', async () => {
    const delta = await deltaOf(async () => {
      const c = await RawConnection.open(port);
      await c.write('GET /half HTTP/1.1\r\nhost: app.te');
      await new Promise((r) => setTimeout(r, 100));
      c.destroy();
      await c.waitClosed(2_000);
    });
    expect([delta(499), delta(400)]).toEqual([1, 0]);
  });

  it('but a client resetting its idle keep-alive connection made no request, and is not counted', async () => {
    const delta = await deltaOf(async () => {
      const c = await RawConnection.open(port);
      await c.write('GET /ok HTTP/1.1\r\nhost: app.test\r\n\r\n');
      expect((await c.next(3_000)).status).toBe(200);
      c.socket.resetAndDestroy();
      await new Promise((r) => setTimeout(r, 200));
    });
    expect([delta(200), delta(400), delta(499)]).toEqual([1, 0, 0]);
  });

  it('while waiting in the queue for an upstream connection', async () => {
    const delta = await deltaOf(async () => {
      const holder = await RawConnection.open(port);
      await holder.write('GET /slow HTTP/1.1\r\nhost: app.test\r\n\r\n'); // takes the only connection for 1.5 s
      await waitFor(async () => /^meridian_proxy_in_flight_requests 1$/m.test(await scrape(proxy)), { what: 'the first request out' });
      const queued = await RawConnection.open(port);
      await queued.write('GET /queued HTTP/1.1\r\nhost: app.test\r\n\r\n');
      await waitFor(async () => /^meridian_proxy_upstream_queued_requests\{cluster="us-a"\} 1$/m.test(await scrape(proxy)), { what: 'the second request queued' });
      queued.destroy();
      expect((await holder.next(5_000)).status).toBe(200);
      holder.destroy();
    });
    expect([delta(499), delta(200)]).toEqual([1, 1]);
  });

  it('but one that got its response head and left mid-body is counted with the status it was sent (as nginx logs it)', async () => {
    const delta = await deltaOf(async () => {
      const c = await RawConnection.open(port);
      await c.write('GET /stream HTTP/1.1\r\nhost: app.test\r\n\r\n');
      await waitFor(() => c.received.toString('latin1').includes('first part'), { what: 'the first part' });
      c.destroy();
    });
    expect([delta(200), delta(499)]).toEqual([1, 0]);
  });
});

describe('series of shards and backends that leave the routing table', () => {
  it('stop being exported: gauges at once, counters once quiet for the grace period; the rest carry on', async () => {
    let now = 0;
    const metrics = new ProxyMetrics(false, () => now, 60_000);
    const v1 = table('v1', {
      web: [
        { cluster: 'asia-a', region: 'asia-east1', port: asia.port },
        { cluster: 'us-a', region: 'us-central1', port: us.port },
      ],
      api: [{ cluster: 'us-a', region: 'us-central1', port: us.port }],
    });
    const proxy = await proxyOn(v1, metrics);
    const get = (host: string, xff: string) =>
      new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: proxy.addresses[0]!.port, path: '/', agent: false, headers: { host, 'x-forwarded-for': xff } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get('web.test', TOKYO)).toBe('asia');
    expect(await get('web.test', NEW_YORK)).toBe('us');
    expect(await get('api.test', TOKYO)).toBe('us');

    const first = await scrape(proxy);
    expect(first).toContain('meridian_proxy_requests_total{backend="web",cluster="asia-a",region="asia-east1",code="200"} 1');
    expect(first).toContain('meridian_proxy_shard_healthy_endpoints{backend="web",cluster="asia-a",region="asia-east1"} 1');
    // Tokyo's client region: the known cloud region nearest to it.
    const tokyo = /^meridian_proxy_flow_requests_total\{client_region="(asia-[a-z]+\d)",cluster="asia-a",region="asia-east1"\} 1$/m.exec(first)?.[1];
    expect(tokyo, first).toBeDefined();
    expect(first).toContain('meridian_proxy_requests_total{backend="api",cluster="us-a",region="us-central1",code="200"} 1');

    // asia-a leaves web, and the api backend goes altogether.
    await proxy.setTable(table('v2', { web: [{ cluster: 'us-a', region: 'us-central1', port: us.port }] }));
    expect(await get('web.test', TOKYO)).toBe('us');
    const after = await scrape(proxy);
    // Read from the table: gone at once.
    expect(after).not.toMatch(/^meridian_proxy_shard_\w+\{[^}]*cluster="asia-a"/m);
    expect(after).not.toMatch(/^meridian_proxy_shard_\w+\{backend="api"/m);
    expect(after).not.toMatch(/^meridian_proxy_upstream_\w+\{cluster="asia-a"/m);
    // Counted: kept while they may still move, so the last increments are scraped.
    expect(after).toContain('meridian_proxy_requests_total{backend="web",cluster="asia-a",region="asia-east1",code="200"} 1');

    now = 60_000;
    const later = await scrape(proxy);
    expect(later.split('\n').filter((l) => !l.startsWith('#') && (l.includes('asia-a') || l.includes('backend="api"')))).toEqual([]);
    expect(later).toContain('meridian_proxy_requests_total{backend="web",cluster="us-a",region="us-central1",code="200"} 2');
    // A flow is per cluster, over backends: the api backend's going takes nothing from it.
    expect(later).toContain(`meridian_proxy_flow_requests_total{client_region="${tokyo}",cluster="us-a",region="us-central1"} 2`);
  });
});
