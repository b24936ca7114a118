import { describe, expect, it } from 'vitest';
import { FlowCounter } from '../../../src/proxy/flows.js';
import { buildSnapshot, type RoutingSnapshot } from '../../../src/routing/snapshot.js';

/** A table with one shard per cluster (`cluster@region`). */
function snapshot(version: string, clusters: string[]): RoutingSnapshot {
  return buildSnapshot({
    version,
    defaultBackend: 'web',
    backends: {
      web: {
        shards: clusters.map((c) => {
          const [cluster, region] = c.split('@') as [string, string];
          return { cluster, region, endpoints: [{ address: '10.0.0.1', port: 80 }] };
        }),
      },
    },
  });
}

const cell = (snap: RoutingSnapshot, region: string) => snap.regionByName.get(region)!;
const cluster = (snap: RoutingSnapshot, name: string) => snap.clusterByName.get(name)!;

describe('FlowCounter: the last minute of requests by client region × serving cluster', () => {
  it('counts each request into its region and cluster, and gives the window as flows, largest first, with a timeline per cluster', () => {
    const snap = snapshot('v1', ['asia-a@asia-east1', 'us-a@us-central1']);
    const flows = new FlowCounter(60);
    flows.bind(snap);
    for (let i = 0; i < 5; i++) flows.count(snap, cell(snap, 'asia-northeast1'), cluster(snap, 'asia-a'));
    flows.count(snap, cell(snap, 'europe-west2'), cluster(snap, 'us-a'));
    flows.count(snap, -1, cluster(snap, 'us-a')); // a client of no known place
    flows.close(1_000);
    for (let i = 0; i < 3; i++) flows.count(snap, cell(snap, 'asia-northeast1'), cluster(snap, 'us-a'));
    flows.close(1_001);

    const r = flows.read();
    expect(r.flows).toEqual([
      { from: 'asia-northeast1', to: 'asia-a', requests: 5 },
      { from: 'asia-northeast1', to: 'us-a', requests: 3 },
      { from: null, to: 'us-a', requests: 1 },
      { from: 'europe-west2', to: 'us-a', requests: 1 },
    ]);
    expect([r.seconds, r.from, r.until]).toEqual([2, 1_000_000, 1_002_000]);
    expect(r.timeline).toEqual({ 'asia-a': [5, 0], 'us-a': [2, 3] });
  });

  it('what is counted in a second belongs to it only once it closes', () => {
    const snap = snapshot('v1', ['asia-a@asia-east1']);
    const flows = new FlowCounter(60);
    flows.bind(snap);
    flows.count(snap, cell(snap, 'asia-east1'), 0);
    expect(flows.read()).toMatchObject({ flows: [], seconds: 0, from: null, until: null });
    flows.close(50);
    expect(flows.read().flows).toEqual([{ from: 'asia-east1', to: 'asia-a', requests: 1 }]);
  });

  it('forgets seconds older than the window, and leaves gaps of missed ticks empty', () => {
    const snap = snapshot('v1', ['asia-a@asia-east1']);
    const flows = new FlowCounter(10);
    flows.bind(snap);
    const tokyo = cell(snap, 'asia-northeast1');
    for (let s = 100; s < 110; s++) {
      flows.count(snap, tokyo, 0);
      flows.close(s);
    }
    expect(flows.read().flows[0]!.requests).toBe(10);
    flows.count(snap, tokyo, 0);
    flows.count(snap, tokyo, 0);
    flows.close(113); // 110-112 missed: the window is now 104..113
    const r = flows.read();
    expect(r.flows[0]!.requests).toBe(6 + 2);
    expect(r.timeline['asia-a']).toEqual([1, 1, 1, 1, 1, 1, 0, 0, 0, 2]);
    expect([r.seconds, r.from, r.until]).toEqual([10, 104_000, 114_000]);
    flows.close(200);
    expect(flows.read().flows).toEqual([]);
  });

  it('a new table keeps the minute by name, and a cluster the table dropped while the window still counts it', () => {
    const v1 = snapshot('v1', ['asia-a@asia-east1', 'asia-b@asia-east1', 'us-a@us-central1']);
    const flows = new FlowCounter(60);
    flows.bind(v1);
    flows.count(v1, cell(v1, 'asia-northeast1'), cluster(v1, 'asia-b'));
    flows.count(v1, cell(v1, 'asia-northeast1'), cluster(v1, 'asia-a'));
    flows.close(10);
    flows.count(v1, cell(v1, 'asia-northeast1'), cluster(v1, 'asia-a')); // the open second, too

    // asia-b's zone went down (its shard left the table); a new cluster came, in another order.
    const v2 = snapshot('v2', ['us-b@us-central1', 'us-a@us-central1', 'asia-a@asia-east1']);
    flows.bind(v2);
    flows.count(v2, cell(v2, 'asia-northeast1'), cluster(v2, 'us-b'));
    // A request chosen from the old table, still in flight when the new one came, is found by name.
    flows.count(v1, cell(v1, 'asia-northeast1'), cluster(v1, 'asia-a'));
    flows.close(11);

    const r = flows.read();
    expect(Object.fromEntries(r.flows.map((f) => [`${f.from}>${f.to}`, f.requests]))).toEqual({ 'asia-northeast1>asia-a': 3, 'asia-northeast1>asia-b': 1, 'asia-northeast1>us-b': 1 });
    expect(r.timeline).toEqual({ 'us-b': [0, 1], 'us-a': [0, 0], 'asia-a': [1, 2], 'asia-b': [1, 0] });

    // Once the window no longer counts asia-b, a new table lets it go.
    flows.close(100);
    flows.bind(snapshot('v3', ['us-a@us-central1']));
    flows.close(101);
    expect(Object.keys(flows.read().timeline)).toEqual(['us-a']);
  });

  it('counts nothing for a table it has no row or column for, rather than miscounting', () => {
    const v1 = snapshot('v1', ['asia-a@asia-east1']);
    const other = snapshot('other', ['eu-a@europe-west1']);
    const flows = new FlowCounter(60);
    flows.count(v1, 0, 0); // before any table
    flows.bind(v1);
    flows.count(other, cell(other, 'europe-west1'), cluster(other, 'eu-a'));
    flows.close(1);
    expect(flows.read().flows).toEqual([]);
  });

  it('costs a request an increment: a million counts take well under a millisecond each, in a matrix that does not grow', () => {
    const snap = snapshot('v1', ['asia-a@asia-east1', 'us-a@us-central1']);
    const flows = new FlowCounter(60);
    flows.bind(snap);
    const tokyo = cell(snap, 'asia-northeast1');
    const started = performance.now();
    for (let i = 0; i < 1_000_000; i++) flows.count(snap, tokyo, i & 1);
    const perCountNs = ((performance.now() - started) * 1e6) / 1_000_000;
    flows.close(1);
    expect(flows.read().flows.map((f) => f.requests)).toEqual([500_000, 500_000]);
    expect(perCountNs).toBeLessThan(200); // ~2-5 ns on these machines; the bound only catches a slow path
  });
});
