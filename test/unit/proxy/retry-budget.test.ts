import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../../src/proxy/retry-budget.js';

/** Runs `ticks` seconds of `perTick` requests, asking for `wanted` retries each tick; returns how many were granted per tick. */
function simulate(budget: RetryBudget, ticks: number, perTick: number, wanted: number): number[] {
  const granted: number[] = [];
  for (let t = 0; t < ticks; t++) {
    for (let i = 0; i < perTick; i++) budget.countRequest();
    let g = 0;
    for (let i = 0; i < wanted; i++) if (budget.tryRetry()) g++;
    granted.push(g);
    budget.tick();
  }
  return granted;
}

describe('RetryBudget', () => {
  it.each([
    // [case, ratio, minPerTick, requests per tick, retries wanted per tick, granted per tick on average over a window, once steady]
    ['a storm at high load is capped at the ratio', 0.2, 10, 1000, 1000, 200],
    ['light traffic still gets the minimum', 0.2, 10, 5, 50, 10],
    ['no failures, nothing taken', 0.2, 10, 1000, 0, 0],
    ['ratio 0 and no minimum: never', 0, 0, 1000, 10, 0],
  ])('%s', (_case, ratio, minPerTick, perTick, wanted, steady) => {
    const granted = simulate(new RetryBudget(ratio, minPerTick), 30, perTick, wanted);
    const lastWindow = granted.slice(20).reduce((a, b) => a + b, 0);
    expect(lastWindow / 10).toBe(steady);
  });

  it('absorbs a burst: a cluster dying with many requests on it gets all its retries', () => {
    const budget = new RetryBudget(0.2, 10);
    simulate(budget, 10, 30_000, 0); // 10 s of normal traffic
    for (let i = 0; i < 30; i++) budget.countRequest();
    const granted = Array.from({ length: 40 }, () => budget.tryRetry()).filter(Boolean).length;
    expect(granted).toBe(40);
  });

  it('forgets requests older than the window', () => {
    const budget = new RetryBudget(0.5, 0, 3);
    simulate(budget, 1, 100, 0);
    simulate(budget, 3, 0, 0); // the window has moved past them
    expect(budget.tryRetry()).toBe(false);
  });
});
