import type { Registry } from 'prom-client';

/** Upper bounds (seconds) of the request duration histogram's buckets. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/**
 * Upper bounds (seconds) of the added-latency histogram: what the proxy adds is meant to be well
 * under a millisecond, so its buckets start at 50 µs.
 */
export const ADDED_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/** How a request was routed, for `observe`'s `route` flags. */
export const ROUTE_SPILLED = 1;
export const ROUTE_PANIC = 2;

/** How long the series of a shard that left the routing table are still exported once they stop changing. */
export const RETIRED_SERIES_GRACE_MS = 5 * 60_000;

/** Client region of a request whose client could not be placed. */
export const UNKNOWN_CLIENT_REGION = 'unknown';

interface ShardLabels {
  backend: string;
  cluster: string;
  region: string;
}

/** Set once what a series counts for left the table: its activity then, and since when it has not moved (ms). */
interface Retirable {
  retired?: { count: number; since: number };
  /** Dropped from the export: a request still finishing on it finds (or makes) a new one by labels. */
  dropped?: true;
}

/** Requests from one client region answered by one cluster (all backends). */
interface Flow extends Retirable {
  labels: { client_region: string; cluster: string; region: string };
  value: number;
}

/** One label tuple's counts: requests per status code, the duration histogram, how they were routed and where their clients were. */
interface Series extends Retirable {
  key: string;
  labels: ShardLabels;
  codes: Map<number, number>;
  /** Per bucket (not cumulative); the last slot is +Inf. */
  buckets: Float64Array;
  sum: number;
  count: number;
  /** The added-latency histogram, as `buckets` (its count is `addedCount`). */
  added: Float64Array;
  addedSum: number;
  addedCount: number;
  spilled: number;
  panics: number;
  /** This shard's flow per client region (shared with the other backends' shards of its cluster). */
  clients: Map<string, Flow>;
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

const keyOf = (backend: string, cluster: string, region: string) => `${backend}\u0000${cluster}\u0000${region}`;

/**
 * The per-request metrics, counted in plain numbers on the request path and turned into
 * Prometheus samples only when scraped:
 *
 * - `meridian_proxy_requests_total{backend,cluster,region,code}` and
 *   `meridian_proxy_request_duration_seconds{backend,cluster,region}`;
 * - `meridian_proxy_added_latency_seconds{backend,cluster,region}`: what the proxy added to a
 *   proxied request — its time before the answering try went upstream (intake, GeoIP, routing,
 *   earlier failed tries); the rest is the way to the cluster and the origin's own time;
 * - `meridian_proxy_spillover_total` and `meridian_proxy_panic_total` by the shard that answered;
 * - `meridian_proxy_flow_requests_total{client_region,cluster,region}`: where the world's
 *   requests go (summed over backends, so its size is client regions × clusters).
 *
 * prom-client's own Counter and Histogram hash the label object on every increment (about
 * 1.5 µs per request for the pair, measured with a CPU profile under load); here the request
 * path does a WeakMap lookup by shard and a few additions. The objects registered below have
 * the shape prom-client's Registry and AggregatorRegistry read (`get()`, `aggregator`), so
 * exposition and the summing across `--workers` stay prom-client's.
 *
 * Series belong to shards by identity (backend, cluster, region): a new table finds them again,
 * and a shard that leaves the table (`retainShards`) has its series dropped once they have not
 * moved for `graceMs` — long enough for every scrape to have seen their last value, and for
 * requests still in flight on it to finish. Without that, every cluster or backend ever routed
 * to would stay exported for the life of the process.
 */
export class RequestMetrics {
  /** Keyed by the snapshot's shard object: a table reload finds its series again by labels. */
  private readonly byShard = new WeakMap<object, Series>();
  private readonly byLabels = new Map<string, Series>();
  /** Flows by client region, cluster and region: they outlive a backend's shard while the cluster stays. */
  private readonly flows = new Map<string, Flow>();
  /** Label keys of the shards in the current table, and `cluster\0region` of its clusters (undefined: no table given yet, keep all). */
  private current: Set<string> | undefined;
  private currentClusters: Set<string> | undefined;

  constructor(
    registry: Registry,
    private readonly now: () => number = () => performance.now(),
    private readonly graceMs = RETIRED_SERIES_GRACE_MS,
  ) {
    const sum = (name: string, help: string, type: 'counter' | 'histogram', samples: (name: string) => MetricValue[]) =>
      registerSummed(registry, name, help, type, (n) => {
        this.prune();
        return samples(n);
      }, () => this.reset());
    sum('meridian_proxy_requests_total', 'Requests by backend, cluster, region and status code (499: the client left before the response; cluster "" : answered by the proxy itself)', 'counter', () => this.requestSamples());
    sum('meridian_proxy_request_duration_seconds', 'Time from request to the last response byte', 'histogram', (name) => this.durationSamples(name, DURATION_BUCKETS, (s) => s.buckets, (s) => s.sum, (s) => s.count));
    sum(
      'meridian_proxy_added_latency_seconds',
      'Time the proxy added to a proxied request: from its arrival to its answering try going upstream (intake, GeoIP, routing, earlier failed tries)',
      'histogram',
      (name) => this.durationSamples(name, ADDED_BUCKETS, (s) => s.added, (s) => s.addedSum, (s) => s.addedCount),
    );
    sum('meridian_proxy_spillover_total', 'Requests sent past their nearest region with capacity (the waterfall), by the shard that answered them', 'counter', () => this.shardCounter((s) => s.spilled));
    sum('meridian_proxy_panic_total', 'Requests routed in panic mode (nothing healthy: failed open across every shard), by the shard that answered them', 'counter', () => this.shardCounter((s) => s.panics));
    sum(
      'meridian_proxy_flow_requests_total',
      'Requests by client region (the known region nearest the client: GeoIP, its own cluster\'s region when it is inside one, the proxy\'s region when its place is unknown, "unknown" without one) and the cluster and region that answered',
      'counter',
      () => this.flowSamples(),
    );
  }

  /**
   * One finished request on `shard` (any object that stands for it in the current table).
   * `clientRegion`: where its client is ('' for requests the proxy answered itself); `route`:
   * ROUTE_SPILLED and ROUTE_PANIC flags of the choice that sent it there; `addedSeconds`: what
   * the proxy added (negative: not proxied).
   */
  observe(shard: object, backend: string, cluster: string, region: string, code: number, seconds: number, clientRegion = '', route = 0, addedSeconds = -1): void {
    let s = this.byShard.get(shard);
    if (s === undefined || s.dropped) {
      s = this.series(backend, cluster, region);
      this.byShard.set(shard, s);
    }
    s.codes.set(code, (s.codes.get(code) ?? 0) + 1);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
    if (addedSeconds >= 0) {
      let j = 0;
      while (j < ADDED_BUCKETS.length && addedSeconds > ADDED_BUCKETS[j]!) j++;
      s.added[j]!++;
      s.addedSum += addedSeconds;
      s.addedCount++;
    }
    if (route !== 0) {
      if (route & ROUTE_SPILLED) s.spilled++;
      if (route & ROUTE_PANIC) s.panics++;
    }
    if (clientRegion !== '') {
      let f = s.clients.get(clientRegion);
      if (f === undefined || f.dropped) s.clients.set(clientRegion, (f = this.flow(clientRegion, cluster, region)));
      f.value++;
    }
  }

  /**
   * The shards of the routing table now in use (each backend's refusals, cluster "", count as
   * one of its shards). Series of the others are dropped once quiet for the grace period; the
   * proxy's own answers before any backend (backend "") are always kept.
   */
  retainShards(shards: Iterable<{ backendName: string; cluster: string; region: string }>): void {
    const current = new Set<string>();
    const clusters = new Set<string>();
    for (const s of shards) {
      current.add(keyOf(s.backendName, s.cluster, s.region));
      if (s.cluster !== '') clusters.add(`${s.cluster}\u0000${s.region}`);
    }
    this.current = current;
    this.currentClusters = clusters;
    const now = this.now();
    for (const s of this.byLabels.values()) {
      if (this.kept(s.key)) delete s.retired;
      else s.retired ??= { count: s.count, since: now };
    }
    for (const f of this.flows.values()) {
      if (this.flowKept(f.labels.cluster, f.labels.region)) delete f.retired;
      else f.retired ??= { count: f.value, since: now };
    }
  }

  private kept(key: string): boolean {
    return this.current === undefined || key.startsWith('\u0000') || this.current.has(key);
  }

  private flowKept(cluster: string, region: string): boolean {
    return this.currentClusters === undefined || this.currentClusters.has(`${cluster}\u0000${region}`);
  }

  private flow(clientRegion: string, cluster: string, region: string): Flow {
    const key = `${clientRegion}\u0000${cluster}\u0000${region}`;
    let f = this.flows.get(key);
    if (f === undefined) {
      f = { labels: { client_region: clientRegion, cluster, region }, value: 0 };
      if (!this.flowKept(cluster, region)) f.retired = { count: 0, since: this.now() };
      this.flows.set(key, f);
    }
    return f;
  }

  private series(backend: string, cluster: string, region: string): Series {
    const key = keyOf(backend, cluster, region);
    let s = this.byLabels.get(key);
    if (s === undefined) {
      s = {
        key,
        labels: { backend, cluster, region },
        codes: new Map(),
        buckets: new Float64Array(DURATION_BUCKETS.length + 1),
        sum: 0,
        count: 0,
        added: new Float64Array(ADDED_BUCKETS.length + 1),
        addedSum: 0,
        addedCount: 0,
        spilled: 0,
        panics: 0,
        clients: new Map(),
      };
      // A request finishing on a shard that has left the table: counted, and retired at once.
      if (!this.kept(key)) s.retired = { count: 0, since: this.now() };
      this.byLabels.set(key, s);
    }
    return s;
  }

  /** At each scrape: drops the series of shards (and flows of clusters) gone from the table that have not moved for the grace period. */
  private prune(): void {
    const now = this.now();
    this.pruneMap(this.byLabels, (s) => s.count, now);
    this.pruneMap(this.flows, (f) => f.value, now);
  }

  private pruneMap<T extends Retirable>(map: Map<string, T>, activity: (t: T) => number, now: number): void {
    for (const [key, t] of map) {
      const r = t.retired;
      if (r === undefined) continue;
      const n = activity(t);
      if (n !== r.count) {
        r.count = n;
        r.since = now;
      } else if (now - r.since >= this.graceMs) {
        t.dropped = true;
        map.delete(key);
      }
    }
  }

  /** Zeroes every series (prom-client's Registry.resetMetrics); shards keep their series. */
  private reset(): void {
    for (const s of this.byLabels.values()) {
      s.codes.clear();
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
      s.added.fill(0);
      s.addedSum = 0;
      s.addedCount = 0;
      s.spilled = 0;
      s.panics = 0;
      if (s.retired) s.retired.count = 0;
    }
    for (const f of this.flows.values()) {
      f.value = 0;
      if (f.retired) f.retired.count = 0;
    }
  }

  private requestSamples(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const s of this.byLabels.values()) for (const [code, n] of s.codes) out.push({ labels: { ...s.labels, code: String(code) }, value: n });
    return out;
  }

  private durationSamples(name: string, bounds: readonly number[], buckets: (s: Series) => Float64Array, sum: (s: Series) => number, count: (s: Series) => number): MetricValue[] {
    const out: MetricValue[] = [];
    for (const s of this.byLabels.values()) {
      // The proxy's own answers have no added latency: no histogram for them.
      if (buckets(s) === s.added && s.labels.cluster === '') continue;
      const b = buckets(s);
      let cumulative = 0;
      for (let i = 0; i < bounds.length; i++) {
        cumulative += b[i]!;
        out.push({ labels: { ...s.labels, le: bounds[i]! }, value: cumulative, metricName: `${name}_bucket` });
      }
      out.push({ labels: { ...s.labels, le: '+Inf' }, value: count(s), metricName: `${name}_bucket` });
      out.push({ labels: { ...s.labels }, value: sum(s), metricName: `${name}_sum` });
      out.push({ labels: { ...s.labels }, value: count(s), metricName: `${name}_count` });
    }
    return out;
  }

  /** One sample per shard series (zero included, so rates and ratios exist before the first event). */
  private shardCounter(value: (s: Series) => number): MetricValue[] {
    const out: MetricValue[] = [];
    for (const s of this.byLabels.values()) if (s.labels.cluster !== '') out.push({ labels: { ...s.labels }, value: value(s) });
    return out;
  }

  private flowSamples(): MetricValue[] {
    return [...this.flows.values()].map((f) => ({ labels: { ...f.labels }, value: f.value }));
  }
}

/**
 * A duck-typed metric: prom-client's Registry calls get()/reset() and reads name, help and type;
 * AggregatorRegistry sums it across `--workers` by its `aggregator`.
 */
function registerSummed(registry: Registry, name: string, help: string, type: 'counter' | 'histogram', samples: (name: string) => MetricValue[], reset: () => void): void {
  const metric = { name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: samples(name) }), reset };
  registry.registerMetric(metric as never);
}
