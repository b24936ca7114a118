import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/state/redis-store.js';
import { parseRedisUrl } from '../../../src/state/redis-target.js';
import { endpointIn, publishTable, startProxyProcess, type ProxyProcess } from '../../helpers/proxy-process.js';
import { TestRedis } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * A fleet of real `meridian proxy` processes sharing one real redis-server (the test's own, on a
 * free port). The routing table is published into Redis the way the controller publishes it
 * (fleet-controller.test.ts runs the controller itself), so each case controls its endpoints.
 */

/** A real HTTP endpoint whose behaviour the test changes as it goes, logging what it served. */
class Endpoint {
  server!: Server;
  port = 0;
  readonly sockets = new Set<Socket>();
  /** Requests (not probes) served, with the time. */
  readonly served: number[] = [];
  /** Answer real requests with 503 (probes still pass). */
  failing = false;
  /** Fail the probes of proxies whose id is listed (their network path is "broken"). */
  readonly failProbesOf = new Set<string>();

  constructor(
    readonly name: string,
    readonly host = '127.0.0.1',
  ) {}

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => this.answer(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server.listen(port, this.host, () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    if (req.url === '/healthz') {
      const ua = req.headers['user-agent'] ?? '';
      const failed = [...this.failProbesOf].some((id) => ua.includes(`(proxy ${id})`));
      res.writeHead(failed ? 503 : 200);
      res.end();
      return;
    }
    this.served.push(performance.now());
    res.writeHead(this.failing ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(this.name);
  }

  /** Dies like a killed process: the listener closes and open connections are reset. */
  async kill(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get endpoint(): { address: string; port: number; name: string } {
    return { address: this.host, port: this.port, name: this.name };
  }

  servedBetween(from: number, to: number): number {
    return this.served.filter((t) => t >= from && t < to).length;
  }
}

const FAST_HEALTH = { intervalMs: 1000, timeoutMs: 500 };

/**
 * Sends `perSecond` GETs a second to each of `targets` until stopped (open loop, keep-alive). Paced
 * by the clock, not by the timer's ticks: a late tick sends what is due, so a busy machine still
 * offers the rate asked for.
 */
function offer(targets: string[], perSecond: number): { stop(): Promise<{ sent: number; failed: number }> } {
  const pools = targets.map((t) => new Pool(t, { connections: 16 }));
  const start = performance.now();
  let sent = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / 1000) * perSecond) * pools.length;
    while (sent < due) {
      const pool = pools[sent % pools.length]!;
      sent++;
      const p = pool
        .request({ path: '/', method: 'GET' })
        .then(async (r) => {
          await r.body.dump();
          if (r.statusCode >= 500) failed++;
        })
        .catch(() => void failed++)
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  }, 20);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      await Promise.all(pools.map((p) => p.close()));
      return { sent, failed };
    },
  };
}

describe('proxy fleet through Redis', () => {
  let redis: TestRedis;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const started: ProxyProcess[] = [];
  const stores: RedisStore[] = [];
  const endpoints: Endpoint[] = [];

  const storeFor = async (fleet: string) => {
    const s = new RedisStore(parseRedisUrl(redis.url), fleet);
    stores.push(s);
    await s.ready();
    return s;
  };
  const endpoint = async (name: string, host?: string) => {
    const e = await new Endpoint(name, host).start();
    endpoints.push(e);
    return e;
  };
  const proxies = async (fleet: string, ids: string[], config: Record<string, unknown>) => {
    const ps = await Promise.all(ids.map((id) => startProxyProcess(dir.path, id, { store: { redis: redis.url, fleet }, healthCheck: FAST_HEALTH, ...config })));
    started.push(...ps);
    return ps;
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    dir = await tempDir();
  });

  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
    await Promise.all(stores.map((s) => s.close()));
    await Promise.all(endpoints.map((e) => e.kill().catch(() => {})));
    await redis?.stop();
    await dir?.remove();
  });

  it('holds a shard\'s capacity for the fleet: 20 req/s capped, 60 offered through three proxies, the rest spilling to the next region', async () => {
    const asia = await endpoint('asia', '127.0.0.3');
    const us = await endpoint('us', '127.0.0.4');
    const store = await storeFor('capacity');
    await publishTable(
      store,
      {
        defaultBackend: 'web',
        backends: {
          web: {
            healthCheckPath: '/healthz',
            shards: [
              { cluster: 'asia-a', region: 'asia-east1', maxRatePerEndpoint: 20, endpoints: [asia.endpoint] },
              { cluster: 'us-a', region: 'us-central1', endpoints: [us.endpoint] },
            ],
          },
        },
      },
      'cap-v1',
    );
    // Clients on loopback have no location: they are where the proxies are, in Asia.
    const ps = await proxies('capacity', ['cap-1', 'cap-2', 'cap-3'], { region: 'asia-east1' });
    await waitFor(async () => (await Promise.all(ps.map((p) => p.metric('meridian_fleet_proxies')))).every((n) => n === 3), { what: 'three proxies in sync' });
    const t0 = performance.now();
    const load = offer(ps.map((p) => p.url), 20);
    await new Promise((r) => setTimeout(r, 9_000));
    const { sent, failed } = await load.stop();
    // The last five seconds, once the fleet has learnt the demand.
    const from = t0 + 4_000;
    const to = t0 + 9_000;
    const asiaRate = asia.servedBetween(from, to) / 5;
    const usRate = us.servedBetween(from, to) / 5;
    expect(failed).toBe(0);
    expect(sent).toBeGreaterThan(480);
    expect(asiaRate).toBeGreaterThanOrEqual(18);
    expect(asiaRate).toBeLessThanOrEqual(22);
    expect(asiaRate + usRate).toBeGreaterThan(54);
  }, 40_000);

  describe('shared health', () => {
    let ps: ProxyProcess[];
    let e1: Endpoint;
    let e2: Endpoint;

    beforeAll(async () => {
      e1 = await endpoint('e1');
      e2 = await endpoint('e2');
      const e3 = await endpoint('e3');
      const e4 = await endpoint('e4');
      // h3's path to e2 is broken for its probes only.
      e2.failProbesOf.add('h3');
      const store = await storeFor('health');
      await publishTable(
        store,
        {
          defaultBackend: 'web',
          backends: {
            web: {
              healthCheckPath: '/healthz',
              shards: [
                { cluster: 'us-a', region: 'us-central1', endpoints: [e1.endpoint, e2.endpoint, e3.endpoint] },
                { cluster: 'us-b', region: 'us-central1', endpoints: [e4.endpoint] },
              ],
            },
          },
        },
        'health-v1',
      );
      ps = await proxies('health', ['h1', 'h2', 'h3'], { region: 'us-central1' });
      await waitFor(async () => (await Promise.all(ps.map((p) => p.metric('meridian_fleet_proxies')))).every((n) => n === 3), { what: 'three proxies in sync' });
    });

    it('one proxy whose probes alone fail does not change anyone\'s choice', async () => {
      await waitFor(async () => endpointIn(await ps[2]!.debug(), e2.address)?.probeHealthy === false, { what: 'h3 sees e2 down by its own probes' });
      // Several more rounds: the others keep voting it up, so the fleet keeps it.
      await new Promise((r) => setTimeout(r, 2_500));
      for (const p of ps) {
        const e = endpointIn(await p.debug(), e2.address)!;
        expect(e.fleetVerdict).toBe(true);
        expect(e.healthy).toBe(true);
      }
      const before = e2.served.length;
      for (const p of ps) for (let i = 0; i < 40; i++) await (await fetch(p.url)).text();
      expect(e2.served.length - before).toBeGreaterThan(10); // a quarter of 120, give or take
    });

    it('never applies a table from the store that is partial or invalid: the last good one keeps serving', async () => {
      const store = await storeFor('health');
      const good = (await store.readTable())!;
      // A body cut short (its checksum no longer matches), then one that parses but is not a table.
      await store.publishTable({ ...good, version: 'partial', body: good.body.slice(0, -20) });
      await waitFor(async () => (await Promise.all(ps.map((p) => p.metric('meridian_proxy_tables_rejected_total')))).every((n) => n === 1), { what: 'the partial table rejected' });
      await publishTable(store, { backends: { web: { shards: [{ cluster: '', region: 'x', endpoints: [] }] } } }, 'invalid');
      await waitFor(async () => (await Promise.all(ps.map((p) => p.metric('meridian_proxy_tables_rejected_total')))).every((n) => n === 2), { what: 'the invalid table rejected' });
      for (const p of ps) {
        expect((await p.debug()).version).toBe('health-v1');
        expect((await fetch(p.url)).status).toBe(200);
        expect(p.logs()).toMatch(/"version":"partial".*does not match its checksum.*routing table from the store rejected/);
        expect(p.logs()).toMatch(/"version":"invalid","code":"E_TABLE_INVALID".*routing table from the store rejected/);
      }
      await store.publishTable(good); // back to the good one for the next case
    });

    it('an endpoint killed is avoided by every proxy within 1 s of the first proxy\'s detection', async () => {
      await e1.kill();
      let firstOwn = 0;
      let allAvoid = 0;
      await waitFor(
        async () => {
          const views = await Promise.all(ps.map((p) => p.debug()));
          const now = performance.now();
          const mine = views.map((v) => endpointIn(v, e1.address)!);
          if (!firstOwn && mine.some((e) => !e.probeHealthy)) firstOwn = now;
          if (!allAvoid && mine.every((e) => !e.healthy)) allAvoid = now;
          return allAvoid > 0;
        },
        { what: 'every proxy avoiding e1', timeoutMs: 10_000, intervalMs: 20 },
      );
      expect(firstOwn).toBeGreaterThan(0);
      expect(allAvoid - firstOwn).toBeLessThanOrEqual(1_000);
    });
  });

  describe('learnt state and recovery', () => {
    let ps: ProxyProcess[];
    let e1: Endpoint;
    let e2: Endpoint;
    let store: RedisStore;
    let table: Record<string, unknown>;

    beforeAll(async () => {
      e1 = await endpoint('e1', '127.0.0.5');
      e2 = await endpoint('e2', '127.0.0.6');
      const e3 = await endpoint('e3', '127.0.0.7');
      const eu = await endpoint('eu', '127.0.0.8');
      store = await storeFor('carry');
      table = {
        defaultBackend: 'web',
        backends: {
          web: {
            healthCheckPath: '/healthz',
            shards: [
              // 30 req/s in the proxies' region; the excess goes to Europe.
              { cluster: 'us-a', region: 'us-central1', maxRatePerEndpoint: 10, endpoints: [e1.endpoint, e2.endpoint, e3.endpoint] },
              { cluster: 'eu-a', region: 'europe-west1', endpoints: [eu.endpoint] },
            ],
          },
        },
      };
      await publishTable(store, table, 'carry-v1');
      ps = await proxies('carry', ['c1', 'c2', 'c3'], { region: 'us-central1', outlier: { consecutiveErrors: 3, baseEjectionMs: 60_000 } });
      await waitFor(async () => (await Promise.all(ps.map((p) => p.metric('meridian_fleet_proxies')))).every((n) => n === 3), { what: 'three proxies in sync' });
    });

    it('a table change keeps an ejected endpoint ejected and keeps the admission shares', async () => {
      const load = offer(ps.map((p) => p.url), 20); // 60 req/s against 30 of capacity
      try {
        e1.failing = true;
        await waitFor(async () => (await Promise.all(ps.map((p) => p.debug()))).every((v) => endpointIn(v, e1.address)?.ejected), { what: 'e1 ejected by the whole fleet', timeoutMs: 10_000 });
        e1.failing = false; // its probes never failed: it stays out for its ejection period
        const shareOf = (v: Awaited<ReturnType<ProxyProcess['debug']>>) => v.backends[0]!.shards.find((s) => s.cluster === 'us-a')!.admitShare;
        await waitFor(async () => (await Promise.all(ps.map((p) => p.debug()))).every((v) => shareOf(v) < 0.9), { what: 'admission learnt', timeoutMs: 10_000 });

        const eu2 = await endpoint('eu2', '127.0.0.9');
        const next = structuredClone(table) as { backends: { web: { shards: { endpoints: unknown[] }[] } } };
        next.backends.web.shards[1]!.endpoints.push(eu2.endpoint);
        await publishTable(store, next, 'carry-v2');
        // Right as each proxy takes the new table: still ejected, still admitting its learnt share.
        await waitFor(
          async () => {
            const views = await Promise.all(ps.map((p) => p.debug()));
            for (const v of views.filter((x) => x.version === 'carry-v2')) {
              expect(endpointIn(v, e1.address)?.ejected).toBe(true);
              expect(shareOf(v)).toBeLessThan(0.9);
            }
            return views.every((v) => v.version === 'carry-v2');
          },
          { what: 'every proxy on the new table', intervalMs: 10 },
        );
      } finally {
        await load.stop();
      }
    }, 40_000);

    it('a recovered endpoint that passes its probes gets traffic within 3 s', async () => {
      const load = offer(ps.map((p) => p.url), 10);
      try {
        await e2.kill();
        await waitFor(async () => (await Promise.all(ps.map((p) => p.debug()))).every((v) => !endpointIn(v, e2.address)?.healthy), { what: 'e2 down for the fleet', timeoutMs: 10_000 });
        await new Promise((r) => setTimeout(r, 1_000));
        await e2.start(e2.port);
        const back = performance.now();
        await waitFor(() => e2.served.some((t) => t > back), { what: 'traffic on e2 again', timeoutMs: 10_000, intervalMs: 20 });
        const after = e2.served.find((t) => t > back)! - back;
        expect(after).toBeLessThanOrEqual(3_000);
      } finally {
        await load.stop();
      }
    }, 30_000);
  });

  it('--workers on one host share a shard\'s capacity the same way, through the primary (no Redis)', async () => {
    const capped = await endpoint('capped', '127.0.0.12');
    const rest = await endpoint('rest', '127.0.0.13');
    const p = await startProxyProcess(
      dir.path,
      'workers',
      {
        region: 'asia-east1',
        healthCheck: FAST_HEALTH,
        table: {
          defaultBackend: 'web',
          backends: {
            web: {
              healthCheckPath: '/healthz',
              shards: [
                { cluster: 'asia-a', region: 'asia-east1', maxRatePerEndpoint: 20, endpoints: [capped.endpoint] },
                { cluster: 'us-a', region: 'us-central1', endpoints: [rest.endpoint] },
              ],
            },
          },
        },
      },
      ['--workers', '2'],
    );
    started.push(p);
    // Connections spread over both workers: 60 req/s in all, the capped shard's 20 held for the host.
    const t0 = performance.now();
    const load = offer([p.url, p.url, p.url], 20);
    await new Promise((r) => setTimeout(r, 9_000));
    const { failed } = await load.stop();
    expect(failed).toBe(0);
    const rate = capped.servedBetween(t0 + 4_000, t0 + 9_000) / 5;
    expect(rate).toBeGreaterThanOrEqual(18);
    expect(rate).toBeLessThanOrEqual(22);
    expect(rest.servedBetween(t0 + 4_000, t0 + 9_000) / 5).toBeGreaterThan(34);
  }, 40_000);

  it('a Redis that stops answering (SIGSTOP) costs no request; the fleet stands alone, then resyncs', async () => {
    const own = await TestRedis.start();
    try {
      const a = await endpoint('slow-a', '127.0.0.14');
      const s = new RedisStore(parseRedisUrl(own.url), 'slow');
      await s.ready();
      await publishTable(s, { defaultBackend: 'web', backends: { web: { healthCheckPath: '/healthz', shards: [{ cluster: 'us-a', region: 'us-central1', endpoints: [a.endpoint] }] } } }, 'slow-v1');
      await s.close();
      const ps = await Promise.all(['s1', 's2'].map((id) => startProxyProcess(dir.path, id, { store: { redis: own.url, fleet: 'slow' }, healthCheck: FAST_HEALTH, region: 'us-central1' })));
      started.push(...ps);
      await waitFor(async () => (await Promise.all(ps.map((p) => p.metric('meridian_fleet_proxies')))).every((n) => n === 2), { what: 'two proxies in sync' });
      const load = offer(ps.map((p) => p.url), 50);
      await new Promise((r) => setTimeout(r, 500));
      own.pause();
      // Commands time out (1 s); after staleAfterMs (3 s) each proxy stands alone.
      await waitFor(async () => (await Promise.all(ps.map((p) => p.metric('meridian_store_up')))).every((u) => u === 0) && ps.every((p) => /out of sync with the fleet/.test(p.logs())), { what: 'proxies out of sync', timeoutMs: 8_000 });
      own.resume();
      const back = performance.now();
      await waitFor(async () => (await Promise.all(ps.map((p) => p.metric('meridian_store_up')))).every((u) => u === 1), { what: 'in sync again', timeoutMs: 10_000 });
      const resynced = performance.now() - back;
      const { sent, failed } = await load.stop();
      expect(failed).toBe(0);
      expect(sent).toBeGreaterThan(300);
      expect(resynced).toBeLessThanOrEqual(2_000);
      for (const p of ps) expect(p.logs()).toMatch(/out of sync with the fleet: probing every endpoint/);
    } finally {
      await own.stop();
    }
  }, 40_000);

  it('keeps serving with zero failed requests when Redis is killed and restarted empty, and converges within 2 s of its return', async () => {
    const own = await TestRedis.start();
    try {
      const a = await endpoint('a', '127.0.0.10');
      const b = await endpoint('b', '127.0.0.11');
      const s = new RedisStore(parseRedisUrl(own.url), 'outage');
      await s.ready();
      await publishTable(s, { defaultBackend: 'web', backends: { web: { healthCheckPath: '/healthz', shards: [{ cluster: 'us-a', region: 'us-central1', endpoints: [a.endpoint, b.endpoint] }] } } }, 'outage-v1');
      await s.close();
      const ps = await Promise.all(['o1', 'o2', 'o3'].map((id) => startProxyProcess(dir.path, id, { store: { redis: own.url, fleet: 'outage' }, healthCheck: FAST_HEALTH, region: 'us-central1' })));
      started.push(...ps);
      await waitFor(async () => (await Promise.all(ps.map((p) => p.metric('meridian_fleet_proxies')))).every((n) => n === 3), { what: 'three proxies in sync' });

      const runs = ps.map(
        (p) =>
          new Promise<autocannon.Result>((resolve, reject) => {
            autocannon({ url: p.url, connections: 8, duration: 9, overallRate: 300 }, (err, r) => (err ? reject(err) : resolve(r)));
          }),
      );
      await new Promise((r) => setTimeout(r, 1_500));
      await own.kill(); // SIGKILL: a crash
      // Longer than staleAfterMs (3 s): every proxy falls back to its own probes and rates.
      await new Promise((r) => setTimeout(r, 4_000));
      await own.restart(); // back, empty
      const back = performance.now();
      await waitFor(
        async () => {
          const [up, members] = await Promise.all([Promise.all(ps.map(async (p) => [await p.metric('meridian_store_up'), await p.metric('meridian_fleet_proxies')])), own.cli('scard', 'meridian:{outage}:members')]);
          return up.every(([u, n]) => u === 1 && n === 3) && members === '3';
        },
        { what: 'the fleet in sync again', timeoutMs: 10_000, intervalMs: 25 },
      );
      const converged = performance.now() - back;
      const results = await Promise.all(runs);
      for (const r of results) {
        expect(r.errors).toBe(0);
        expect(r.non2xx).toBe(0);
        expect(r.requests.total).toBeGreaterThan(1_000);
      }
      expect(converged).toBeLessThanOrEqual(2_000);
      for (const p of ps) expect(p.logs()).toMatch(/state store unreachable/);
      // One line per change, not one per second: a 4 s outage is one line (two if a slow command
      // on the busy test machine times out just after the reconnection).
      for (const p of ps) expect(p.logs().match(/state store unreachable/g)!.length, p.logs()).toBeLessThanOrEqual(2);
    } finally {
      await own.stop();
    }
  }, 40_000);
});
