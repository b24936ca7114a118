import { describe, expect, it } from 'vitest';
import { MIN_ADMIT, nextAdmission } from '../../../src/routing/admission.js';

describe('nextAdmission(share, demand, rate, capacity)', () => {
  it.each([
    // [case, share, demand estimate, rate last period, capacity, → share, → demand]
    ['unlimited capacity admits all and forgets', 0.5, 300, 200, Number.POSITIVE_INFINITY, 1, -1],
    ['no capacity (no healthy endpoint) admits all and forgets, never NaN', 0.5, 300, 200, 0, 1, -1],
    ['first period: demand = rate / share, share = capacity / demand', 1, -1, 900, 400, 400 / 900, 900],
    ['nothing seen yet stays unknown', 1, -1, 0, 400, 1, -1],
    ['steady: an estimate confirmed stays', 0.5, 800, 400, 400, 0.5, 800],
    ['falling demand is averaged in', 0.5, 800, 200, 400, 400 / 600, 600],
    ['a surge is believed at once', 1, 100, 1000, 400, 0.4, 1000],
    ['under capacity: admit all', 1, 100, 100, 400, 1, 100],
    ['never below the floor', 1, -1, 1e9, 1, MIN_ADMIT, 1e9],
  ])('%s', (_case, share, demand, rate, capacity, nextShare, nextDemand) => {
    const [s, d] = nextAdmission(share, demand, rate, capacity);
    expect(s).toBeCloseTo(nextShare, 10);
    expect(d).toBeCloseTo(nextDemand, 10);
  });
});
