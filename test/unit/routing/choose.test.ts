import { describe, expect, it } from 'vitest';
import { choose, newDecision, type ClientFacts } from '../../../src/routing/choose.js';
import { explain } from '../../../src/routing/explain.js';
import { LiveState } from '../../../src/routing/live.js';
import { buildSnapshot, locateClient, type RoutingSnapshot } from '../../../src/routing/snapshot.js';
import type { RoutingTable } from '../../../src/routing/table.js';

function seeded(seed = 7): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

type ShardSpec = { cluster: string; region: string; endpoints: number; maxRate?: number; scaler?: number };
function table(shards: ShardSpec[], clusters: Record<string, string[]> = {}): RoutingTable {
  let octet = 0;
  return {
    version: 't',
    routes: [],
    defaultBackend: 'svc',
    backends: {
      svc: {
        shards: shards.map((s) => ({
          cluster: s.cluster,
          region: s.region,
          endpoints: Array.from({ length: s.endpoints }, (_, i) => ({ address: `10.${++octet}.0.${i + 1}`, port: 80 })),
          ...(s.maxRate ? { maxRatePerEndpoint: s.maxRate } : {}),
          capacityScaler: s.scaler ?? 1,
        })),
      },
    },
    clusters: Object.fromEntries(Object.entries(clusters).map(([c, cidrs]) => [c, { region: shards.find((s) => s.cluster === c)!.region, clientCIDRs: cidrs }])),
  };
}

const SEED: ShardSpec[] = [
  { cluster: 'asia-a', region: 'asia-east1', endpoints: 2, maxRate: 100 },
  { cluster: 'asia-b', region: 'asia-east1', endpoints: 2, maxRate: 100 },
  { cluster: 'eu-b', region: 'europe-west1', endpoints: 2, maxRate: 100 },
  { cluster: 'us-a', region: 'us-central1', endpoints: 2, maxRate: 100 },
  { cluster: 'us-b', region: 'us-central1', endpoints: 2, maxRate: 100 },
];
const TAIPEI = { lat: 25.03, lon: 121.56 };
const LONDON = { lat: 51.5, lon: -0.12 };
const CHICAGO = { lat: 41.88, lon: -87.63 };

function setup(shards = SEED, clusters: Record<string, string[]> = {}): { snap: RoutingSnapshot; live: LiveState } {
  const snap = buildSnapshot(table(shards, clusters));
  return { snap, live: new LiveState(snap) };
}
const facts = (snap: RoutingSnapshot, loc: { lat: number; lon: number }, sourceCluster = -1): ClientFacts => ({ cell: locateClient(snap, loc), sourceCluster });
const clusterOf = (snap: RoutingSnapshot, shard: number) => snap.shards[shard]!.cluster;
const shardIdx = (snap: RoutingSnapshot, cluster: string) => snap.shards.findIndex((s) => s.cluster === cluster);
function downCluster(snap: RoutingSnapshot, live: LiveState, cluster: string, healthyLeft = 0): void {
  const s = snap.shards[shardIdx(snap, cluster)]!;
  for (let e = s.endpointStart + healthyLeft; e < s.endpointStart + s.endpointCount; e++) live.setHealthy(e, false);
}

describe('choose(): the routing rules of DESIGN §3', () => {
  it.each([
    ['Taipei', TAIPEI, 'asia-east1'],
    ['London', LONDON, 'europe-west1'],
    ['Chicago', CHICAGO, 'us-central1'],
  ])('a client in %s goes to the nearest region', (_n, loc, region) => {
    const { snap, live } = setup();
    const d = choose(facts(snap, loc), snap, live, 0, seeded());
    expect(snap.shards[d.shard]!.region).toBe(region);
    expect(d.reason).toBe('nearest-with-capacity');
  });

  it('fails Asia over to the U.S. before Europe, as in the seed (measured latency beats the map)', () => {
    const { snap, live } = setup();
    downCluster(snap, live, 'asia-a');
    downCluster(snap, live, 'asia-b');
    const d = choose(facts(snap, TAIPEI), snap, live, 0, seeded());
    expect(snap.shards[d.shard]!.region).toBe('us-central1');
    // A failover for health is not a spill for capacity: the U.S. is now the nearest usable region.
    expect([d.reason, d.spilled]).toEqual(['nearest-with-capacity', false]);
  });

  it('sends an in-cluster client to its own cluster while it is healthy with room', () => {
    const { snap, live } = setup(SEED, { 'us-b': ['10.200.0.0/16'] });
    const own = snap.clientCIDRs.get('10.200.3.4')!;
    const d = choose(facts(snap, TAIPEI, own), snap, live, 0, seeded());
    expect([clusterOf(snap, d.shard), d.reason]).toEqual(['us-b', 'in-cluster']);
    downCluster(snap, live, 'us-b');
    const after = choose(facts(snap, TAIPEI, own), snap, live, 0, seeded());
    expect(snap.shards[after.shard]!.region).toBe('asia-east1');
  });

  it('spills only what exceeds the nearest region\'s capacity (waterfall by region)', () => {
    const { snap, live } = setup();
    // asia-east1: 2 shards × 2 endpoints × 100 rps = 400 rps. Full → the next region takes it.
    live.shardRate[shardIdx(snap, 'asia-a')] = 200;
    live.shardRate[shardIdx(snap, 'asia-b')] = 150;
    const rng = seeded();
    const picks = Array.from({ length: 200 }, () => clusterOf(snap, choose(facts(snap, TAIPEI), snap, live, 0, rng).shard));
    expect(new Set(picks)).toEqual(new Set(['asia-b'])); // the only shard with spare room
    live.shardRate[shardIdx(snap, 'asia-b')] = 200;
    const d = choose(facts(snap, TAIPEI), snap, live, 0, seeded());
    expect([snap.shards[d.shard]!.region, d.reason, d.spilled]).toEqual(['us-central1', 'spillover', true]);
  });

  it('shares a region by spare capacity', () => {
    const { snap, live } = setup([
      { cluster: 'a', region: 'us-central1', endpoints: 3, maxRate: 100 },
      { cluster: 'b', region: 'us-central1', endpoints: 1, maxRate: 100 },
    ]);
    const rng = seeded(3);
    const n = 20_000;
    let a = 0;
    for (let i = 0; i < n; i++) if (clusterOf(snap, choose(facts(snap, CHICAGO), snap, live, 0, rng).shard) === 'a') a++;
    expect(a / n).toBeGreaterThan(0.72);
    expect(a / n).toBeLessThan(0.78); // 300 : 100
  });

  it('honours the capacity scaler: 0 drains a shard', () => {
    const { snap, live } = setup([
      { cluster: 'a', region: 'us-central1', endpoints: 2, maxRate: 100, scaler: 0 },
      { cluster: 'b', region: 'us-central1', endpoints: 2, maxRate: 100 },
    ]);
    const rng = seeded();
    for (let i = 0; i < 100; i++) expect(clusterOf(snap, choose(facts(snap, CHICAGO), snap, live, 0, rng).shard)).toBe('b');
  });

  it('drains a shard under 25 % healthy, but never more than half of the shards', () => {
    const shards = [
      { cluster: 'a', region: 'us-central1', endpoints: 8 },
      { cluster: 'b', region: 'us-central1', endpoints: 8 },
      { cluster: 'c', region: 'us-central1', endpoints: 8 },
    ];
    const { snap, live } = setup(shards);
    downCluster(snap, live, 'a', 1); // 1/8 healthy
    downCluster(snap, live, 'b', 1);
    const rng = seeded();
    const seen = new Set(Array.from({ length: 300 }, () => clusterOf(snap, choose(facts(snap, CHICAGO), snap, live, 0, rng).shard)));
    expect(seen.has('c')).toBe(true);
    expect(seen.size).toBe(2); // one weak shard drained (the limit is 1 of 3), the other still serves
  });

  it('fails open (panic) when nothing is healthy, and answers -1 only without endpoints', () => {
    const { snap, live } = setup();
    for (const s of snap.shards) downCluster(snap, live, s.cluster);
    const d = choose(facts(snap, TAIPEI), snap, live, 0, seeded());
    expect(d.panic).toBe(true);
    expect(d.endpoint).toBeGreaterThanOrEqual(0);
    const empty = setup([{ cluster: 'a', region: 'us-central1', endpoints: 0 }]);
    expect(choose(facts(empty.snap, CHICAGO), empty.snap, empty.live, 0, seeded()).endpoint).toBe(-1);
  });

  it('retries on a different shard when asked to exclude one', () => {
    const { snap, live } = setup();
    const first = choose(facts(snap, TAIPEI), snap, live, 0, seeded());
    const retry = choose(facts(snap, TAIPEI), snap, live, 0, seeded(), { shard: first.shard, endpoint: first.endpoint });
    expect(retry.shard).not.toBe(first.shard);
    expect(retry.endpoint).not.toBe(first.endpoint);
  });

  it('prefers the endpoint with fewer outstanding requests (P2C)', () => {
    const { snap, live } = setup([{ cluster: 'a', region: 'us-central1', endpoints: 2 }]);
    live.endpointOutstanding[0] = 50;
    const rng = seeded();
    for (let i = 0; i < 50; i++) expect(choose(facts(snap, CHICAGO), snap, live, 0, rng).endpoint).toBe(1);
  });

  it('reuses the decision object it is given', () => {
    const { snap, live } = setup();
    const out = newDecision();
    expect(choose(facts(snap, TAIPEI), snap, live, 0, seeded(), undefined, out)).toBe(out);
  });

  it('explains the ranking with reasons', () => {
    const { snap, live } = setup();
    downCluster(snap, live, 'asia-a');
    const e = explain(facts(snap, TAIPEI), snap, live, 0, seeded());
    expect(e.ranked.map((r) => r.cluster)).toEqual(['asia-a', 'asia-b', 'us-a', 'us-b', 'eu-b']);
    expect(e.ranked[0]).toMatchObject({ usable: false, reason: 'no healthy endpoint' });
    expect(e.choice).toMatchObject({ cluster: 'asia-b', reason: 'nearest-with-capacity' });
  });
});

describe('choose(): properties over random tables (seeded)', () => {
  const regions = ['asia-east1', 'europe-west1', 'us-central1', 'us-east1', 'australia-southeast1'];
  it('never picks an unhealthy endpoint while a healthy shard has capacity, never a full region before one with room', () => {
    const rng = seeded(11);
    for (let t = 0; t < 300; t++) {
      const shards: ShardSpec[] = Array.from({ length: 1 + Math.floor(rng() * 8) }, (_, i) => ({
        cluster: `c${i}`,
        region: regions[Math.floor(rng() * regions.length)]!,
        endpoints: 1 + Math.floor(rng() * 6),
        maxRate: 50 + Math.floor(rng() * 100),
      }));
      const { snap, live } = setup(shards);
      for (let e = 0; e < snap.endpoints.length; e++) if (rng() < 0.3) live.setHealthy(e, false);
      for (let s = 0; s < snap.shards.length; s++) live.shardRate[s] = rng() * 400;
      const loc = [TAIPEI, LONDON, CHICAGO][t % 3]!;
      const d = choose(facts(snap, loc), snap, live, 0, rng);
      const anyHealthy = live.endpointHealthy.some((h) => h === 1);
      if (anyHealthy) {
        expect(d.panic).toBe(false);
        expect(live.endpointHealthy[d.endpoint]).toBe(1);
      } else expect(d.panic).toBe(true);
      if (d.reason === 'nearest-with-capacity' || d.reason === 'spillover') {
        const cap = live.healthyCount[d.shard]! * snap.shards[d.shard]!.maxRatePerEndpoint;
        expect(cap).toBeGreaterThan(live.shardRate[d.shard]!);
      }
    }
  });
});
