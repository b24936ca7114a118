import { AggregatorRegistry, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestMetrics } from '../../../src/proxy/request-metrics.js';

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
});
