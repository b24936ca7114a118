import { afterEach, describe, expect, it } from 'vitest';
import { RoutingState } from '../../../src/proxy/routing-state.js';
import type { GeoLocator } from '../../../src/routing/geoip.js';

const OUTLIER = { consecutiveErrors: 2, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectedShare: 0.5 };

function table(version: string, endpoints: Record<string, string[]>) {
  return {
    version,
    defaultBackend: 'web',
    backends: {
      web: {
        shards: Object.entries(endpoints).map(([cluster, addresses]) => ({
          cluster,
          region: cluster.startsWith('asia') ? 'asia-east1' : 'us-central1',
          maxRatePerEndpoint: 10,
          endpoints: addresses.map((a) => ({ address: a, port: 80 })),
        })),
      },
    },
  };
}

const states: RoutingState[] = [];
function newState(): RoutingState {
  // setTable and health never look anything up by GeoIP.
  const s = new RoutingState({} as GeoLocator, {}, OUTLIER, { healthy: 2, unhealthy: 2 }, { connectTimeoutMs: 100, connectionsPerEndpoint: 1, keepAliveTimeoutMs: 1000 });
  states.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(states.splice(0).map((s) => s.close()));
});

const idx = (s: RoutingState, key: string) => s.snapshot.endpointByKey.get(key)!;
function eject(s: RoutingState, e: number, now: number): void {
  for (let i = 0; i < OUTLIER.consecutiveErrors; i++) {
    if (s.outlier.failure(e, now, 0, s.snapshot.endpoints.length)) s.refreshHealth(e, now);
  }
}

describe('RoutingState: learnt state belongs to the endpoint and shard, not to the table', () => {
  it('a new table keeps an ejection, its back-off, probe streaks and admission shares; a new endpoint starts healthy', () => {
    const s = newState();
    s.setTable(table('v1', { 'us-a': ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'], 'asia-a': ['10.1.0.1'] }));
    const ejected = 'web|us-a|10.0.0.2:80';
    eject(s, idx(s, ejected), 1_000);
    const until = s.outlier.ejectedUntil[idx(s, ejected)];
    s.recordProbe(idx(s, 'web|us-a|10.0.0.3:80'), false, 1_000); // one failure of two
    s.live.shardAdmit[s.snapshot.shardByKey.get('web|us-a')!] = 0.4;
    s.live.regionAdmit[s.snapshot.groupByKey.get('web|us-central1')!] = 0.6;

    // The controller republishes: one endpoint added in front, the shards in another order.
    s.setTable(table('v2', { 'asia-a': ['10.1.0.1'], 'us-a': ['10.0.0.9', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] }));
    expect(s.outlier.isEjected(idx(s, ejected))).toBe(true);
    expect(s.outlier.ejectedUntil[idx(s, ejected)]).toBe(until);
    expect(s.outlier.times(idx(s, ejected))).toBe(1);
    expect(s.live.endpointHealthy[idx(s, ejected)]).toBe(0);
    expect(s.live.shardAdmit[s.snapshot.shardByKey.get('web|us-a')!]).toBe(0.4);
    expect(s.live.regionAdmit[s.snapshot.groupByKey.get('web|us-central1')!]).toBe(0.6);
    expect(s.live.endpointHealthy[idx(s, 'web|us-a|10.0.0.9:80')]).toBe(1);
    // The streak went on: the second failure after the change marks it down.
    expect(s.recordProbe(idx(s, 'web|us-a|10.0.0.3:80'), false, 2_000)).toBe(true);
    expect(s.live.endpointHealthy[idx(s, 'web|us-a|10.0.0.3:80')]).toBe(0);
  });

  it('an endpoint whose probes saw it fail and recover is un-ejected at once', () => {
    const s = newState();
    s.setTable(table('v1', { 'us-a': ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] }));
    const e = idx(s, 'web|us-a|10.0.0.1:80');
    eject(s, e, 1_000);
    s.recordProbe(e, false, 1_100);
    s.recordProbe(e, false, 2_100); // down by its probes too
    s.recordProbe(e, true, 3_100);
    // The ejection is over; the probes want one more pass before it is up.
    expect(s.outlier.isEjected(e)).toBe(false);
    expect(s.recoveredAt[e]).toBe(3_100);
    expect(s.live.endpointHealthy[e]).toBe(0);
    s.recordProbe(e, true, 4_100);
    expect(s.live.endpointHealthy[e]).toBe(1);
  });

  it('a pod back before its probes marked it down: one failed probe, then a pass, returns it at once', () => {
    const s = newState();
    s.setTable(table('v1', { 'us-a': ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] }));
    const e = idx(s, 'web|us-a|10.0.0.1:80');
    s.recordProbe(e, false, 900); // a probe failed just before the requests did
    eject(s, e, 1_000);
    s.recordProbe(e, true, 1_900);
    expect(s.live.endpointHealthy[e]).toBe(1);
  });

  it('an ejected endpoint whose probes never failed waits out its ejection', () => {
    const s = newState();
    s.setTable(table('v1', { 'us-a': ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] }));
    const e = idx(s, 'web|us-a|10.0.0.1:80');
    eject(s, e, 1_000);
    for (let t = 2_000; t < 6_000; t += 1_000) s.recordProbe(e, true, t);
    expect(s.outlier.isEjected(e)).toBe(true);
    expect(s.live.endpointHealthy[e]).toBe(0);
    s.tick(1_000 + OUTLIER.baseEjectionMs);
    expect(s.live.endpointHealthy[e]).toBe(1);
  });
});
