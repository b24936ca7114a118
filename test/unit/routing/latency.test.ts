import { describe, expect, it } from 'vitest';
import { choose } from '../../../src/routing/choose.js';
import { explain } from '../../../src/routing/explain.js';
import { fleetLatency, latencyMoved } from '../../../src/routing/latency.js';
import { LiveState } from '../../../src/routing/live.js';
import { buildSnapshot, cellRtt, locateClient } from '../../../src/routing/snapshot.js';

describe('fleetLatency(): the median of the proxies of each region', () => {
  it.each([
    ['one proxy', [{ region: 'us-central1', rttMs: { 'asia-east1': 150 } }], { 'us-central1|asia-east1': 150 }],
    [
      'three proxies: the median, not one congested link',
      [
        { region: 'us-central1', rttMs: { 'asia-east1': 150 } },
        { region: 'us-central1', rttMs: { 'asia-east1': 900 } },
        { region: 'us-central1', rttMs: { 'asia-east1': 140 } },
      ],
      { 'us-central1|asia-east1': 150 },
    ],
    ['two proxies: the mean of the middle two', [{ region: 'a', rttMs: { b: 10 } }, { region: 'a', rttMs: { b: 20 } }], { 'a|b': 15 }],
    ['no region, or its own region: nothing', [{ rttMs: { b: 10 } }, { region: 'b', rttMs: { b: 3 } }], {}],
  ])('%s', (_case, members, expected) => {
    expect(Object.fromEntries(fleetLatency(members))).toEqual(expected);
  });
});

describe('latencyMoved(): only real changes reorder', () => {
  const m = (o: Record<string, number>) => new Map(Object.entries(o));
  it.each([
    [{ 'a|b': 100 }, { 'a|b': 110 }, false],
    [{ 'a|b': 100 }, { 'a|b': 130 }, true],
    [{ 'a|b': 10 }, { 'a|b': 14 }, false],
    [{}, { 'a|b': 10 }, true],
    [{ 'a|b': 10 }, {}, true],
  ])('%j → %j: %s', (a, b, moved) => {
    expect(latencyMoved(m(a), m(b))).toBe(moved);
  });
});

describe('ranking with the fleet\'s measurements', () => {
  const table = {
    version: 't',
    defaultBackend: 'web',
    backends: {
      web: {
        shards: [
          { cluster: 'asia-a', region: 'asia-east1', endpoints: [{ address: '10.0.0.1', port: 80 }] },
          { cluster: 'eu-b', region: 'europe-west1', endpoints: [{ address: '10.1.0.1', port: 80 }] },
          { cluster: 'us-a', region: 'us-central1', endpoints: [{ address: '10.2.0.1', port: 80 }] },
        ],
      },
    },
  };
  const TAIPEI = { lat: 25.03, lon: 121.56 };

  it('measured pairs replace the static table; unmeasured ones keep it; explain says which', () => {
    const snap = buildSnapshot(table);
    const live = new LiveState(snap);
    const cell = locateClient(snap, TAIPEI);
    live.setHealthy(0, false); // Asia is down: where does Taipei go next?
    const rng = () => 0.5;
    expect(snap.shards[choose({ cell, sourceCluster: -1 }, snap, live, 0, rng).shard]!.cluster).toBe('us-a'); // the table: the U.S. (150 ms) before Europe (255 ms)
    expect(cellRtt(snap, cell, snap.regionByName.get('europe-west1')!, live.measuredRtt)).toEqual({ ms: 255, source: 'table' });

    live.setMeasuredRtt(new Map([['asia-east1|europe-west1', 90]]));
    expect(snap.shards[choose({ cell, sourceCluster: -1 }, snap, live, 0, rng).shard]!.cluster).toBe('eu-b');
    const ranked = explain({ cell, sourceCluster: -1 }, snap, live, 0, rng).ranked;
    expect(ranked.map((r) => [r.cluster, r.estimatedRttMs, r.rttSource])).toEqual([
      ['asia-a', 0, 'same-region'],
      ['eu-b', 90, 'fleet'],
      ['us-a', 150, 'table'],
    ]);
  });
});

describe('a client\'s cell prefers, among regions in the same place, one the measured table knows', () => {
  const snap = buildSnapshot({ version: 't', defaultBackend: 'web', backends: { web: { shards: [{ cluster: 'a', region: 'asia-east1', endpoints: [] }] } } });
  it.each([
    ['Tokyo', { lat: 35.6916, lon: 139.768 }, 'asia-northeast1'], // Azure's japaneast is a few km nearer
    ['São Paulo', { lat: -23.5558, lon: -46.6396 }, 'southamerica-east1'],
    ['Taipei', { lat: 25.03, lon: 121.56 }, 'asia-east1'],
  ])('%s → %s', (_city, loc, region) => {
    expect(snap.regions[locateClient(snap, loc)]).toBe(region);
  });
});
