import { describe, expect, it } from 'vitest';
import { cacheNotSyncedMessage, cacheSyncAdvice, cacheSyncThresholdMs, CacheSyncLedger, describeListError, formatDuration, type CacheReading, type CacheReport } from '../../../src/federation/controller/cache-sync.js';
import { ControllerMetrics } from '../../../src/federation/controller/metrics.js';
import { KubeApiError } from '../../../src/kube/rest.js';

const forbidden = new KubeApiError(403, 'Forbidden', 'GET /api/v1/configmaps: 403 configmaps is forbidden: User "fed" cannot list resource "configmaps" in API group "" at the cluster scope');
const reading = (over: Partial<CacheReading> = {}): CacheReading => ({ cluster: 'a', kind: 'ConfigMap', resource: 'configmaps', group: '', synced: false, since: 0, lastError: forbidden, ...over });
/** What a report says, in one word and its cluster/kind: the shape the table compares. */
const summary = (r: CacheReport) => `${r.type}${r.type === 'stuck' && r.first ? ' (first)' : ''} ${r.reading.cluster}/${r.reading.kind}`;

describe('member cache sync ledger: report a cache that never lists once past the threshold, repeat with back-off, clear on sync', () => {
  it.each([
    { probeIntervalMs: 1_000, expected: 30_000 },
    { probeIntervalMs: 10_000, expected: 30_000 },
    { probeIntervalMs: 20_000, expected: 60_000 },
  ])('waits max(30 s, 3 probe intervals) by default (probe every $probeIntervalMs ms → $expected ms)', ({ probeIntervalMs, expected }) => {
    expect(cacheSyncThresholdMs(probeIntervalMs)).toBe(expected);
  });

  // Each step: the clock, the caches read then, and what is reported (threshold 1 s, repeat 2 s doubling to 4 s).
  it.each([
    {
      name: 'a slow first list under the threshold is no news; past it, one report, then repeats at 2 s and 4 s, capped',
      steps: [
        { t: 900, caches: [reading()], reports: [] },
        { t: 1_000, caches: [reading()], reports: ['stuck (first) a/ConfigMap'] },
        { t: 2_900, caches: [reading()], reports: [] },
        { t: 3_000, caches: [reading()], reports: ['stuck a/ConfigMap'] },
        { t: 6_900, caches: [reading()], reports: [] },
        { t: 7_000, caches: [reading()], reports: ['stuck a/ConfigMap'] },
        { t: 11_000, caches: [reading()], reports: ['stuck a/ConfigMap'] },
      ],
    },
    {
      name: 'a cache that lists before the threshold is never reported, nor its recovery',
      steps: [
        { t: 500, caches: [reading()], reports: [] },
        { t: 1_500, caches: [reading({ synced: true })], reports: [] },
      ],
    },
    {
      name: 'a reported cache that lists recovers once; it is not reported again',
      steps: [
        { t: 1_000, caches: [reading()], reports: ['stuck (first) a/ConfigMap'] },
        { t: 1_200, caches: [reading({ synced: true })], reports: ['recovered a/ConfigMap'] },
        { t: 9_000, caches: [reading({ synced: true })], reports: [] },
      ],
    },
    {
      name: 'a changed error is told at once',
      steps: [
        { t: 1_000, caches: [reading()], reports: ['stuck (first) a/ConfigMap'] },
        { t: 1_100, caches: [reading({ lastError: new KubeApiError(404, 'NotFound', 'not found') })], reports: ['stuck a/ConfigMap'] },
        { t: 1_200, caches: [reading({ lastError: new KubeApiError(404, 'NotFound', 'not found') })], reports: [] },
      ],
    },
    {
      name: 'a cache that goes (member NotReady or deleted) is forgotten silently; back stuck, it is news again',
      steps: [
        { t: 1_000, caches: [reading(), reading({ cluster: 'b', synced: true })], reports: ['stuck (first) a/ConfigMap'] },
        { t: 1_100, caches: [reading({ cluster: 'b', synced: true })], reports: [] },
        { t: 3_500, caches: [reading({ since: 3_000 })], reports: [] },
        { t: 4_000, caches: [reading({ since: 3_000 })], reports: ['stuck (first) a/ConfigMap'] },
      ],
    },
    {
      name: 'a new cache for the same member and kind (its client rebuilt) starts its own wait',
      steps: [
        { t: 1_000, caches: [reading()], reports: ['stuck (first) a/ConfigMap'] },
        { t: 1_500, caches: [reading({ since: 1_400 })], reports: [] },
        { t: 2_400, caches: [reading({ since: 1_400 })], reports: ['stuck (first) a/ConfigMap'] },
      ],
    },
    {
      name: 'kinds and members are told apart',
      steps: [
        { t: 1_000, caches: [reading(), reading({ kind: 'Secret', resource: 'secrets', synced: true }), reading({ cluster: 'b' })], reports: ['stuck (first) a/ConfigMap', 'stuck (first) b/ConfigMap'] },
        { t: 1_100, caches: [reading({ synced: true }), reading({ cluster: 'b' })], reports: ['recovered a/ConfigMap'] },
      ],
    },
  ])('$name', ({ steps }) => {
    let t = 0;
    const ledger = new CacheSyncLedger(1_000, { firstRepeatMs: 2_000, maxRepeatMs: 4_000 }, () => t);
    for (const step of steps) {
      t = step.t;
      expect(ledger.check(step.caches).map(summary), `at ${t} ms`).toEqual(step.reports);
    }
  });

  it('holds nothing for caches that are gone', () => {
    let t = 5_000;
    const ledger = new CacheSyncLedger(1_000, undefined, () => t);
    ledger.check([reading(), reading({ cluster: 'b' })]);
    expect(ledger.stuck().sort()).toEqual(['a|ConfigMap', 'b|ConfigMap']);
    t += 1;
    ledger.check([]);
    expect(ledger.stuck()).toEqual([]);
  });
});

describe('member cache sync: what the report says', () => {
  it.each([
    [undefined, 'no list has answered yet'],
    [forbidden, `403 Forbidden: ${forbidden.message}`],
    [new Error('request timed out after 10000 ms'), 'request timed out after 10000 ms'],
    ['ECONNRESET', 'ECONNRESET'],
  ])('describes the last list/watch error %#', (err, text) => {
    expect(describeListError(err)).toBe(text);
  });

  it.each([
    [{ resource: 'configmaps', group: '' }, forbidden, /^grant list and watch on configmaps \(the core API group \(""\)\) to the federation's credentials in that cluster/],
    [{ resource: 'replicasets', group: 'apps' }, new KubeApiError(403, 'Forbidden', 'no'), /^grant list and watch on replicasets \(API group "apps"\)/],
    [{ resource: 'ingresses', group: 'networking.k8s.io' }, new KubeApiError(404, 'NotFound', 'no'), /^the cluster does not serve ingresses\.networking\.k8s\.io at the version the federation uses: install or upgrade/],
    [{ resource: 'secrets', group: '' }, new KubeApiError(401, 'Unauthorized', 'no'), /^the cluster does not accept the federation's credentials: renew/],
    [{ resource: 'secrets', group: '' }, new Error('timed out'), /^check that cluster's API server .* or else grant list and watch on secrets/],
  ])('advises by the status the member answered %#', (r, err, advice) => {
    expect(cacheSyncAdvice(r, err)).toMatch(advice);
  });

  it('leads the Event message with its code and names the kind, the time, the error and the fix', () => {
    const r = reading({ cluster: 'gce-eu-1' });
    expect(cacheNotSyncedMessage({ type: 'stuck', reading: r, unsyncedMs: 45_300, error: describeListError(forbidden), first: true })).toBe(
      `E_MEMBER_CACHE_NOT_SYNCED: the controller has not been able to list configmaps in cluster gce-eu-1 for 45s, so the cluster gets no federated ConfigMap copies; last list/watch error: 403 Forbidden: ${forbidden.message}; ${cacheSyncAdvice(r, forbidden)}`,
    );
  });

  it.each([
    [0, '0s'],
    [45_999, '45s'],
    [119_000, '119s'],
    [120_000, '2m'],
    [119 * 60_000, '119m'],
    [120 * 60_000, '2h'],
    [200 * 60_000, '3h20m'],
  ])('says %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('ControllerMetrics of member clusters', () => {
  const lines = async (m: ControllerMetrics) => (await m.registry.metrics()).split('\n').filter((l) => l.startsWith('meridian_controller_') && l.includes('cluster="'));

  it("forgets every series of a deleted member and keeps the others'", async () => {
    const m = new ControllerMetrics();
    for (const c of ['a', 'b']) {
      m.memberReady(c, ['ConfigMap']);
      m.memberRequest(c, 'list');
      m.memberRequest(c, 'watch');
      m.propagated('ConfigMap', c, 'create', 0.02);
      m.propagated('ConfigMap', c, 'delete');
      m.drift('ConfigMap', c);
      m.throttled('ConfigMap', c);
    }
    const before = await lines(m);
    expect(before.filter((l) => l.includes('cluster="a"')).length).toBeGreaterThan(10);
    await m.forgetMember('a');
    const after = await lines(m);
    expect(after.filter((l) => l.includes('cluster="a"'))).toEqual([]);
    expect(after).toEqual(before.filter((l) => l.includes('cluster="b"')));
    // A member of the same name that joins later starts afresh.
    m.memberRequest('a', 'list');
    expect(await lines(m)).toContain('meridian_controller_api_requests_total{cluster="a",verb="list"} 1');
  });

  it('reports each Ready member cache as listed or not, and none for members without one', async () => {
    const m = new ControllerMetrics();
    let caches = [
      { cluster: 'a', kind: 'ConfigMap', synced: false },
      { cluster: 'a', kind: 'Secret', synced: true },
    ];
    m.watch({ clusters: () => [], kinds: () => [], memberCaches: () => caches });
    expect(await lines(m)).toEqual(['meridian_controller_member_cache_synced{cluster="a",kind="ConfigMap"} 0', 'meridian_controller_member_cache_synced{cluster="a",kind="Secret"} 1']);
    caches = [];
    expect(await lines(m)).toEqual([]);
  });
});
