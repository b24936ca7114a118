import { describe, expect, it } from 'vitest';
import { FlowCounter } from '../../../src/proxy/flows.js';
import { ClusterMemory, clusterStatus, fleetStatus, flowsStatus, shardStatus, sumFlows, type FlowsStatus } from '../../../src/proxy/status.js';
import { LiveState } from '../../../src/routing/live.js';
import { buildSnapshot, type RoutingSnapshot } from '../../../src/routing/snapshot.js';
import type { MemberRecord } from '../../../src/state/store.js';

const ep = (n: number) => Array.from({ length: n }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 80 }));

/** Four clusters in two regions; `web` everywhere but eu-a, `api` in us-a only. */
function table(version = 'v1', overrides: { asiaA?: number; asiaB?: number } = {}) {
  return {
    version,
    defaultBackend: 'web',
    clusters: {
      'asia-a': { region: 'asia-east1', location: { lat: 24.05, lon: 120.52 } },
      'asia-b': { region: 'asia-east1' },
      'us-a': { region: 'us-central1' },
      'eu-a': { region: 'europe-west1' },
    },
    backends: {
      web: {
        shards: [
          { cluster: 'asia-a', region: 'asia-east1', zone: 'asia-east1-a', endpoints: ep(overrides.asiaA ?? 4), maxRatePerEndpoint: 10 },
          { cluster: 'asia-b', region: 'asia-east1', zone: 'asia-east1-b', location: { lat: 25, lon: 121 }, endpoints: ep(overrides.asiaB ?? 4), maxRatePerEndpoint: 10 },
          { cluster: 'us-a', region: 'us-central1', endpoints: ep(2) },
        ],
      },
      api: { shards: [{ cluster: 'us-a', region: 'us-central1', endpoints: ep(2), capacityScaler: 0 }] },
    },
  };
}

function fresh(t = table()): { snap: RoutingSnapshot; live: LiveState } {
  const snap = buildSnapshot(t);
  return { snap, live: new LiveState(snap) };
}

const shard = (snap: RoutingSnapshot, key: string) => snap.shardByKey.get(key)!;
const endpoint = (snap: RoutingSnapshot, key: string) => snap.endpointByKey.get(key)!;
const byName = <T extends { name: string }>(rows: T[]) => Object.fromEntries(rows.map((r) => [r.name, r]));

describe('the status documents: the routing state as the status page and scripts read it', () => {
  it('places each cluster by its own location, else its shards\', else its region\'s; an unknown region has none', () => {
    const t = table();
    (t.clusters as Record<string, { region: string }>)['mars-a'] = { region: 'mars-north1' };
    const { snap, live } = fresh(t);
    const c = byName(clusterStatus(snap, live));
    expect(c['asia-a']!.location).toEqual({ lat: 24.05, lon: 120.52 });
    expect(c['asia-b']!.location).toEqual({ lat: 25, lon: 121 });
    expect(c['us-a']!.location).toEqual(snap.regionLocations[snap.regionByName.get('us-central1')!]);
    expect(c['mars-a']!.location).toBeNull();
    expect([c['asia-a']!.zone, c['us-a']!.zone]).toEqual(['asia-east1-a', null]);
  });

  it('colours a cluster by its shards\' health: up, degraded, down, drained, idle', () => {
    const { snap, live } = fresh(table('v1', { asiaA: 5, asiaB: 0 }));
    // us-a: web healthy; api drained by its operator (capacity scaler 0) → degraded.
    // asia-a: one endpoint of five down → degraded, then all down → down.
    live.setHealthy(endpoint(snap, 'web|asia-a|10.0.0.2:80'), false);
    let c = byName(clusterStatus(snap, live));
    expect(c['asia-a']).toMatchObject({ state: 'degraded', healthy: 4, endpoints: 5, reason: '4 of 5 endpoints healthy' });
    expect(c['asia-b']).toMatchObject({ state: 'down', endpoints: 0, reason: 'no ready endpoint: the cluster lists none for its Services' });
    expect(c['us-a']).toMatchObject({ state: 'degraded', shards: 2, healthy: 4, endpoints: 4 });
    expect(c['eu-a']).toMatchObject({ state: 'idle', shards: 0 });

    for (let i = 1; i <= 5; i++) live.setHealthy(endpoint(snap, `web|asia-a|10.0.0.${i}:80`), false);
    c = byName(clusterStatus(snap, live));
    expect(c['asia-a']).toMatchObject({ state: 'down', healthy: 0, reason: 'none of its 5 endpoints is healthy' });

    // One healthy endpoint of five: under 25 %, the safety valve drains the shard.
    live.setHealthy(endpoint(snap, 'web|asia-a|10.0.0.1:80'), true);
    expect(byName(clusterStatus(snap, live))['asia-a']).toMatchObject({ state: 'drained', healthy: 1 });

    const up = fresh();
    expect(byName(clusterStatus(up.snap, up.live))['asia-a']).toMatchObject({ state: 'up', reason: '4 of 4 endpoints healthy' });
  });

  it('gives per shard the healthy endpoints, the rate against capacity and the admitted shares', () => {
    const { snap, live } = fresh();
    live.setHealthy(endpoint(snap, 'web|asia-a|10.0.0.1:80'), false);
    const id = shard(snap, 'web|asia-a');
    live.shardRate[id] = 41.26;
    live.localRate[id] = 20.5;
    live.shardAdmit[id] = 0.6667;
    live.regionAdmit[snap.groupByKey.get('web|asia-east1')!] = 0.5;
    const rows = shardStatus(snap, live);
    expect(rows.find((s) => s.cluster === 'asia-a' && s.backend === 'web')).toEqual({
      backend: 'web',
      cluster: 'asia-a',
      region: 'asia-east1',
      zone: 'asia-east1-a',
      endpoints: 4,
      healthy: 3,
      drained: false,
      rateRps: 41.3,
      localRateRps: 20.5,
      capacityRps: 30,
      capacityScaler: 1,
      admitShare: 0.667,
      regionAdmitShare: 0.5,
    });
    expect(rows.find((s) => s.cluster === 'us-a' && s.backend === 'web')!.capacityRps).toBe('unlimited');
    expect(rows.find((s) => s.backend === 'api')).toMatchObject({ drained: true, capacityRps: 0 });
  });

  it('remembers a cluster that left the table as absent, where the map showed it, until it is forgotten', () => {
    const memory = new ClusterMemory(60_000);
    const before = fresh();
    memory.clusters(before.snap, before.live, 1_000);
    // asia-a goes Offline: the controller's next table lists it no more.
    const t = table('v2');
    delete (t.clusters as Record<string, unknown>)['asia-a'];
    t.backends.web.shards.shift();
    const after = fresh(t);
    const rows = memory.clusters(after.snap, after.live, 31_000);
    expect(rows.map((r) => r.name)).toEqual(['asia-b', 'us-a', 'eu-a', 'asia-a']);
    expect(rows.at(-1)).toMatchObject({ name: 'asia-a', state: 'absent', region: 'asia-east1', zone: 'asia-east1-a', location: { lat: 24.05, lon: 120.52 } });
    expect(rows.at(-1)!.reason).toMatch(/^not in the routing table for 30 s/);
    expect(memory.clusters(after.snap, after.live, 61_001).map((r) => r.name)).toEqual(['asia-b', 'us-a', 'eu-a']);
  });

  it('gives the flows with where their client regions are and their mean rate over the seconds counted', () => {
    const { snap } = fresh();
    const flows = new FlowCounter(60);
    flows.bind(snap);
    for (let i = 0; i < 30; i++) flows.count(snap, snap.regionByName.get('asia-northeast1')!, snap.clusterByName.get('asia-a')!);
    flows.count(snap, -1, snap.clusterByName.get('us-a')!);
    flows.close(10);
    flows.close(11);
    const f = flowsStatus(flows.read(), snap);
    expect(f.flows).toEqual([
      { from: 'asia-northeast1', to: 'asia-a', requests: 30, rps: 15, fromLocation: snap.regionLocations[snap.regionByName.get('asia-northeast1')!] },
      { from: null, to: 'us-a', requests: 1, rps: 0.5, fromLocation: null },
    ]);
    expect(f.flows[0]!.fromLocation).toEqual({ lat: expect.any(Number), lon: expect.any(Number) });
  });

  it('shows a proxy without a store alone, and a fleet\'s proxies with their sync lag from the fleet\'s last read', () => {
    const member = (id: string, lastSyncAt: number): MemberRecord => ({ id, host: 'h', pid: 1, version: '0.1.0', tableVersion: 't1', startedAt: 0, heartbeatAt: lastSyncAt, lastSyncAt, rttMs: {}, probing: { endpoints: 4, assigned: 2, k: 2 } });
    const self = member('p1', 0);
    expect(fleetStatus(self, undefined, 10_000)).toMatchObject({ mode: 'standalone', name: null, inSync: true, syncLagSeconds: null, proxies: [{ id: 'p1', ageSeconds: 10 }] });
    const f = fleetStatus(self, { fleet: 'demo', store: 'redis 127.0.0.1:1', members: [member('p2', 9_000), member('p1', 9_500)], lastSyncAt: 9_500, storeUp: true, inSync: true }, 10_000);
    expect(f).toMatchObject({ mode: 'fleet', name: 'demo', store: 'redis 127.0.0.1:1', inSync: true, syncLagSeconds: 0.5 });
    expect(f.proxies.map((p) => [p.id, p.syncLagSeconds])).toEqual([
      ['p1', 0.5],
      ['p2', 1],
    ]);
    // Before its own heartbeat lands, the proxy still lists itself.
    expect(fleetStatus(self, { fleet: 'demo', store: 's', members: [member('p2', 9_000)], lastSyncAt: 0, storeUp: false, inSync: false }, 10_000)).toMatchObject({ inSync: false, storeUp: false, syncLagSeconds: null, proxies: [{ id: 'p1' }, { id: 'p2' }] });
  });
});

describe('the flows of several workers as one host\'s (sumFlows)', () => {
  const TOKYO = { lat: 35.69, lon: 139.69 };
  /** A worker's flows over closed seconds [firstSecond, firstSecond + timeline length). */
  const reading = (firstSecond: number | null, flows: [string | null, string, number][], timeline: Record<string, number[]>, windowSeconds = 60): FlowsStatus => {
    const seconds = Object.values(timeline)[0]?.length ?? 0;
    return {
      windowSeconds,
      seconds: firstSecond === null ? 0 : seconds,
      from: firstSecond === null ? null : firstSecond * 1000,
      until: firstSecond === null ? null : (firstSecond + seconds) * 1000,
      flows: flows.map(([from, to, requests]) => ({ from, to, requests, fromLocation: from === 'asia-east1' ? TOKYO : null, rps: 0 })),
      timeline,
    };
  };

  it.each<[string, FlowsStatus[], Partial<FlowsStatus>]>([
    ['no worker', [], { seconds: 0, from: null, until: null, flows: [], timeline: {} }],
    [
      'one worker: its own flows, the rate over its seconds',
      [reading(100, [['asia-east1', 'asia-a', 4]], { 'asia-a': [1, 3] })],
      { seconds: 2, from: 100_000, until: 102_000, flows: [{ from: 'asia-east1', to: 'asia-a', requests: 4, fromLocation: TOKYO, rps: 2 }], timeline: { 'asia-a': [1, 3] } },
    ],
    [
      'two workers on the same seconds: each pair and each second summed, largest first',
      [
        reading(100, [['asia-east1', 'asia-a', 3], [null, 'us-a', 1]], { 'asia-a': [1, 2], 'us-a': [0, 1] }),
        reading(100, [[null, 'us-a', 5], ['asia-east1', 'asia-a', 1]], { 'asia-a': [1, 0], 'us-a': [2, 3] }),
      ],
      {
        seconds: 2,
        flows: [
          { from: null, to: 'us-a', requests: 6, fromLocation: null, rps: 3 },
          { from: 'asia-east1', to: 'asia-a', requests: 4, fromLocation: TOKYO, rps: 2 },
        ],
        timeline: { 'asia-a': [2, 2], 'us-a': [2, 4] },
      },
    ],
    [
      'a worker a second behind, and one started later: aligned on the wall clock',
      [reading(100, [[null, 'us-a', 3]], { 'us-a': [1, 1, 1] }), reading(101, [[null, 'us-a', 3]], { 'us-a': [1, 1, 1] }), reading(102, [[null, 'us-a', 1]], { 'us-a': [1] })],
      { seconds: 4, from: 100_000, until: 104_000, flows: [{ from: null, to: 'us-a', requests: 7, fromLocation: null, rps: 1.75 }], timeline: { 'us-a': [1, 2, 3, 1] } },
    ],
    [
      'the window ends at the latest second: older seconds of a lagging worker fall out of the timeline, not the totals',
      [reading(100, [[null, 'us-a', 3]], { 'us-a': [1, 1, 1] }, 3), reading(101, [[null, 'us-a', 6]], { 'us-a': [2, 2, 2] }, 3)],
      { seconds: 3, from: 101_000, until: 104_000, flows: [{ from: null, to: 'us-a', requests: 9, fromLocation: null, rps: 3 }], timeline: { 'us-a': [3, 3, 2] } },
    ],
    [
      'a worker with no closed second yet adds its clusters to the timeline, nothing else',
      [reading(100, [[null, 'us-a', 2]], { 'us-a': [2] }), reading(null, [], { 'eu-a': [] })],
      { seconds: 1, flows: [{ from: null, to: 'us-a', requests: 2, fromLocation: null, rps: 2 }], timeline: { 'us-a': [2], 'eu-a': [0] } },
    ],
  ])('%s', (_name, readings, expected) => {
    expect(sumFlows(readings)).toMatchObject(expected);
  });

  it('does not change the workers\' readings', () => {
    const a = reading(100, [[null, 'us-a', 2]], { 'us-a': [2] });
    const b = reading(100, [[null, 'us-a', 3]], { 'us-a': [3] });
    sumFlows([a, b]);
    expect([a.flows[0]!.requests, a.timeline['us-a'], b.flows[0]!.requests]).toEqual([2, [2], 3]);
  });
});
