import { describe, expect, it } from 'vitest';
import { ProxyMetrics, type ShardHealthRow } from '../../../src/proxy/metrics.js';

const lines = async (m: ProxyMetrics, prefix: string) => (await m.registry.metrics()).split('\n').filter((l) => l.startsWith(prefix));

const row = (cluster: string, region: string, over: Partial<ShardHealthRow> = {}): ShardHealthRow => ({
  backend: 'web',
  cluster,
  region,
  endpoints: 3,
  healthy: 3,
  ejected: 0,
  probeDown: 0,
  fleetDown: 0,
  drained: false,
  ...over,
});

describe('ProxyMetrics', () => {
  it('exports no fleet store metrics for a proxy without a store: a standalone proxy is not "out of sync"', async () => {
    const m = new ProxyMetrics(false);
    expect(await lines(m, 'meridian_store_up')).toEqual([]);
    expect(await lines(m, 'meridian_fleet_proxies')).toEqual([]);
    m.storeSource = () => ({ up: true, lagSeconds: 0.4, proxies: 3 });
    expect(await lines(m, 'meridian_store_up')).toEqual(['meridian_store_up 1']);
    expect(await lines(m, 'meridian_store_sync_lag_seconds')).toEqual(['meridian_store_sync_lag_seconds 0.4']);
    expect(await lines(m, 'meridian_fleet_proxies')).toEqual(['meridian_fleet_proxies 3']);
    m.storeSource = () => ({ up: false, lagSeconds: 5, proxies: 3 }); // set again: read anew, registered once
    expect(await lines(m, 'meridian_store_up')).toEqual(['meridian_store_up 0']);
  });

  it("reads every shard's health when scraped, and a shard gone from the table is gone from the next scrape", async () => {
    const m = new ProxyMetrics(false);
    let rows = [row('asia-a', 'asia-east1', { healthy: 1, ejected: 1, probeDown: 1, fleetDown: 1 }), row('us-a', 'us-central1', { drained: true })];
    m.shardSource = () => rows;
    expect(await lines(m, 'meridian_proxy_shard_healthy_endpoints{')).toEqual([
      'meridian_proxy_shard_healthy_endpoints{backend="web",cluster="asia-a",region="asia-east1"} 1',
      'meridian_proxy_shard_healthy_endpoints{backend="web",cluster="us-a",region="us-central1"} 3',
    ]);
    expect(await lines(m, 'meridian_proxy_shard_endpoints{')).toContain('meridian_proxy_shard_endpoints{backend="web",cluster="asia-a",region="asia-east1"} 3');
    expect(await lines(m, 'meridian_proxy_shard_ejected_endpoints{')).toContain('meridian_proxy_shard_ejected_endpoints{backend="web",cluster="asia-a",region="asia-east1"} 1');
    expect(await lines(m, 'meridian_proxy_shard_probe_down_endpoints{')).toContain('meridian_proxy_shard_probe_down_endpoints{backend="web",cluster="asia-a",region="asia-east1"} 1');
    expect(await lines(m, 'meridian_proxy_shard_fleet_down_endpoints{')).toContain('meridian_proxy_shard_fleet_down_endpoints{backend="web",cluster="asia-a",region="asia-east1"} 1');
    expect(await lines(m, 'meridian_proxy_shard_drained{')).toContain('meridian_proxy_shard_drained{backend="web",cluster="us-a",region="us-central1"} 1');
    rows = [row('us-a', 'us-central1', { fleetDown: undefined })];
    const text = await m.registry.metrics();
    expect(text).not.toContain('asia-a');
    expect(text).toContain('meridian_proxy_shard_healthy_endpoints{backend="web",cluster="us-a",region="us-central1"} 3');
    // Out of sync with the fleet: no verdict to report, rather than a 0 that reads "none down".
    expect(text).not.toMatch(/^meridian_proxy_shard_fleet_down_endpoints\{/m);
  });

  it("drops a removed cluster's error and ejection counters once they have been quiet for the grace period", async () => {
    let now = 0;
    const m = new ProxyMetrics(false, () => now, 60_000);
    m.retainTable([{ backendName: 'web', cluster: 'asia-a', region: 'asia-east1' }, { backendName: 'web', cluster: 'us-a', region: 'us-central1' }], ['web']);
    m.upstreamErrors.inc({ cluster: 'asia-a', kind: 'ECONNREFUSED' });
    m.upstreamErrors.inc({ cluster: 'asia-a', kind: 'ECONNRESET' });
    m.ejections.inc({ cluster: 'asia-a' });
    m.upstreamErrors.inc({ cluster: 'us-a', kind: 'ECONNREFUSED' });
    m.retainTable([{ backendName: 'web', cluster: 'us-a', region: 'us-central1' }], ['web']);
    now = 30_000;
    m.upstreamErrors.inc({ cluster: 'asia-a', kind: 'ECONNREFUSED' }); // a request still in flight there
    expect(await lines(m, 'meridian_proxy_upstream_errors_total{cluster="asia-a"')).toHaveLength(2);
    now = 89_000;
    expect(await lines(m, 'meridian_proxy_outlier_ejections_total{cluster="asia-a"')).toEqual(['meridian_proxy_outlier_ejections_total{cluster="asia-a"} 1']);
    now = 90_000;
    const text = await m.registry.metrics();
    expect(text).not.toContain('asia-a');
    expect(text).toContain('meridian_proxy_upstream_errors_total{cluster="us-a",kind="ECONNREFUSED"} 1');
  });

  it('sums request counts and takes the most hopeful shard view across --workers', async () => {
    const { AggregatorRegistry } = await import('prom-client');
    const a = new ProxyMetrics(false);
    const b = new ProxyMetrics(false);
    a.shardSource = () => [row('asia-a', 'asia-east1', { healthy: 1 })];
    b.shardSource = () => [row('asia-a', 'asia-east1', { healthy: 2 })];
    a.requestDone({}, 'web', 'asia-a', 'asia-east1', 200, 0.001, 'asia-east1');
    b.requestDone({}, 'web', 'asia-a', 'asia-east1', 200, 0.001, 'asia-east1');
    const text = await AggregatorRegistry.aggregate([await a.registry.getMetricsAsJSON(), await b.registry.getMetricsAsJSON()]).metrics();
    expect(text).toContain('meridian_proxy_shard_healthy_endpoints{backend="web",cluster="asia-a",region="asia-east1"} 2');
    expect(text).toContain('meridian_proxy_flow_requests_total{client_region="asia-east1",cluster="asia-a",region="asia-east1"} 2');
  });
});
