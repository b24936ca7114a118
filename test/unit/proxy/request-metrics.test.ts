import { AggregatorRegistry, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestMetrics, ROUTE_PANIC, ROUTE_SPILLED } from '../../../src/proxy/request-metrics.js';

const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));

describe('RequestMetrics', () => {
  it('exposes requests by code and a cumulative duration histogram in Prometheus text', async () => {
    const registry = new Registry();
    const m = new RequestMetrics(registry);
    const shard = {};
    m.observe(shard, 'web', 'us-a', 'us-central1', 200, 0.0004);
    m.observe(shard, 'web', 'us-a', 'us-central1', 200, 0.003);
    m.observe(shard, 'web', 'us-a', 'us-central1', 503, 20);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE meridian_proxy_requests_total counter');
    expect(text).toContain('# TYPE meridian_proxy_request_duration_seconds histogram');
    expect(lines(text, 'meridian_proxy_requests_total{')).toEqual([
      'meridian_proxy_requests_total{backend="web",cluster="us-a",region="us-central1",code="200"} 2',
      'meridian_proxy_requests_total{backend="web",cluster="us-a",region="us-central1",code="503"} 1',
    ]);
    const buckets = lines(text, 'meridian_proxy_request_duration_seconds_bucket');
    expect(buckets).toContain('meridian_proxy_request_duration_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="0.0005"} 1');
    expect(buckets).toContain('meridian_proxy_request_duration_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="0.0025"} 1');
    expect(buckets).toContain('meridian_proxy_request_duration_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="0.005"} 2');
    expect(buckets).toContain('meridian_proxy_request_duration_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="10"} 2');
    expect(buckets).toContain('meridian_proxy_request_duration_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="+Inf"} 3');
    expect(text).toContain('meridian_proxy_request_duration_seconds_sum{backend="web",cluster="us-a",region="us-central1"} 20.0034');
    expect(text).toContain('meridian_proxy_request_duration_seconds_count{backend="web",cluster="us-a",region="us-central1"} 3');
  });

  it('continues a series when a new table brings a new shard object with the same labels', async () => {
    const registry = new Registry();
    const m = new RequestMetrics(registry);
    m.observe({}, 'web', 'eu-a', 'europe-west1', 200, 0.001);
    m.observe({}, 'web', 'eu-a', 'europe-west1', 200, 0.001);
    m.observe({}, 'web', 'eu-b', 'europe-west1', 200, 0.001);
    const text = await registry.metrics();
    expect(text).toContain('meridian_proxy_requests_total{backend="web",cluster="eu-a",region="europe-west1",code="200"} 2');
    expect(text).toContain('meridian_proxy_requests_total{backend="web",cluster="eu-b",region="europe-west1",code="200"} 1');
  });

  it('sums across registries the way the --workers primary aggregates them', async () => {
    const a = new Registry();
    const b = new Registry();
    new RequestMetrics(a).observe({}, 'web', 'us-a', 'us-central1', 200, 0.002);
    const mb = new RequestMetrics(b);
    mb.observe({}, 'web', 'us-a', 'us-central1', 200, 0.02);
    mb.observe({}, 'web', 'us-a', 'us-central1', 200, 0.02);
    const sum = AggregatorRegistry.aggregate([await a.getMetricsAsJSON(), await b.getMetricsAsJSON()]);
    const text = await sum.metrics();
    expect(text).toContain('meridian_proxy_requests_total{backend="web",cluster="us-a",region="us-central1",code="200"} 3');
    expect(text).toContain('meridian_proxy_request_duration_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="0.0025"} 1');
    expect(text).toContain('meridian_proxy_request_duration_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="0.025"} 3');
    expect(text).toContain('meridian_proxy_request_duration_seconds_count{backend="web",cluster="us-a",region="us-central1"} 3');
  });

  it('resetMetrics zeroes the series', async () => {
    const registry = new Registry();
    const m = new RequestMetrics(registry);
    const shard = {};
    m.observe(shard, 'web', 'us-a', 'us-central1', 200, 0.001);
    registry.resetMetrics();
    m.observe(shard, 'web', 'us-a', 'us-central1', 200, 0.001);
    expect(await registry.metrics()).toContain('meridian_proxy_request_duration_seconds_count{backend="web",cluster="us-a",region="us-central1"} 1');
  });

  it('counts spill and panic by the shard that answered, zero included, and flows by client region summed over backends', async () => {
    const registry = new Registry();
    const m = new RequestMetrics(registry);
    m.observe({}, 'web', 'us-a', 'us-central1', 200, 0.001, 'asia-east1', ROUTE_SPILLED);
    m.observe({}, 'api', 'us-a', 'us-central1', 200, 0.001, 'asia-east1', ROUTE_SPILLED | ROUTE_PANIC);
    m.observe({}, 'web', 'asia-a', 'asia-east1', 200, 0.001, 'asia-east1');
    m.observe({}, '', '', '', 404, 0.0001); // the proxy's own answer: no flow, no shard counters
    const text = await registry.metrics();
    expect(lines(text, 'meridian_proxy_spillover_total{')).toEqual([
      'meridian_proxy_spillover_total{backend="web",cluster="us-a",region="us-central1"} 1',
      'meridian_proxy_spillover_total{backend="api",cluster="us-a",region="us-central1"} 1',
      'meridian_proxy_spillover_total{backend="web",cluster="asia-a",region="asia-east1"} 0',
    ]);
    expect(lines(text, 'meridian_proxy_panic_total{')).toContain('meridian_proxy_panic_total{backend="api",cluster="us-a",region="us-central1"} 1');
    expect(lines(text, 'meridian_proxy_panic_total{')).toContain('meridian_proxy_panic_total{backend="web",cluster="us-a",region="us-central1"} 0');
    expect(lines(text, 'meridian_proxy_flow_requests_total{')).toEqual([
      'meridian_proxy_flow_requests_total{client_region="asia-east1",cluster="us-a",region="us-central1"} 2',
      'meridian_proxy_flow_requests_total{client_region="asia-east1",cluster="asia-a",region="asia-east1"} 1',
    ]);
  });

  it('keeps what the proxy added apart from the whole request, and has no added latency for its own answers', async () => {
    const registry = new Registry();
    const m = new RequestMetrics(registry);
    m.observe({}, 'web', 'us-a', 'us-central1', 200, 0.2, 'us-central1', 0, 0.00007);
    m.observe({}, 'web', 'us-a', 'us-central1', 200, 0.3, 'us-central1', 0, 0.03); // a failed try first
    m.observe({}, '', '', '', 404, 0.0001);
    const added = lines(await registry.metrics(), 'meridian_proxy_added_latency_seconds_bucket');
    expect(added).toContain('meridian_proxy_added_latency_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="0.00005"} 0');
    expect(added).toContain('meridian_proxy_added_latency_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="0.0001"} 1');
    expect(added).toContain('meridian_proxy_added_latency_seconds_bucket{backend="web",cluster="us-a",region="us-central1",le="0.05"} 2');
    expect(added.filter((l) => l.includes('backend=""'))).toEqual([]);
  });

  describe('a shard that leaves the routing table', () => {
    const setup = () => {
      let now = 0;
      const registry = new Registry();
      const m = new RequestMetrics(registry, () => now, 60_000);
      const asia = { backendName: 'web', cluster: 'asia-a', region: 'asia-east1' };
      const us = { backendName: 'web', cluster: 'us-a', region: 'us-central1' };
      m.retainShards([asia, us]);
      m.observe(asia, 'web', 'asia-a', 'asia-east1', 200, 0.001, 'asia-east1');
      m.observe(us, 'web', 'us-a', 'us-central1', 200, 0.001, 'us-central1');
      m.observe({}, '', '', '', 404, 0.001);
      const series = async (cluster: string) => (await registry.metrics()).split('\n').filter((l) => l.includes(`cluster="${cluster}"`));
      return { m, asia, us, series, at: (t: number) => (now = t) };
    };

    it('keeps its series while they may still move, then stops exporting them', async () => {
      const { m, us, series, at } = setup();
      m.retainShards([us]); // asia-a is gone at t = 0
      at(59_000);
      expect(await series('asia-a')).not.toEqual([]);
      at(60_000);
      expect(await series('asia-a')).toEqual([]);
      expect((await series('us-a')).length).toBeGreaterThan(0);
      expect(await series('')).toContain('meridian_proxy_requests_total{backend="",cluster="",region="",code="404"} 1');
    });

    it('counts a request still finishing there, exports it, and drops it once quiet again', async () => {
      const { m, asia, us, series, at } = setup();
      m.retainShards([us]);
      at(50_000);
      m.observe(asia, 'web', 'asia-a', 'asia-east1', 200, 0.001, 'asia-east1'); // in flight when the table changed
      expect(await series('asia-a')).toContain('meridian_proxy_requests_total{backend="web",cluster="asia-a",region="asia-east1",code="200"} 2');
      at(100_000);
      expect((await series('asia-a')).length).toBeGreaterThan(0); // 50 s quiet: not yet
      at(110_000);
      expect(await series('asia-a')).toEqual([]);
      at(120_000);
      m.observe(asia, 'web', 'asia-a', 'asia-east1', 499, 0.001, 'asia-east1'); // a straggler after the drop: counted anew, retired at once
      expect(await series('asia-a')).toContain('meridian_proxy_requests_total{backend="web",cluster="asia-a",region="asia-east1",code="499"} 1');
      at(180_000);
      expect(await series('asia-a')).toEqual([]);
    });

    it('goes on as before when the shard comes back within the grace period', async () => {
      const { m, asia, us, series, at } = setup();
      m.retainShards([us]);
      at(30_000);
      m.retainShards([us, asia]);
      at(600_000);
      expect(await series('asia-a')).toContain('meridian_proxy_requests_total{backend="web",cluster="asia-a",region="asia-east1",code="200"} 1');
    });
  });
});
