import { describe, expect, it } from 'vitest';
import { MIN_ADMIT, nextAdmission, ownLoad, updateAdmission, type PeriodLoad } from '../../../src/routing/admission.js';
import { choose } from '../../../src/routing/choose.js';
import { LiveState } from '../../../src/routing/live.js';
import { buildSnapshot, locateClient } from '../../../src/routing/snapshot.js';

describe('nextAdmission(demand, sample, capacity)', () => {
  it.each([
    // [case, demand estimate, demand counted last period, capacity, → share, → demand]
    ['unlimited capacity admits all and forgets', 300, 200, Number.POSITIVE_INFINITY, 1, -1],
    ['no capacity (no healthy endpoint) admits all and forgets, never NaN', 300, 200, 0, 1, -1],
    ['first period: share = capacity / demand', -1, 900, 400, 400 / 900, 900],
    ['nothing seen yet stays unknown', -1, 0, 400, 1, -1],
    ['steady: an estimate confirmed stays', 800, 800, 400, 0.5, 800],
    ['falling demand is averaged in', 800, 400, 400, 400 / 600, 600],
    ['a surge is believed at once', 100, 1000, 400, 0.4, 1000],
    ['under capacity: admit all', 100, 100, 400, 1, 100],
    ['never below the floor', -1, 1e9, 1, MIN_ADMIT, 1e9],
  ])('%s', (_case, demand, sample, capacity, nextShare, nextDemand) => {
    const [s, d] = nextAdmission(demand, sample, capacity);
    expect(s).toBeCloseTo(nextShare, 10);
    expect(d).toBeCloseTo(nextDemand, 10);
  });
  it.each([
    ['held at its burst allowance, a higher sample is believed at once', 400, 500, 200, true, 0.4, 500],
    ['not held, it is averaged in', 400, 500, 200, false, 200 / 450, 450],
  ])('%s', (_case, demand, sample, capacity, capped, nextShare, nextDemand) => {
    const [s, d] = nextAdmission(demand, sample, capacity, capped);
    expect(s).toBeCloseTo(nextShare, 10);
    expect(d).toBeCloseTo(nextDemand, 10);
  });
});

describe('updateAdmission() with a fleet: capacity holds for the fleet, not per proxy', () => {
  function seeded(seed: number): () => number {
    let s = seed >>> 0;
    return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  }
  const table = (maxRate: number) => ({
    version: 't',
    defaultBackend: 'web',
    backends: {
      web: {
        shards: [
          { cluster: 'asia-a', region: 'asia-east1', endpoints: [{ address: '10.0.0.1', port: 80 }], maxRatePerEndpoint: maxRate },
          { cluster: 'us-a', region: 'us-central1', endpoints: [{ address: '10.0.1.1', port: 80 }], maxRatePerEndpoint: 1000 },
        ],
      },
    },
  });
  const TAIPEI = { lat: 25.03, lon: 121.56 };

  /**
   * `proxies` proxies each offered `offered[i]` req/s from Taipei for `seconds`; each second every
   * proxy closes its period, and the fleet's sum of the period before (as the store delivers it,
   * one period late) drives admission. Returns the fleet's requests to asia-a per second.
   */
  function runFleet(offered: number[], seconds: number, capacity: number, fleetSums = true): number[] {
    const snap = buildSnapshot(table(capacity));
    const lives = offered.map(() => new LiveState(snap));
    const rng = seeded(5);
    const cell = locateClient(snap, TAIPEI);
    const asia = snap.shardByKey.get('web|asia-a')!;
    const perSecond: number[] = [];
    let previous: PeriodLoad[] | undefined;
    for (let t = 0; t < seconds; t++) {
      // Requests interleave across the proxies within the second, as behind one VIP.
      const left = [...offered];
      while (left.some((n) => n > 0)) {
        for (let i = 0; i < lives.length; i++) {
          if (left[i]! <= 0) continue;
          left[i]!--;
          lives[i]!.countRequest(choose({ cell, sourceCluster: -1 }, snap, lives[i]!, 0, rng).shard);
        }
      }
      perSecond.push(lives.reduce((n, l) => n + l.periodCount[asia]!, 0));
      for (const l of lives) l.endPeriod();
      const own = lives.map((l) => ownLoad(l));
      const total = previous && sum(previous);
      lives.forEach((l, i) => updateAdmission(l, fleetSums && total ? { total, own: previous![i]! } : undefined));
      previous = own;
    }
    return perSecond;
  }
  function sum(loads: PeriodLoad[]): PeriodLoad {
    const add = (pick: (l: PeriodLoad) => Float64Array) => loads.map(pick).reduce((a, b) => a.map((v, i) => v + b[i]!));
    return { proxies: loads.length, shardRate: add((l) => l.shardRate), shardDemand: add((l) => l.shardDemand), groupDemand: add((l) => l.groupDemand) };
  }
  const settled = (xs: number[]) => xs.slice(6).reduce((a, b) => a + b, 0) / (xs.length - 6);

  it.each([
    ['three proxies, even load', [20, 20, 20], 20],
    ['three proxies, uneven load', [40, 15, 5], 20],
    ['five proxies, one idle', [30, 30, 30, 30, 0], 50],
  ])('%s: the shard gets its capacity ±10 %%', (_case, offered, capacity) => {
    const got = runFleet(offered, 20, capacity);
    expect(Math.abs(settled(got) - capacity)).toBeLessThanOrEqual(0.1 * capacity);
  });

  it('without the fleet sums each proxy fills the whole capacity (the defect the sums fix)', () => {
    expect(settled(runFleet([20, 20, 20], 20, 20, false))).toBeGreaterThan(1.5 * 20);
  });

  it('a proxy alone behaves as before: local admission at the whole capacity', () => {
    expect(Math.abs(settled(runFleet([60], 20, 20)) - 20)).toBeLessThanOrEqual(2);
  });
});
