import { describe, expect, it } from 'vitest';
import { fnv1_32 } from '../../../src/federation/planner/fnv.js';
import { plan } from '../../../src/federation/planner/plan.js';
import { DEFAULT_PREFERENCES, parsePreferences, type ClusterPreferences } from '../../../src/federation/planner/preferences.js';

type Pref = Partial<ClusterPreferences>;
const prefs = (clusters: Record<string, Pref>, rebalance = false) => ({
  rebalance,
  clusters: Object.fromEntries(Object.entries(clusters).map(([k, v]) => [k, { minReplicas: 0, weight: 0, ...v }])),
});

/**
 * Every case of Federation v1's planner_test.go (kubernetes/kubernetes,
 * federation/pkg/federation-controller/util/planner), with its key "".
 */
const UPSTREAM: {
  name: string;
  pref: Record<string, Pref>;
  rebalance?: boolean;
  replicas: number;
  clusters: string[];
  current?: Record<string, number>;
  capacity?: Record<string, number>;
  plan: Record<string, number>;
  overflow?: Record<string, number>;
}[] = [
  { name: 'TestEqual#1 (hash dependent)', pref: { '*': { weight: 1 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 16, B: 17, C: 17 } },
  { name: 'TestEqual#2', pref: { '*': { weight: 1 } }, replicas: 50, clusters: ['A', 'B'], plan: { A: 25, B: 25 } },
  { name: 'TestEqual#3 (hash dependent)', pref: { '*': { weight: 1 } }, replicas: 1, clusters: ['A', 'B'], plan: { A: 0, B: 1 } },
  { name: 'TestEqual#4 (hash dependent)', pref: { '*': { weight: 1 } }, replicas: 1, clusters: ['A', 'B', 'C', 'D'], plan: { A: 0, B: 0, C: 0, D: 1 } },
  { name: 'TestEqual#5', pref: { '*': { weight: 1 } }, replicas: 1, clusters: ['A'], plan: { A: 1 } },
  { name: 'TestEqual#6', pref: { '*': { weight: 1 } }, replicas: 1, clusters: [], plan: {} },
  { name: 'TestEqualWithExisting#1', pref: { '*': { weight: 1 } }, replicas: 50, clusters: ['A', 'B', 'C'], current: { C: 30 }, plan: { A: 10, B: 10, C: 30 } },
  { name: 'TestEqualWithExisting#2', pref: { '*': { weight: 1 } }, replicas: 50, clusters: ['A', 'B'], current: { A: 30 }, plan: { A: 30, B: 20 } },
  { name: 'TestEqualWithExisting#3', pref: { '*': { weight: 1 } }, replicas: 15, clusters: ['A', 'B'], current: { A: 0, B: 8 }, plan: { A: 7, B: 8 } },
  { name: 'TestEqualWithExisting#4', pref: { '*': { weight: 1 } }, replicas: 15, clusters: ['A', 'B'], current: { A: 1, B: 8 }, plan: { A: 7, B: 8 } },
  { name: 'TestEqualWithExisting#5', pref: { '*': { weight: 1 } }, replicas: 15, clusters: ['A', 'B'], current: { A: 4, B: 8 }, plan: { A: 7, B: 8 } },
  { name: 'TestEqualWithExisting#6', pref: { '*': { weight: 1 } }, replicas: 15, clusters: ['A', 'B'], current: { A: 5, B: 8 }, plan: { A: 7, B: 8 } },
  { name: 'TestEqualWithExisting#7', pref: { '*': { weight: 1 } }, replicas: 15, clusters: ['A', 'B'], current: { A: 6, B: 8 }, plan: { A: 7, B: 8 } },
  { name: 'TestEqualWithExisting#8', pref: { '*': { weight: 1 } }, replicas: 15, clusters: ['A', 'B'], current: { A: 7, B: 8 }, plan: { A: 7, B: 8 } },
  { name: 'TestEqualWithExisting#9', pref: { '*': { weight: 1 } }, replicas: 500000, clusters: ['A', 'B'], current: { A: 300000 }, plan: { A: 300000, B: 200000 } },
  { name: 'TestEqualWithExisting#10', pref: { '*': { weight: 1 } }, replicas: 50, clusters: ['A', 'B'], current: { A: 10 }, plan: { A: 25, B: 25 } },
  { name: 'TestEqualWithExisting#11 (hash dependent, upstream issue 31816)', pref: { '*': { weight: 1 } }, replicas: 50, clusters: ['A', 'B'], current: { A: 10, B: 70 }, plan: { A: 0, B: 50 } },
  { name: 'TestEqualWithExisting#12', pref: { '*': { weight: 1 } }, replicas: 1, clusters: ['A', 'B'], current: { A: 30 }, plan: { A: 1, B: 0 } },
  { name: 'TestEqualWithExisting#13', pref: { '*': { weight: 1 } }, replicas: 50, clusters: ['A', 'B'], current: { A: 10, B: 20 }, plan: { A: 25, B: 25 } },
  { name: 'TestWithExistingAndCapacity#1', rebalance: true, pref: { '*': { weight: 1 } }, replicas: 50, clusters: ['A', 'B', 'C'], capacity: { C: 10 }, plan: { A: 20, B: 20, C: 10 }, overflow: { C: 7 } },
  { name: 'TestWithExistingAndCapacity#2', rebalance: true, pref: { A: { weight: 10000 }, B: { weight: 1 } }, replicas: 50, clusters: ['B', 'C'], capacity: { B: 10 }, plan: { B: 10, C: 0 }, overflow: { B: 40 } },
  { name: 'TestWithExistingAndCapacity#3', rebalance: true, pref: { A: { weight: 1 }, B: { weight: 2 } }, replicas: 60, clusters: ['A', 'B', 'C'], capacity: { B: 10 }, plan: { A: 50, B: 10, C: 0 }, overflow: { B: 30 } },
  {
    name: 'TestWithExistingAndCapacity#4',
    rebalance: true,
    pref: { A: { weight: 10000, maxReplicas: 10 }, B: { weight: 1 }, C: { weight: 1, maxReplicas: 21 }, D: { weight: 1, maxReplicas: 10 } },
    replicas: 71,
    clusters: ['A', 'B', 'C', 'D'],
    capacity: { C: 10 },
    plan: { A: 10, B: 41, C: 10, D: 10 },
    overflow: { C: 11 },
  },
  { name: 'TestWithExistingAndCapacity#5', pref: { A: { weight: 1 }, B: { weight: 1 } }, replicas: 60, clusters: ['A', 'B', 'C'], capacity: { A: 10, B: 10 }, plan: { A: 10, B: 10, C: 0 }, overflow: { A: 20, B: 20 } },
  { name: 'TestWithExistingAndCapacity#6', pref: { A: { weight: 1 }, B: { weight: 5 } }, replicas: 60, clusters: ['A', 'B', 'C'], capacity: { B: 10 }, plan: { A: 50, B: 10, C: 0 }, overflow: {} },
  { name: 'TestWithExistingAndCapacity#7', pref: { '*': { minReplicas: 20, weight: 0 } }, replicas: 50, clusters: ['A', 'B', 'C'], capacity: { B: 10 }, plan: { A: 20, B: 10, C: 20 }, overflow: {} },
  { name: 'TestWithExistingAndCapacity#8', rebalance: true, pref: { '*': { minReplicas: 20, weight: 1 } }, replicas: 60, clusters: ['A', 'B'], capacity: { B: 10 }, plan: { A: 50, B: 10 }, overflow: { B: 15 } },
  { name: 'TestMin#1', pref: { '*': { minReplicas: 2, weight: 0 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 2, B: 2, C: 2 } },
  { name: 'TestMin#2 (hash dependent)', pref: { '*': { minReplicas: 20, weight: 0 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 10, B: 20, C: 20 } },
  { name: 'TestMin#3', pref: { '*': { minReplicas: 20, weight: 0 }, A: { minReplicas: 100, weight: 1 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 50, B: 0, C: 0 } },
  { name: 'TestMin#4', pref: { '*': { minReplicas: 10, weight: 1, maxReplicas: 12 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 12, B: 12, C: 12 } },
  { name: 'TestMax#1', pref: { '*': { weight: 1, maxReplicas: 2 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 2, B: 2, C: 2 } },
  { name: 'TestMax#2', pref: { '*': { weight: 0, maxReplicas: 2 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 0, B: 0, C: 0 } },
  { name: 'TestWeight#1', pref: { A: { weight: 1 }, B: { weight: 2 } }, replicas: 60, clusters: ['A', 'B', 'C'], plan: { A: 20, B: 40, C: 0 } },
  { name: 'TestWeight#2', pref: { A: { weight: 10000 }, B: { weight: 1 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 50, B: 0, C: 0 } },
  { name: 'TestWeight#3', pref: { A: { weight: 10000 }, B: { weight: 1 } }, replicas: 50, clusters: ['B', 'C'], plan: { B: 50, C: 0 } },
  { name: 'TestWeight#4', pref: { A: { weight: 10000, maxReplicas: 10 }, B: { weight: 1 }, C: { weight: 1 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 10, B: 20, C: 20 } },
  { name: 'TestWeight#5', pref: { A: { weight: 10000, maxReplicas: 10 }, B: { weight: 1 }, C: { weight: 1, maxReplicas: 10 } }, replicas: 50, clusters: ['A', 'B', 'C'], plan: { A: 10, B: 30, C: 10 } },
  {
    name: 'TestWeight#6',
    pref: { A: { weight: 10000, maxReplicas: 10 }, B: { weight: 1 }, C: { weight: 1, maxReplicas: 21 }, D: { weight: 1, maxReplicas: 10 } },
    replicas: 71,
    clusters: ['A', 'B', 'C', 'D'],
    plan: { A: 10, B: 30, C: 21, D: 10 },
  },
  {
    name: 'TestWeight#7',
    pref: { A: { weight: 10000, maxReplicas: 10 }, B: { weight: 1 }, C: { weight: 1, maxReplicas: 21 }, D: { weight: 1, maxReplicas: 10 }, E: { weight: 1 } },
    replicas: 91,
    clusters: ['A', 'B', 'C', 'D', 'E'],
    plan: { A: 10, B: 25, C: 21, D: 10, E: 25 },
  },
];

describe('replica planner', () => {
  it.each(UPSTREAM)('matches Federation v1: $name', (c) => {
    const out = plan({ preferences: prefs(c.pref, c.rebalance), replicas: c.replicas, clusters: c.clusters, current: c.current ?? {}, estimatedCapacity: c.capacity ?? {}, key: '' });
    expect(out.plan).toEqual(c.plan);
    expect(out.overflow).toEqual(c.overflow ?? {});
  });

  it.each([
    ['', 0x811c9dc5],
    ['a', 0x050c5d7e],
    ['foobar', 0x31f0b262],
  ])('FNV-1 32 of %j is %i (Go hash/fnv New32 vectors)', (text, hash) => {
    expect(fnv1_32(text)).toBe(hash);
  });

  it('mixes the object key into the tie-break, so one replica does not always land on the same cluster', () => {
    const seen = new Set<string>();
    for (const key of ['default/nginx', 'prod/api', 'team-a/web', 'shop/cart', 'default/redis', 'kube-public/x', 'payments/ledger', 'search/indexer']) {
      const { plan: p } = plan({ preferences: DEFAULT_PREFERENCES, replicas: 1, clusters: ['x', 'y', 'z'], current: {}, estimatedCapacity: {}, key });
      seen.add(Object.keys(p).find((k) => p[k] === 1)!);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('spreads the seed ReplicaSet 1 per cluster, and the seed preferences over the two US clusters', () => {
    const nine = ['gce-asia-east1-a', 'gce-asia-east1-b', 'gce-asia-east1-c', 'gce-europe-west1-b', 'gce-europe-west1-c', 'gce-europe-west1-d', 'gce-us-central1-a', 'gce-us-central1-b', 'gce-us-central1-c'];
    const even = plan({ preferences: DEFAULT_PREFERENCES, replicas: 9, clusters: nine, current: {}, estimatedCapacity: {}, key: 'default/nginx' });
    expect(Object.values(even.plan)).toEqual(Array(9).fill(1));
    const parsed = parsePreferences('{"rebalance": true, "clusters": {"gce-us-central1-a": {"minReplicas": 2, "maxReplicas": 4, "weight": 1}, "gce-us-central1-b": {"minReplicas": 2, "maxReplicas": 4, "weight": 1}}}');
    if (!parsed.ok) throw new Error(parsed.error);
    const us = plan({ preferences: parsed.preferences, replicas: 4, clusters: nine, current: {}, estimatedCapacity: {}, key: 'default/nginx-us' });
    expect(us.plan).toEqual({ ...Object.fromEntries(nine.map((c) => [c, 0])), 'gce-us-central1-a': 2, 'gce-us-central1-b': 2 });
  });

  it('places every replica when capacity allows, within min and max (property, seeded)', () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 500; i++) {
      const clusters = Array.from({ length: 1 + rnd(8) }, (_, j) => `c${j}`);
      const pref: Record<string, Pref> = { '*': { weight: 1 + rnd(3) } };
      for (const c of clusters) if (rnd(3) === 0) pref[c] = { weight: 1 + rnd(5), minReplicas: rnd(3), ...(rnd(2) ? { maxReplicas: 3 + rnd(20) } : {}) };
      const replicas = rnd(60);
      const out = plan({ preferences: prefs(pref, rnd(2) === 0), replicas, clusters, current: {}, estimatedCapacity: {}, key: `ns/${i}` });
      const maxTotal = clusters.reduce((s, c) => s + ((pref[c] ?? pref['*'])!.maxReplicas ?? Infinity), 0);
      expect(Object.keys(out.plan).sort()).toEqual([...clusters].sort());
      expect(Object.values(out.plan).reduce((a, b) => a + b, 0)).toBe(Math.min(replicas, maxTotal));
      for (const c of clusters) {
        const p = pref[c] ?? pref['*']!;
        if (p.maxReplicas !== undefined) expect(out.plan[c]).toBeLessThanOrEqual(p.maxReplicas);
      }
    }
  });
});

describe('replica preferences annotation', () => {
  it('parses the upstream example, keys in any letter case', () => {
    expect(parsePreferences('{"rebalance": true, "clusters": {"k8s-1": {"minReplicas": 10, "maxReplicas": 20, "weight": 2}, "*": {"weight": 1}}}')).toEqual({
      ok: true,
      preferences: { rebalance: true, clusters: { 'k8s-1': { minReplicas: 10, maxReplicas: 20, weight: 2 }, '*': { minReplicas: 0, weight: 1 } } },
    });
    expect(parsePreferences('{"Rebalance": false, "CLUSTERS": {"a": {"Weight": 3}}}')).toMatchObject({ ok: true, preferences: { clusters: { a: { weight: 3 } } } });
  });

  it.each([
    ['{', /not valid JSON/],
    ['[]', /must be a JSON object/],
    ['{"rebalance": "yes"}', /rebalance must be true or false/],
    ['{"clusters": {"a": {"weight": -1}}}', /clusters\["a"\]\.weight must not be negative/],
    ['{"clusters": {"a": {"minReplicas": 1.5}}}', /minReplicas must be an integer/],
    ['{"clusters": {"a": {"minReplicas": 5, "maxReplicas": 2}}}', /minReplicas \(5\) is larger than maxReplicas \(2\)/],
    ['{"clusters": []}', /clusters must be an object/],
  ])('rejects %s with a message naming the field', (value, message) => {
    const r = parsePreferences(value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});
