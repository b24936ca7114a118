import { describe, expect, it } from 'vitest';
import { assignedTo, assignProbers, fleetVerdicts } from '../../../src/health/fleet-health.js';

const endpoints = Array.from({ length: 3000 }, (_, i) => `web|c${i % 30}|10.${i >> 8}.${i & 255}.1:80`);
const proxies = (n: number) => Array.from({ length: n }, (_, i) => `proxy-${i}`);

describe('assignProbers(): k probers per endpoint by rendezvous hashing', () => {
  it('gives every endpoint k distinct probers, and every proxy about k/N of the endpoints', () => {
    const a = assignProbers(endpoints, proxies(20), 3);
    for (let e = 0; e < endpoints.length; e++) {
      const ps = Array.from(a.probers.subarray(e * 3, e * 3 + 3));
      expect(new Set(ps).size).toBe(3);
      expect(ps.every((p) => p >= 0)).toBe(true);
    }
    const expected = (endpoints.length * 3) / 20;
    for (const p of proxies(20)) {
      const n = assignedTo(a, p, endpoints.length).reduce((x, y) => x + y, 0);
      expect(Math.abs(n - expected)).toBeLessThan(0.25 * expected);
    }
  });

  it('does not depend on the order the members are listed in', () => {
    const a = assignProbers(endpoints, proxies(7), 3);
    const b = assignProbers(endpoints, proxies(7).reverse(), 3);
    expect(b).toEqual(a);
  });

  it('moves only the leaving proxy\'s endpoints when one leaves', () => {
    const before = assignProbers(endpoints, proxies(10), 3);
    const after = assignProbers(endpoints, proxies(10).filter((p) => p !== 'proxy-4'), 3);
    let moved = 0;
    for (let e = 0; e < endpoints.length; e++) {
      const set = (a: typeof before) => new Set(Array.from(a.probers.subarray(e * 3, e * 3 + 3)).map((i) => a.members[i]));
      const was = set(before);
      const now = set(after);
      const lost = [...was].filter((p) => !now.has(p));
      // Only an endpoint proxy-4 probed changes probers, and only proxy-4 is replaced.
      if (lost.length) {
        expect(lost).toEqual(['proxy-4']);
        moved++;
      }
    }
    expect(moved).toBe(assignedTo(before, 'proxy-4', endpoints.length).reduce((x, y) => x + y, 0));
  });

  it.each([
    [1, 3, 1],
    [2, 3, 2],
    [5, 3, 3],
    [5, 9, 5],
  ])('with %i proxies and k=%i, each endpoint has %i probers', (n, k, per) => {
    expect(assignProbers(endpoints.slice(0, 10), proxies(n), k).k).toBe(per);
  });
});

describe('fleetVerdicts(): down when a majority of the probers say so', () => {
  const keys = ['e0', 'e1'];
  const a = assignProbers(keys, ['p1', 'p2', 'p3'], 3);
  it.each([
    ['nobody sees it down', {}, [1, 1]],
    ['one prober of three (its own broken path) does not move it', { p1: ['e0'] }, [1, 1]],
    ['two of three take it down', { p1: ['e0'], p3: ['e0', 'e1'] }, [0, 1]],
    ['all three', { p1: ['e1'], p2: ['e1'], p3: ['e1'] }, [1, 0]],
    ['votes from proxies that are not probers do not count', { p9: ['e0'], p8: ['e0'] }, [1, 1]],
  ])('%s', (_case, down, expected) => {
    const votes = new Map(Object.entries(down).map(([p, ks]) => [p, new Set(ks as string[])]));
    expect(Array.from(fleetVerdicts(keys, a, votes))).toEqual(expected);
  });
  it('two probers: both must agree; an empty fleet has no verdict', () => {
    const two = assignProbers(keys, ['p1', 'p2'], 3);
    expect(Array.from(fleetVerdicts(keys, two, new Map([['p1', new Set(['e0'])]])))).toEqual([1, 1]);
    expect(Array.from(fleetVerdicts(keys, two, new Map([['p1', new Set(['e0'])], ['p2', new Set(['e0'])]])))).toEqual([0, 1]);
    expect(Array.from(fleetVerdicts(keys, assignProbers(keys, [], 3), new Map()))).toEqual([-1, -1]);
  });
});
