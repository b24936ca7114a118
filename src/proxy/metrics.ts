import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { RequestMetrics } from './request-metrics.js';

/**
 * The proxy's Prometheus metrics. The per-request pair (requests by code, duration) is counted
 * by RequestMetrics without prom-client's per-call label hashing; the rest are rare events.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
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
  readonly shardHealthy = new Gauge({ name: 'meridian_proxy_shard_healthy_endpoints', help: 'Healthy endpoints per shard', labelNames: ['backend', 'cluster'], registers: [this.registry] });
  readonly tableVersion = new Gauge({ name: 'meridian_proxy_table_info', help: 'The routing table in use (value 1)', labelNames: ['version'], registers: [this.registry] });
  readonly tablesRejected = new Counter({ name: 'meridian_proxy_tables_rejected_total', help: 'Routing tables from the store that failed validation (the last good one stays)', registers: [this.registry] });

  // The fleet (present when the proxy has a state store); read at scrape time.
  storeSource: (() => { up: boolean; lagSeconds: number; proxies: number }) | undefined;
  readonly storeErrors = new Counter({ name: 'meridian_store_errors_total', help: 'Failed calls to the state store, by operation', labelNames: ['op'], registers: [this.registry] });
  readonly fleetEjections = new Counter({ name: 'meridian_fleet_ejections_applied_total', help: 'Ejections made by other proxies of the fleet and applied here', labelNames: ['cluster'], registers: [this.registry] });
  readonly storeUp = this.storeGauge('meridian_store_up', 'Whether the fleet state is in sync through the store (1) or this proxy stands alone (0)', (s) => (s.up ? 1 : 0));
  readonly storeLag = this.storeGauge('meridian_store_sync_lag_seconds', 'Seconds since the last full read of the fleet state', (s) => s.lagSeconds);
  readonly fleetProxies = this.storeGauge('meridian_fleet_proxies', 'Live proxies of the fleet, as last read', (s) => s.proxies);

  private readonly requests = new RequestMetrics(this.registry);

  constructor(defaultMetrics = true) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'meridian_proxy_' });
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

  private storeGauge(name: string, help: string, read: (s: { up: boolean; lagSeconds: number; proxies: number }) => number): Gauge {
    const source = () => this.storeSource?.();
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      collect(this: Gauge) {
        const s = source();
        if (s) this.set(read(s));
      },
    });
  }

  /** A finished request: its status code and duration (seconds) on the shard that answered. */
  requestDone(shard: object, backend: string, cluster: string, region: string, code: number, seconds: number): void {
    this.requests.observe(shard, backend, cluster, region, code, seconds);
  }
}
