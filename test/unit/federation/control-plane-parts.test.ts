import { describe, expect, it } from 'vitest';
import { ProblemLedger } from '../../../src/federation/controller/problems.js';
import { MemberWriteLimiter } from '../../../src/federation/controller/write-limiter.js';
import { clusterReason, place, placementAnnotations, type ClusterPlacement, type PlacementCluster } from '../../../src/federation/placement.js';
import { DEFAULT_PREFERENCES, parsePreferences } from '../../../src/federation/planner/preferences.js';
import { plan } from '../../../src/federation/planner/plan.js';
import { stripForCache } from '../../../src/kube/informer.js';
import { requestVerb } from '../../../src/kube/rest.js';

const cluster = (name: string, state: PlacementCluster['state'] = 'Ready', labels: Record<string, string> = {}): PlacementCluster => ({ name, state, labels });
const describePlacement = (placement: readonly ClusterPlacement[]) => placement.map((p) => `${p.cluster}: ${clusterReason(p)}`).join('; ');
const GOLD = '[{"key":"tier","operator":"in","values":["gold"]}]';

describe('placement: filter → score → select, a reason per cluster', () => {
  const clusters = [cluster('c', 'Ready', { tier: 'gold' }), cluster('a', 'Ready', { tier: 'gold' }), cluster('b', 'NotReady', { tier: 'gold' }), cluster('d', 'Ready', { tier: 'iron' }), cluster('e', 'Offline')];
  it.each([
    ['no selector: every Ready cluster', undefined, 'a: selected; b: not Ready; c: selected; d: selected; e: not Ready'],
    ['selector: the matching Ready ones', GOLD, 'a: selected; b: not Ready; c: selected; d: excluded by cluster-selector; e: not Ready'],
    ['invalid selector: nothing', '{oops', 'a: cluster-selector invalid; b: not Ready; c: cluster-selector invalid; d: cluster-selector invalid; e: not Ready'],
  ])('%s', (_name, selector, line) => {
    expect(describePlacement(place('default/x', selector, clusters).clusters)).toBe(line);
  });

  it('writes one annotation per cluster, so kubectl describe shows each whole', () => {
    expect(placementAnnotations(place('default/x', GOLD, clusters.slice(0, 3)).clusters, 'p/')).toEqual({ 'p/a': 'selected', 'p/b': 'not Ready', 'p/c': 'selected' });
  });

  it('reports a bad selector for the object\'s condition', () => {
    expect(place('default/x', '{oops', clusters).selectorError).toMatch(/not valid JSON/);
  });

  it('gives scheduled kinds the v1 planner\'s exact shares, and says so per cluster', () => {
    const parsed = parsePreferences('{"rebalance":true,"clusters":{"a":{"weight":2},"c":{"weight":1},"d":{"weight":1}}}');
    if (!parsed.ok) throw new Error(parsed.error);
    const schedule = { preferences: parsed.preferences, replicas: 8, current: {}, estimatedCapacity: {} };
    const p = place('default/web', undefined, clusters, schedule);
    const v1 = plan({ ...schedule, clusters: ['a', 'c', 'd'], key: 'default/web' });
    expect(p.replicas).toEqual(v1.plan);
    expect(describePlacement(p.clusters)).toBe(`a: selected, ${v1.plan.a} replicas; b: not Ready; c: selected, ${v1.plan.c} replicas; d: selected, ${v1.plan.d} replicas; e: not Ready`);
  });

  it('names a cluster over capacity, with the room it has and what waits for room', () => {
    const schedule = { preferences: DEFAULT_PREFERENCES, replicas: 9, current: { a: 3, c: 3, d: 3 }, estimatedCapacity: { a: 1 } };
    const p = place('default/web', undefined, [cluster('a'), cluster('c'), cluster('d')], schedule);
    const a = p.clusters.find((x) => x.cluster === 'a')!;
    expect(a).toMatchObject({ selected: true, reason: 'over-capacity', capacity: 1 });
    expect(Object.values(p.replicas!).reduce((s, n) => s + n, 0)).toBeGreaterThanOrEqual(9);
    expect(describePlacement(p.clusters)).toMatch(/^a: over capacity, \d+ replicas? \(room for 1(, \d+ waiting for room)?\); c: selected, \d+ replicas; d: selected, \d+ replicas$/);
  });
});

describe('member write limiter: a token bucket per member, non-blocking reservations', () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('grants the burst at once, then reserves slots at the rate, in order', () => {
    const c = clock();
    const l = new MemberWriteLimiter({ qps: 10, burst: 3 }, c.now);
    expect([1, 2, 3].map((i) => l.take('m', `k${i}`))).toEqual([0, 0, 0]);
    expect(l.take('m', 'k4')).toBe(100);
    expect(l.take('m', 'k5')).toBe(200);
    expect(l.take('other', 'k4')).toBe(0); // another member has its own bucket
    c.advance(50);
    expect(l.take('m', 'k4')).toBe(50); // not yet: the same reservation, no new one
    c.advance(50);
    expect(l.take('m', 'k4')).toBe(0); // its slot: the reservation is the token
    expect(l.take('m', 'k6')).toBe(200); // behind k5
    expect(l.holds('k5')).toBe(true);
  });

  it('drops reservations nobody came back for', () => {
    const c = clock();
    const l = new MemberWriteLimiter({ qps: 1, burst: 1 }, c.now);
    l.take('m', 'a');
    expect(l.take('m', 'gone')).toBe(1000);
    c.advance(12_000);
    l.prune();
    expect(l.holds('gone')).toBe(false);
  });

  it('refuses a rate that would never write', () => {
    expect(() => new MemberWriteLimiter({ qps: 0, burst: 1 })).toThrow(/qps > 0/);
    expect(() => new MemberWriteLimiter({ qps: 5, burst: 0 })).toThrow(/burst >= 1/);
  });
});

describe('problem ledger: an Event when a problem appears, again after a back-off while it stays', () => {
  it('re-emits a standing problem after 1×, 2×, 4× the first repeat, capped', () => {
    let t = 0;
    const ledger = new ProblemLedger({ firstRepeatMs: 1_000, maxRepeatMs: 3_000 }, () => t);
    const p = { reason: 'ConflictResolution', message: 'exists in b', cluster: 'b' };
    const told: number[] = [];
    for (t = 0; t <= 12_000; t += 250) if (ledger.settle('default/x', [p]).length) told.push(t);
    expect(told).toEqual([0, 1_000, 3_000, 6_000, 9_000, 12_000]);
  });

  it('tells a changed message at once, forgets a problem that went, and keeps nothing for a deleted object', () => {
    let t = 0;
    const ledger = new ProblemLedger({ firstRepeatMs: 1_000, maxRepeatMs: 1_000 }, () => t);
    const p = { reason: 'InvalidPreferences', message: 'bad', cluster: '' };
    expect(ledger.settle('k', [p])).toHaveLength(1);
    expect(ledger.settle('k', [{ ...p, message: 'bad in another way' }])).toHaveLength(1);
    expect(ledger.settle('k', [])).toHaveLength(0);
    expect(ledger.holds('k')).toBe(false);
    t += 10;
    expect(ledger.settle('k', [p])).toHaveLength(1); // back: news again
    ledger.forget('k');
    expect(ledger.holds('k')).toBe(false);
  });
});

describe('request verbs, as the API server audit log names them', () => {
  it.each([
    ['GET', '/api/v1/namespaces/default/configmaps/x', false, 'get'],
    ['GET', '/api/v1/namespaces/default/configmaps', false, 'list'],
    ['GET', '/api/v1/configmaps?labelSelector=a', false, 'list'],
    ['GET', '/api/v1/namespaces/default', false, 'get'],
    ['GET', '/api/v1/namespaces', false, 'list'],
    ['GET', '/apis/apps/v1/namespaces/default/replicasets/web', false, 'get'],
    ['GET', '/apis/apps/v1/replicasets', true, 'watch'],
    ['POST', '/api/v1/namespaces/default/configmaps', false, 'create'],
    ['PUT', '/apis/networking.k8s.io/v1/namespaces/default/ingresses/x/status', false, 'update'],
    ['PATCH', '/api/v1/namespaces/default/configmaps/x', false, 'patch'],
    ['DELETE', '/api/v1/namespaces/default/configmaps/x', false, 'delete'],
  ])('%s %s', (method, path, watch, verb) => {
    expect(requestVerb(method, path, watch)).toBe(verb);
  });
});

describe('informer cache transform', () => {
  it('drops managedFields and the named annotations, keeps everything else', () => {
    const strip = stripForCache(['kubectl.kubernetes.io/last-applied-configuration']);
    const obj = { metadata: { name: 'x', managedFields: [{ manager: 'kubectl' }], annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{…}', keep: 'me' }, resourceVersion: '7' }, data: { a: '1' } };
    expect(strip(obj as never)).toEqual({ metadata: { name: 'x', annotations: { keep: 'me' }, resourceVersion: '7' }, data: { a: '1' } });
    expect(obj.metadata.managedFields).toHaveLength(1); // the input is not changed
  });
});
