import { Counter, Gauge, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';
import { RequestMetrics, RETIRED_SERIES_GRACE_MS } from './request-metrics.js';

/** One shard as the routing state sees it now, read at scrape time. */
export interface ShardHealthRow {
  backend: string;
  cluster: string;
  region: string;
  /** Endpoints the table lists. */
  endpoints: number;
  /** Endpoints requests may go to: the active checks say up (the fleet's verdict in a fleet) and not ejected. */
  healthy: number;
  /** Endpoints ejected by passive outlier detection (this proxy's, or applied from the fleet). */
  ejected: number;
  /** Endpoints this proxy probes whose probes it finds failing: its own votes. */
  probeDown: number;
  /** Endpoints the majority of their probers vote down; undefined when not in sync with a fleet. */
  fleetDown: number | undefined;
  /** Drained: under the healthy share routing uses a shard at (see choose()). */
  drained: boolean;
}

export interface StoreReading {
  up: boolean;
  lagSeconds: number;
  proxies: number;
}

type ShardField = 'endpoints' | 'healthy' | 'ejected' | 'probeDown' | 'fleetDown' | 'drained';
const SHARD_LABELS = ['backend', 'cluster', 'region'] as const;

/**
 * A counter of rare events labelled by cluster that tells its owner each label set it counts, so
 * the series of a cluster that left the routing table can be dropped (see ProxyMetrics.retainTable).
 */
class ClusterCounter<T extends 'cluster' | 'kind'> {
  constructor(
    readonly counter: Counter<T>,
    private readonly owner: ProxyMetrics,
  ) {}

  inc(labels: LabelValues<T> & { cluster: string }, value = 1): void {
    this.counter.inc(labels, value);
    this.owner.touched(this.counter as unknown as Counter<string>, labels as LabelValues<string>);
  }
}

/**
 * The proxy's Prometheus metrics. The per-request ones (requests by code, duration, spillover,
 * panics, flows) are counted by RequestMetrics without prom-client's per-call label hashing; the
 * rest are rare events, or read from the routing state when scraped.
 *
 * Nothing here outlives what it describes: a shard or cluster gone from the routing table stops
 * being exported (gauges at once, counters once quiet for a grace period), and the fleet's store
 * metrics exist only for a proxy that has a store (a standalone proxy is not "out of sync").
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  readonly upstreamErrors = this.clusterCounter('meridian_proxy_upstream_errors_total', 'Upstream failures by cluster and kind (ECONNREFUSED, ECONNRESET, UND_ERR_HEADERS_TIMEOUT, …)', ['cluster', 'kind']);
  readonly retries = new Counter({ name: 'meridian_proxy_retries_total', help: 'Requests retried on another shard', registers: [this.registry] });
  readonly ejections = this.clusterCounter('meridian_proxy_outlier_ejections_total', 'Endpoints ejected by passive outlier detection', ['cluster']);
  /** Read at scrape time, so the request path pays nothing for it. */
  inFlightSource: () => number = () => 0;
  readonly inFlight = new Gauge({
    name: 'meridian_proxy_in_flight_requests',
    help: 'Requests being proxied',
    registers: [this.registry],
    collect: () => {
      this.inFlight.set(this.inFlightSource());
    },
  });
  /** Read at scrape time: upgraded connections (WebSocket tunnels) open now. */
  tunnelSource: () => number = () => 0;
  readonly tunnelsActive = new Gauge({
    name: 'meridian_proxy_tunnels_active',
    help: 'Upgraded connections (WebSocket tunnels) open now',
    registers: [this.registry],
    collect: () => {
      this.tunnelsActive.set(this.tunnelSource());
    },
  });
  readonly tunnels = new Counter({ name: 'meridian_proxy_tunnels_total', help: 'Upgrade requests by outcome: upgraded, refused-by-origin (not 101: answer relayed, connection closed), refused-by-proxy, limited, failed', labelNames: ['outcome'], registers: [this.registry] });
  /** Read at scrape time: per cluster, connections carrying a request and requests waiting for one. */
  upstreamSource: () => Map<string, { active: number; queued: number }> = () => new Map();
  readonly upstreamActive = this.upstreamGauge('meridian_proxy_upstream_active_connections', 'Upstream connections carrying a request, per cluster', 'active');
  readonly upstreamQueued = this.upstreamGauge('meridian_proxy_upstream_queued_requests', 'Requests waiting for an upstream connection (endpoint at limits.upstreamConnectionsPerEndpoint), per cluster', 'queued');

  /** Read at scrape time: every shard of the current table (see ShardHealthRow). */
  shardSource: () => readonly ShardHealthRow[] = () => [];
  /** This scrape's rows: read by the first shard gauge (a registry collects in registration order), reused by the others. */
  private shardRows: readonly ShardHealthRow[] = [];
  readonly shardEndpoints = this.shardGauge('meridian_proxy_shard_endpoints', 'Endpoints per shard in the routing table', 'endpoints', true);
  readonly shardHealthy = this.shardGauge('meridian_proxy_shard_healthy_endpoints', 'Healthy endpoints per shard: up by the active checks (the fleet\'s verdict in a fleet) and not ejected', 'healthy');
  readonly shardEjected = this.shardGauge('meridian_proxy_shard_ejected_endpoints', 'Endpoints per shard ejected by passive outlier detection', 'ejected');
  readonly shardProbeDown = this.shardGauge('meridian_proxy_shard_probe_down_endpoints', 'Endpoints per shard this proxy probes and finds failing (in a fleet only its share: those it votes on, and one per region whose round trip it times)', 'probeDown');
  readonly shardFleetDown = this.shardGauge('meridian_proxy_shard_fleet_down_endpoints', 'Endpoints per shard the majority of their probers vote down (only while in sync with a fleet)', 'fleetDown');
  readonly shardDrained = this.shardGauge('meridian_proxy_shard_drained', '1 while routing drains the shard (under its healthy share, at most half the shards at once)', 'drained');

  readonly tableVersion = new Gauge({ name: 'meridian_proxy_table_info', help: 'The routing table in use (value 1)', labelNames: ['version'], registers: [this.registry], aggregator: 'max' });
  readonly tablesRejected = new Counter({ name: 'meridian_proxy_tables_rejected_total', help: 'Routing tables from the store that failed validation (the last good one stays)', registers: [this.registry] });

  // The fleet (present when the proxy has a state store).
  readonly storeErrors = new Counter({ name: 'meridian_store_errors_total', help: 'Failed calls to the state store, by operation', labelNames: ['op'], registers: [this.registry] });
  readonly fleetEjections = this.clusterCounter('meridian_fleet_ejections_applied_total', 'Ejections made by other proxies of the fleet and applied here', ['cluster']);
  private storeReading: (() => StoreReading) | undefined;

  private readonly requests: RequestMetrics;
  /** Clusters of the current table (undefined before the first), and per cluster the counters' label sets. */
  private clusters: Set<string> | undefined;
  private readonly clusterSeries = new Map<string, { sets: Map<Counter<string>, Map<string, LabelValues<string>>>; activity: number; retired?: { activity: number; since: number } }>();

  constructor(
    defaultMetrics = true,
    private readonly now: () => number = () => performance.now(),
    private readonly graceMs = RETIRED_SERIES_GRACE_MS,
  ) {
    this.requests = new RequestMetrics(this.registry, now, graceMs);
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'meridian_proxy_' });
  }

  /**
   * The fleet's sync state, read at scrape time. Setting it (a proxy with a store) registers
   * `meridian_store_up`, `meridian_store_sync_lag_seconds` and `meridian_fleet_proxies`; a proxy
   * without a store exports none of them, rather than a 0 that reads as "out of sync".
   */
  set storeSource(read: () => StoreReading) {
    const first = this.storeReading === undefined;
    this.storeReading = read;
    if (!first) return;
    this.storeGauge('meridian_store_up', 'Whether the fleet state is in sync through the store (1) or this proxy stands alone (0)', 'min', (s) => (s.up ? 1 : 0));
    this.storeGauge('meridian_store_sync_lag_seconds', 'Seconds since the last full read of the fleet state (NaN before the first)', 'max', (s) => s.lagSeconds);
    this.storeGauge('meridian_fleet_proxies', 'Live proxies of the fleet, as last read', 'max', (s) => s.proxies);
  }

  /**
   * A new routing table is in use: the series of shards, backends and clusters it no longer has
   * are dropped once they have not moved for the grace period (gauges read from the table drop
   * them at once).
   */
  retainTable(shards: Iterable<{ backendName: string; cluster: string; region: string }>, backends: Iterable<string>): void {
    const kept: { backendName: string; cluster: string; region: string }[] = [];
    const clusters = new Set<string>();
    for (const s of shards) {
      kept.push(s);
      clusters.add(s.cluster);
    }
    for (const b of backends) kept.push({ backendName: b, cluster: '', region: '' });
    this.requests.retainShards(kept);
    this.clusters = clusters;
    const now = this.now();
    for (const [cluster, c] of this.clusterSeries) {
      if (clusters.has(cluster)) delete c.retired;
      else c.retired ??= { activity: c.activity, since: now };
    }
  }

  /** @internal A ClusterCounter was incremented. */
  touched(counter: Counter<string>, labels: LabelValues<string>): void {
    const cluster = String(labels.cluster ?? '');
    let c = this.clusterSeries.get(cluster);
    if (!c) {
      this.clusterSeries.set(cluster, (c = { sets: new Map(), activity: 0 }));
      if (this.clusters && !this.clusters.has(cluster)) c.retired = { activity: 0, since: this.now() };
    }
    c.activity++;
    let sets = c.sets.get(counter);
    if (!sets) c.sets.set(counter, (sets = new Map()));
    const key = JSON.stringify(labels);
    if (!sets.has(key)) sets.set(key, { ...labels });
  }

  /** At scrape time: removes the counters' series of clusters that left the table and have been quiet for the grace period. */
  private pruneClusters(): void {
    const now = this.now();
    for (const [cluster, c] of this.clusterSeries) {
      const r = c.retired;
      if (!r) continue;
      if (c.activity !== r.activity) {
        r.activity = c.activity;
        r.since = now;
      } else if (now - r.since >= this.graceMs) {
        for (const [counter, sets] of c.sets) for (const labels of sets.values()) counter.remove(labels);
        this.clusterSeries.delete(cluster);
      }
    }
  }

  private clusterCounter<T extends 'cluster' | 'kind'>(name: string, help: string, labelNames: T[]): ClusterCounter<T> {
    // Pruned as each is scraped (cheap: a walk over the clusters seen), so none exports a series it is about to drop.
    return new ClusterCounter(new Counter<T>({ name, help, labelNames, registers: [this.registry], collect: () => this.pruneClusters() }), this);
  }

  private upstreamGauge(name: string, help: string, field: 'active' | 'queued'): Gauge<'cluster'> {
    const source = () => this.upstreamSource();
    return new Gauge({
      name,
      help,
      labelNames: ['cluster'],
      registers: [this.registry],
      collect(this: Gauge<'cluster'>) {
        this.reset(); // a cluster gone from the table drops out
        for (const [cluster, load] of source()) this.set({ cluster }, load[field]);
      },
    });
  }

  /** The shard rows: read anew by the first shard gauge, reused by the rest. */
  private rows(fresh: boolean): readonly ShardHealthRow[] {
    if (fresh) this.shardRows = this.shardSource();
    return this.shardRows;
  }

  private shardGauge(name: string, help: string, field: ShardField, first = false): Gauge<(typeof SHARD_LABELS)[number]> {
    const rows = () => this.rows(first);
    return new Gauge({
      name,
      help,
      labelNames: SHARD_LABELS,
      registers: [this.registry],
      // Each --workers process has its own view of the same fleet: the most hopeful one.
      aggregator: 'max',
      collect(this: Gauge<(typeof SHARD_LABELS)[number]>) {
        this.reset(); // a shard gone from the table drops out
        for (const r of rows()) {
          const v = r[field];
          if (v === undefined) continue;
          this.set({ backend: r.backend, cluster: r.cluster, region: r.region }, typeof v === 'boolean' ? (v ? 1 : 0) : v);
        }
      },
    });
  }

  private storeGauge(name: string, help: string, aggregator: 'min' | 'max', read: (s: StoreReading) => number): void {
    const source = () => this.storeReading?.();
    new Gauge({
      name,
      help,
      registers: [this.registry],
      aggregator,
      collect(this: Gauge) {
        const s = source();
        if (s) this.set(read(s));
      },
    });
  }

  /**
   * A finished request: its status code and duration (seconds) on the shard that answered, where
   * its client is ('' when the proxy answered it itself), how it was routed (ROUTE_* flags) and
   * the time the proxy added to it (negative: not proxied).
   */
  requestDone(shard: object, backend: string, cluster: string, region: string, code: number, seconds: number, clientRegion = '', route = 0, addedSeconds = -1): void {
    this.requests.observe(shard, backend, cluster, region, code, seconds, clientRegion, route, addedSeconds);
  }
}
