import type { Registry } from 'prom-client';

/** Upper bounds (seconds) of the request duration histogram's buckets. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface ShardLabels {
  backend: string;
  cluster: string;
  region: string;
}

/** One label tuple's counts: requests per status code and the duration histogram. */
interface Series {
  labels: ShardLabels;
  codes: Map<number, number>;
  /** Per bucket (not cumulative); the last slot is +Inf. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * `meridian_proxy_requests_total` and `meridian_proxy_request_duration_seconds`, counted in
 * plain numbers on the request path and turned into Prometheus samples only when scraped.
 *
 * prom-client's own Counter and Histogram hash the label object on every increment (about
 * 1.5 µs per request for the pair, measured with a CPU profile under load); here the request
 * path does a WeakMap lookup by shard and a few additions. The two objects registered below
 * have the shape prom-client's Registry and AggregatorRegistry read (`get()`, `aggregator`),
 * so exposition and the summing across `--workers` stay prom-client's.
 */
export class RequestMetrics {
  /** Keyed by the snapshot's shard object: a table reload finds its series again by labels. */
  private readonly byShard = new WeakMap<object, Series>();
  private readonly byLabels = new Map<string, Series>();

  constructor(registry: Registry) {
    registerSummed(registry, 'meridian_proxy_requests_total', 'Requests by backend, cluster, region and status code', 'counter', () => this.requestSamples(), () => this.reset());
    registerSummed(registry, 'meridian_proxy_request_duration_seconds', 'Time from request to the last response byte', 'histogram', (name) => this.durationSamples(name), () => this.reset());
  }

  /** One finished request on `shard` (any object that stands for it in the current table). */
  observe(shard: object, backend: string, cluster: string, region: string, code: number, seconds: number): void {
    let s = this.byShard.get(shard);
    if (s === undefined) {
      const key = `${backend}\u0000${cluster}\u0000${region}`;
      s = this.byLabels.get(key);
      if (s === undefined) {
        s = { labels: { backend, cluster, region }, codes: new Map(), buckets: new Float64Array(DURATION_BUCKETS.length + 1), sum: 0, count: 0 };
        this.byLabels.set(key, s);
      }
      this.byShard.set(shard, s);
    }
    s.codes.set(code, (s.codes.get(code) ?? 0) + 1);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }

  /** Zeroes every series (prom-client's Registry.resetMetrics); shards keep their series. */
  private reset(): void {
    for (const s of this.byLabels.values()) {
      s.codes.clear();
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  private requestSamples(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const s of this.byLabels.values()) for (const [code, n] of s.codes) out.push({ labels: { ...s.labels, code: String(code) }, value: n });
    return out;
  }

  private durationSamples(name: string): MetricValue[] {
    const out: MetricValue[] = [];
    for (const s of this.byLabels.values()) {
      let cumulative = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        cumulative += s.buckets[i]!;
        out.push({ labels: { ...s.labels, le: DURATION_BUCKETS[i]! }, value: cumulative, metricName: `${name}_bucket` });
      }
      out.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${name}_bucket` });
      out.push({ labels: { ...s.labels }, value: s.sum, metricName: `${name}_sum` });
      out.push({ labels: { ...s.labels }, value: s.count, metricName: `${name}_count` });
    }
    return out;
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
