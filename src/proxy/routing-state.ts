import { OutlierDetector, type OutlierConfig } from '../health/outlier.js';
import { ProbeState } from '../health/probe-state.js';
import type { ProbedState } from '../health/prober.js';
import type { GeoLocator } from '../routing/geoip.js';
import { ownLoad, updateAdmission, type FleetLoad, type PeriodLoad } from '../routing/admission.js';
import { LiveState } from '../routing/live.js';
import { buildSnapshot, carryIndex, carryValues, locateClient, type RoutingSnapshot, type SnapshotOptions } from '../routing/snapshot.js';
import { FlowCounter } from './flows.js';
import { UpstreamPool } from './upstream-pool.js';

export interface PoolOptions {
  connectTimeoutMs: number;
  connectionsPerEndpoint: number;
  keepAliveTimeoutMs: number;
  /** Local address upstream connections leave from (`upstreamBind`). */
  localAddress?: string;
}

/**
 * Everything a proxy process knows to route: the current snapshot and its live state, health
 * (active probes — this proxy's own or the fleet's verdict — and passive outlier detection, each
 * its own flag; health is derived), the per-shard request rate of the last second, a client-cell
 * cache per /24, and one pool of keep-alive connections per endpoint, reused across table
 * versions. All learnt state is keyed by endpoint and shard identity and carried to every new
 * table (a new endpoint starts healthy; one that stays keeps its ejection, streaks and shares).
 */
export class RoutingState implements ProbedState {
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
  /** When each endpoint last failed one of this proxy's probes (ms; 0 = never). */
  private lastProbeFailAt!: Float64Array;
  /** This proxy's probes' round trip to each endpoint (ms, smoothed; NaN = not measured). */
  probeRtt!: Float64Array;
  /** The endpoints this proxy probes, or undefined for all (set by the fleet sync). */
  probeTargets: Uint8Array | undefined;

  /** Hooks for the fleet sync: an own probe verdict flipped, an own ejection, a recovery. */
  onOwnVerdict: ((endpoint: number, up: boolean) => void) | undefined;
  onEjected: ((endpoint: number, since: number, until: number, times: number) => void) | undefined;
  onRecovered: ((endpoint: number, at: number) => void) | undefined;
  /** A connection to `endpoint` was refused or timed out (the proxy has its probes confirm at once). */
  onConnectFailure: ((endpoint: number) => void) | undefined;
  private readonly pools = new Map<string, UpstreamPool>();
  endpointPools: UpstreamPool[] = [];
  private readonly cellCache = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Requests of the last minute by client region × serving cluster (the status page's flows). */
  readonly flows = new FlowCounter(60);

  constructor(
    /** Where clients are (also read by the status page's route explanation). */
    readonly geo: GeoLocator,
    private readonly snapshotOptions: SnapshotOptions,
    private readonly outlierConfig: OutlierConfig,
    /** The active checks' thresholds, and their interval (how long before an ejection a failed probe still tells of it). */
    private readonly probeThresholds: { healthy: number; unhealthy: number; intervalMs?: number },
    private readonly poolOptions: PoolOptions,
  ) {}

  /** False until a real table is in (a proxy following the fleet's table starts with none). */
  hasTable = false;

  /** Starts with no table: every request gets 503 E_NO_TABLE until one arrives. */
  setNoTable(): void {
    this.setTable({ version: '', backends: {} });
    this.hasTable = false;
  }

  /** Installs a new table, keeping what is known about endpoints that stay. */
  setTable(table: unknown): void {
    const snapshot = buildSnapshot(table, this.snapshotOptions);
    this.hasTable = true;
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
            ...(this.poolOptions.localAddress ? { localAddress: this.poolOptions.localAddress } : {}),
          },
        });
        this.pools.set(origin, pool);
      }
      endpointPools.push(pool);
    }
    this.snapshot = snapshot;
    this.live = live;
    this.endpointPools = endpointPools;
    this.flows.bind(snapshot);
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
      this.probeRtt = carryValues(new Float64Array(n).fill(Number.NaN), this.probeRtt, index);
      this.lastProbeFailAt = carryValues(new Float64Array(n), this.lastProbeFailAt, index);
      this.probeTargets = undefined;
    } else {
      this.outlier = new OutlierDetector(n, this.outlierConfig);
      this.probes = new ProbeState(n, this.probeThresholds.healthy, this.probeThresholds.unhealthy);
      this.fleetVerdict = new Int8Array(n).fill(-1);
      this.probeUpSeen = new Uint8Array(n).fill(1);
      this.recoveredAt = new Float64Array(n);
      this.probeRtt = new Float64Array(n).fill(Number.NaN);
      this.lastProbeFailAt = new Float64Array(n);
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

  /**
   * One of this proxy's own probe results; returns true when its own verdict flipped. A probe
   * that passes after one failed (around the ejection or since) ends the endpoint's ejection:
   * it was down and is back.
   */
  recordProbe(endpoint: number, ok: boolean, now = Date.now()): boolean {
    if (!ok) this.lastProbeFailAt[endpoint] = now;
    else if (this.outlier.isEjected(endpoint) && this.lastProbeFailAt[endpoint]! > 0 && this.lastProbeFailAt[endpoint]! >= this.outlier.ejectedAt[endpoint]! - (this.probeThresholds.intervalMs ?? 1_000)) {
      this.recover(endpoint, now);
    }
    const flipped = this.probes.record(endpoint, ok);
    if (flipped) {
      this.refreshHealth(endpoint, now);
      this.onOwnVerdict?.(endpoint, ok);
    }
    return flipped;
  }

  /** A probe's round trip: smoothed (EWMA, 1/4 weight to the newest) per endpoint. */
  recordRtt(endpoint: number, ms: number): void {
    const was = this.probeRtt[endpoint]!;
    this.probeRtt[endpoint] = Number.isNaN(was) ? ms : was + (ms - was) / 4;
  }

  /** This proxy's measured round trip to each region it probes: the nearest endpoint's (ms). */
  regionRtt(): Record<string, number> {
    const out: Record<string, number> = {};
    const snap = this.snapshot;
    for (let e = 0; e < snap.endpoints.length; e++) {
      const ms = this.probeRtt[e]!;
      if (Number.isNaN(ms)) continue;
      const region = snap.shards[snap.endpoints[e]!.shard]!.region;
      if (!(region in out) || ms < out[region]!) out[region] = Math.round(ms * 10) / 10;
    }
    return out;
  }

  /** The endpoints of `endpoint`'s backend, across its clusters: what the max-ejected share counts over. */
  backendRange(endpoint: number): [start: number, count: number] {
    const snap = this.snapshot;
    const b = snap.backends[snap.shards[snap.endpoints[endpoint]!.shard]!.backend]!;
    const first = snap.shards[b.shards[0]!]!;
    const last = snap.shards[b.shards[b.shards.length - 1]!]!;
    return [first.endpointStart, last.endpointStart + last.endpointCount - first.endpointStart];
  }

  /** A gateway error or 5xx from `endpoint` (passive health); returns true when it is ejected now. */
  upstreamFailure(endpoint: number, now = Date.now()): boolean {
    const [start, count] = this.backendRange(endpoint);
    if (!this.outlier.failure(endpoint, now, start, count)) return false;
    this.refreshHealth(endpoint, now);
    this.onEjected?.(endpoint, now, this.outlier.ejectedUntil[endpoint]!, this.outlier.times(endpoint));
    return true;
  }

  /** An ejection another proxy made; ignored when the endpoint has recovered since. */
  applyEjection(endpoint: number, since: number, until: number, now = Date.now()): boolean {
    if (since < this.recoveredAt[endpoint]!) return false;
    const [start, count] = this.backendRange(endpoint);
    if (!this.outlier.apply(endpoint, until, now, start, count)) return false;
    this.refreshHealth(endpoint, now);
    return true;
  }

  /** Another proxy saw `endpoint` recover: its ejection is over here too. */
  applyRecovery(endpoint: number, at: number, now = Date.now()): void {
    this.recoveredAt[endpoint] = Math.max(this.recoveredAt[endpoint]!, at);
    if (this.outlier.uneject(endpoint)) this.refreshHealth(endpoint, now);
  }

  /**
   * Health derived from both signals: the active checks say up and the outlier detector has not
   * ejected it. An endpoint the active checks saw fail and then pass is returned to service at
   * once, ejected or not (recordProbe, and here when the verdict goes from down to up). That is
   * Envoy's default (successful_active_health_check_uneject_host), but only after a failed
   * check: Envoy un-ejects on any passing check, which lets an endpoint that fails requests while
   * its health path passes back in every interval.
   */
  refreshHealth(endpoint: number, now = Date.now()): void {
    const up = this.probeUp(endpoint);
    if (up && this.probeUpSeen[endpoint] === 0 && this.outlier.isEjected(endpoint)) this.recover(endpoint, now, false);
    this.probeUpSeen[endpoint] = up ? 1 : 0;
    this.live.setHealthy(endpoint, up && !this.outlier.isEjected(endpoint));
  }

  private recover(endpoint: number, now: number, refresh = true): void {
    this.recoveredAt[endpoint] = now;
    this.outlier.uneject(endpoint);
    this.onRecovered?.(endpoint, now);
    if (refresh) this.refreshHealth(endpoint, now);
  }

  /**
   * The fleet's load for admission (see updateAdmission), or undefined to decide on this
   * process's own: set by the fleet sync while its view is fresh.
   */
  fleetLoad: (() => FleetLoad | undefined) | undefined;

  /** The period of wall-clock second `second` closed with this process's load `own` (the fleet sync reports it). */
  onPeriodClosed: ((second: number, own: PeriodLoad) => void) | undefined;

  /** Closes the rate period: end ejections whose time is up, re-balance the waterfall. */
  tick(now = Date.now()): void {
    this.live.endPeriod();
    // The tick runs on (about) the second: rounding names the second that just closed even when
    // the timer fires a millisecond early.
    const second = Math.round(now / 1000) - 1;
    this.flows.close(second);
    this.onPeriodClosed?.(second, ownLoad(this.live));
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
