import { OutlierDetector, type OutlierConfig } from '../health/outlier.js';
import { ProbeState } from '../health/probe-state.js';
import type { GeoLocator } from '../routing/geoip.js';
import { updateAdmission, type FleetLoad } from '../routing/admission.js';
import { LiveState } from '../routing/live.js';
import { buildSnapshot, carryIndex, carryValues, locateClient, type RoutingSnapshot, type SnapshotOptions } from '../routing/snapshot.js';
import { UpstreamPool } from './upstream-pool.js';

export interface PoolOptions {
  connectTimeoutMs: number;
  connectionsPerEndpoint: number;
  keepAliveTimeoutMs: number;
}

/**
 * Everything a proxy process knows to route: the current snapshot and its live state, health
 * (active probes — this proxy's own or the fleet's verdict — and passive outlier detection, each
 * its own flag; health is derived), the per-shard request rate of the last second, a client-cell
 * cache per /24, and one pool of keep-alive connections per endpoint, reused across table
 * versions. All learnt state is keyed by endpoint and shard identity and carried to every new
 * table (a new endpoint starts healthy; one that stays keeps its ejection, streaks and shares).
 */
export class RoutingState {
  snapshot!: RoutingSnapshot;
  live!: LiveState;
  outlier!: OutlierDetector;
  /** This proxy's own active checks. */
  probes!: ProbeState;
  /**
   * The fleet's verdict of the active checks per endpoint (1 up, 0 down; -1 none: this proxy's
   * own probes decide). Set by the fleet sync from the probers' votes.
   */
  fleetVerdict!: Int8Array;
  /** The active-check verdict health was last derived from: a 0 → 1 step is a recovery. */
  private probeUpSeen!: Uint8Array;
  /** When each endpoint last recovered (ms): ejections the fleet made before that are over. */
  recoveredAt!: Float64Array;
  /** Called when an endpoint's probes see it recover (the fleet sync withdraws its ejection). */
  onRecovered: ((endpoint: number) => void) | undefined;
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
    const previous = this.snapshot as RoutingSnapshot | undefined;
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
    const n = snapshot.endpoints.length;
    if (previous) {
      const index = carryIndex(previous.endpointByKey, snapshot.endpointKeys);
      this.outlier = this.outlier.carryInto(n, index);
      this.probes = this.probes.carryInto(n, index);
      this.fleetVerdict = carryValues(new Int8Array(n).fill(-1), this.fleetVerdict, index);
      this.probeUpSeen = carryValues(new Uint8Array(n).fill(1), this.probeUpSeen, index);
      this.recoveredAt = carryValues(new Float64Array(n), this.recoveredAt, index);
    } else {
      this.outlier = new OutlierDetector(n, this.outlierConfig);
      this.probes = new ProbeState(n, this.probeThresholds.healthy, this.probeThresholds.unhealthy);
      this.fleetVerdict = new Int8Array(n).fill(-1);
      this.probeUpSeen = new Uint8Array(n).fill(1);
      this.recoveredAt = new Float64Array(n);
    }
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

  /** The active checks' verdict that counts: the fleet's where it has one, else this proxy's own. */
  probeUp(endpoint: number): boolean {
    const fleet = this.fleetVerdict[endpoint]!;
    return fleet >= 0 ? fleet === 1 : this.probes.healthy[endpoint] === 1;
  }

  /** One of this proxy's own probe results; returns true when its own verdict flipped. */
  recordProbe(endpoint: number, ok: boolean, now = Date.now()): boolean {
    const flipped = this.probes.record(endpoint, ok);
    if (flipped) this.refreshHealth(endpoint, now);
    return flipped;
  }

  /**
   * Health derived from both signals: the active checks say up and the outlier detector has not
   * ejected it. An endpoint the active checks saw go down and come back is returned to service
   * at once, ejected or not: Envoy's default (successful_active_health_check_uneject_host), but
   * only after a real recovery — Envoy un-ejects on any passing check, which lets an endpoint
   * that fails requests while its health path passes back in every interval.
   */
  refreshHealth(endpoint: number, now = Date.now()): void {
    const up = this.probeUp(endpoint);
    if (up && this.probeUpSeen[endpoint] === 0) {
      this.recoveredAt[endpoint] = now;
      this.outlier.uneject(endpoint);
      this.onRecovered?.(endpoint);
    }
    this.probeUpSeen[endpoint] = up ? 1 : 0;
    this.live.setHealthy(endpoint, up && !this.outlier.isEjected(endpoint));
  }

  /** This process's part of every shard's capacity (one of several `--workers`). */
  setCapacityShare(share: number): void {
    this.live.freshShare = share;
    this.live.shardLocalShare.fill(share);
    this.live.groupLocalShare.fill(share);
  }

  /** Called once a second when the period closes, with the requests this process routed in it. */
  onPeriod: ((requests: number) => void) | undefined;

  /**
   * The fleet's load for admission (see updateAdmission), or undefined to decide on this
   * process's own: set by the fleet sync while its view is fresh.
   */
  fleetLoad: (() => FleetLoad | undefined) | undefined;

  /** Closes the rate period: end ejections whose time is up, re-balance the waterfall. */
  tick(now = Date.now()): void {
    const requests = this.live.endPeriod(); // not inside `onPeriod?.(…)`: that would skip it without a listener
    this.onPeriod?.(requests);
    for (const e of this.outlier.expire(now)) this.refreshHealth(e, now);
    updateAdmission(this.live, this.fleetLoad?.());
  }

  /**
   * Once a second, on the wall clock's second (so a fleet's periods line up and their sums add
   * like with like).
   */
  startTicker(now: () => number = Date.now): void {
    const arm = () => {
      const t = setTimeout(() => {
        this.tick(now());
        arm();
      }, 1000 - (now() % 1000));
      t.unref();
      this.timers[0] = t;
    };
    arm();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await Promise.allSettled([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }
}
