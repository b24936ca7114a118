import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';

/**
 * The proxy's Prometheus metrics. Labelled children are cached per label tuple so the request
 * path does a map lookup and an increment, not a label-object allocation per request.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'meridian_proxy_requests_total', help: 'Requests by backend, cluster, region and status code', labelNames: ['backend', 'cluster', 'region', 'code'], registers: [this.registry] });
  private readonly duration = new Histogram({
    name: 'meridian_proxy_request_duration_seconds',
    help: 'Time from request to the last response byte',
    labelNames: ['backend', 'cluster', 'region'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({ name: 'meridian_proxy_upstream_errors_total', help: 'Upstream failures by kind', labelNames: ['cluster', 'kind'], registers: [this.registry] });
  readonly retries = new Counter({ name: 'meridian_proxy_retries_total', help: 'Requests retried on another shard', registers: [this.registry] });
  readonly ejections = new Counter({ name: 'meridian_proxy_outlier_ejections_total', help: 'Endpoints ejected by passive outlier detection', labelNames: ['cluster'], registers: [this.registry] });
  readonly spillovers = new Counter({ name: 'meridian_proxy_spillover_total', help: 'Requests sent past the nearest region for capacity', registers: [this.registry] });
  readonly panics = new Counter({ name: 'meridian_proxy_panic_total', help: 'Requests routed in panic mode (nothing healthy)', registers: [this.registry] });
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
  readonly shardHealthy = new Gauge({ name: 'meridian_proxy_shard_healthy_endpoints', help: 'Healthy endpoints per shard', labelNames: ['backend', 'cluster'], registers: [this.registry] });
  readonly tableVersion = new Gauge({ name: 'meridian_proxy_table_info', help: 'The routing table in use (value 1)', labelNames: ['version'], registers: [this.registry] });

  /**
   * Per shard (keyed by the snapshot's shard object, so a table reload can never mix labels):
   * its duration child and its request counters by status code.
   */
  private readonly perShard = new WeakMap<object, { duration: { observe(v: number): void }; codes: Map<number, { inc(): void }>; labels: Record<string, string> }>();

  constructor(defaultMetrics = true) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'meridian_proxy_' });
  }

  requestDone(shard: object, backend: string, cluster: string, region: string, code: number, seconds: number): void {
    let m = this.perShard.get(shard);
    if (!m) {
      const labels = { backend, cluster, region };
      m = { duration: this.duration.labels(labels as LabelValues<string>), codes: new Map(), labels };
      this.perShard.set(shard, m);
    }
    let c = m.codes.get(code);
    if (!c) {
      c = this.requests.labels({ ...m.labels, code: String(code) } as LabelValues<string>);
      m.codes.set(code, c);
    }
    c.inc();
    m.duration.observe(seconds);
  }
}
