import { describe, expect, it } from 'vitest';
import { capacityShare } from '../../../src/proxy/worker-share.js';

describe('capacityShare(own, all, workers)', () => {
  it.each([
    ['a single process has it all', 10, 10, 1, 1],
    ['an even split', 500, 1000, 2, 501 / 1002],
    ['an uneven split follows the traffic', 750, 1000, 2, 751 / 1002],
    ['no traffic anywhere: an even part', 0, 0, 4, 0.25],
    ['a worker that saw nothing still gets a little', 0, 1000, 2, 1 / 1002],
    ['never more than all', 1000, 1000, 2, 1001 / 1002],
  ])('%s', (_case, own, all, workers, share) => {
    expect(capacityShare(own, all, workers)).toBeCloseTo(share, 12);
  });
});
