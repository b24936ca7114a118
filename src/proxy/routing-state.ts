import { OutlierDetector, type OutlierConfig } from '../health/outlier.js';
import { ProbeState } from '../health/probe-state.js';
import type { GeoLocator } from '../routing/geoip.js';
import { updateAdmission } from '../routing/admission.js';
import { LiveState } from '../routing/live.js';
import { buildSnapshot, locateClient, type RoutingSnapshot, type SnapshotOptions } from '../routing/snapshot.js';
import { UpstreamPool } from './upstream-pool.js';

export interface PoolOptions {
  connectTimeoutMs: number;
  connectionsPerEndpoint: number;
  keepAliveTimeoutMs: number;
}

/**
 * Everything a proxy process knows to route: the current snapshot and its live state, health
 * (active probes and passive outlier detection, each its own flag; health is derived), the
 * per-shard request rate of the last second, a client-cell cache per /24, and one pool of
 * keep-alive connections per endpoint, reused across table versions.
 */
export class RoutingState {
  snapshot!: RoutingSnapshot;
  live!: LiveState;
  outlier!: OutlierDetector;
  probes!: ProbeState;
  private readonly pools = new Map<string, UpstreamPool>();
  endpointPools: UpstreamPool[] = [];
  private readonly cellCache = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly geo: GeoLocator,
    private readonly snapshotOptions: SnapshotOptions,
    private readonly outlierConfig: OutlierConfig,
    private readonly probeThresholds: { healthy: number; unhealthy: number },
    private readonly poolOptions: PoolOptions,
  ) {}

  /** Installs a new table, keeping what is known about endpoints that stay. */
  setTable(table: unknown): void {
    const snapshot = buildSnapshot(table, this.snapshotOptions);
    const live = this.live ? this.live.carryInto(snapshot) : new LiveState(snapshot);
    const endpointPools: UpstreamPool[] = [];
    const keep = new Set<string>();
    for (const e of snapshot.endpoints) {
      const origin = `http://${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;
      keep.add(origin);
      let pool = this.pools.get(origin);
      if (!pool) {
        pool = new UpstreamPool(origin, {
          connections: this.poolOptions.connectionsPerEndpoint,
          client: {
            keepAliveTimeout: this.poolOptions.keepAliveTimeoutMs,
            // Headers and body timeouts are the proxy's (UpstreamDeadlines): undici's re-arm a
            // timer object per request.
            headersTimeout: 0,
            bodyTimeout: 0,
            connect: { timeout: this.poolOptions.connectTimeoutMs },
          },
        });
        this.pools.set(origin, pool);
      }
      endpointPools.push(pool);
    }
    this.snapshot = snapshot;
    this.live = live;
    this.endpointPools = endpointPools;
    // After the new table is in: requests refused by a closing pool are retried in the new one.
    for (const [origin, pool] of this.pools) {
      if (!keep.has(origin)) {
        this.pools.delete(origin);
        void pool.close();
      }
    }
    this.outlier = new OutlierDetector(snapshot.endpoints.length, this.outlierConfig);
    this.probes = new ProbeState(snapshot.endpoints.length, this.probeThresholds.healthy, this.probeThresholds.unhealthy);
    for (let e = 0; e < snapshot.endpoints.length; e++) this.probes.healthy[e] = live.endpointHealthy[e]!;
    this.cellCache.clear();
  }

  /** The client's cell, cached per /24 (/48): GeoIP and the nearest-region scan run once per prefix. */
  cellOf(ip: string): number {
    // Overrides can be narrower than a /24, so they are resolved per address.
    const override = this.geo.override(ip);
    if (override) {
      const k = `o${override.lat},${override.lon}`;
      let c = this.cellCache.get(k);
      if (c === undefined) this.cellCache.set(k, (c = locateClient(this.snapshot, override)));
      return c;
    }
    const v4 = ip.indexOf(':') < 0;
    const key = v4 ? ip.slice(0, ip.lastIndexOf('.')) : ip.split(':', 3).join(':');
    let cell = this.cellCache.get(key);
    if (cell === undefined) {
      cell = locateClient(this.snapshot, this.geo.lookup(ip));
      if (this.cellCache.size > 100_000) this.cellCache.clear();
      this.cellCache.set(key, cell);
    }
    return cell;
  }

  /** Per cluster: connections carrying a request now, and requests waiting for a connection. */
  upstreamLoad(): Map<string, { active: number; queued: number }> {
    const load = new Map<string, { active: number; queued: number }>();
    const seen = new Set<UpstreamPool>();
    const snap = this.snapshot;
    for (let e = 0; e < snap.endpoints.length; e++) {
      const pool = this.endpointPools[e]!;
      if (seen.has(pool)) continue; // one address listed twice shares its connections
      seen.add(pool);
      const cluster = snap.shards[snap.endpoints[e]!.shard]!.cluster;
      const stats = pool.stats;
      const l = load.get(cluster) ?? { active: 0, queued: 0 };
      l.active += stats.busy;
      l.queued += stats.waiting;
      load.set(cluster, l);
    }
    return load;
  }

  /** Health derived from both signals: probe says up and the outlier detector has not ejected it. */
  refreshHealth(endpoint: number): void {
    this.live.setHealthy(endpoint, this.probes.healthy[endpoint] === 1 && !this.outlier.isEjected(endpoint));
  }

  /** Called once a second with the number of requests this process routed in that second. */
  onPeriod: ((requests: number) => void) | undefined;

  /** This process's share of each shard's capacity (see LiveState.capacityShare). */
  setCapacityShare(share: number): void {
    this.live.capacityShare = share;
  }

  /** Once a second: publish shard rates, end ejections whose time is up, re-balance the waterfall. */
  startTicker(now: () => number = Date.now): void {
    const t = setInterval(() => {
      const requests = this.live.endPeriod(); // not inside `onPeriod?.(…)`: that would skip it without a listener
      this.onPeriod?.(requests);
      for (const e of this.outlier.expire(now())) this.refreshHealth(e);
      updateAdmission(this.live);
    }, 1000);
    t.unref();
    this.timers.push(t);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }
}
