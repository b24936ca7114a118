import { describe, expect, it } from 'vitest';
import { metricNames, withoutThresholds } from '../../helpers/promql.js';

describe('the PromQL reading the observability tests rely on', () => {
  it('finds the metric names, not functions, aggregations, label lists, matchers or durations', () => {
    expect(metricNames('sum by (backend, le) (rate(meridian_proxy_requests_total{backend!="", code=~"5.."}[5m])) / on (backend) group_left sum without (code) (x_total offset 5m)')).toEqual(['meridian_proxy_requests_total', 'x_total']);
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket[$__rate_interval]))) > 5 and max(up{job="p"}) == bool 1')).toEqual(['a_bucket', 'up']);
    expect(metricNames('count by (job) (count by (job, version) (meridian_proxy_table_info)) > 1e3')).toEqual(['meridian_proxy_table_info']);
    expect(metricNames('{__name__="by"} or vector(1)')).toEqual([]);
  });

  it('drops comparisons against numbers, leaving matchers alone', () => {
    expect(withoutThresholds('a{code!="5"} / b > 0.05\nand c > 0.1')).toBe('a{code!="5"} / b and c');
    expect(withoutThresholds('max by (x) (y{s="Offline"}) == 1')).toBe('max by (x) (y{s="Offline"})');
    expect(withoutThresholds('z >= bool 2.5e-3')).toBe('z');
  });
});
