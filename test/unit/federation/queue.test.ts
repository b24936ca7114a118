import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../../src/federation/controller/queue.js';
import { waitFor } from '../../helpers/wait.js';

describe('work queue (controller-runtime contract)', () => {
  it('deduplicates keys that are waiting', async () => {
    const runs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue(async (k) => {
      runs.push(k);
      if (k === 'block') await gate;
    }, { workers: 1 });
    q.add('block');
    q.add('a');
    q.add('a');
    q.add('a');
    release();
    await waitFor(() => runs.length === 2);
    await new Promise((r) => setTimeout(r, 20));
    expect(runs).toEqual(['block', 'a']);
    q.stop();
  });

  it('never runs one key twice at once, and reruns a key added while it ran', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const q = new WorkQueue(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      await new Promise((r) => setTimeout(r, 20));
      active--;
    }, { workers: 4 });
    q.add('k');
    await new Promise((r) => setTimeout(r, 5));
    q.add('k');
    await waitFor(() => runs === 2 && active === 0);
    expect(maxActive).toBe(1);
    q.stop();
  });

  it('lets other keys through while one is slow', async () => {
    const done: string[] = [];
    const q = new WorkQueue(async (k) => {
      if (k === 'slow') await new Promise((r) => setTimeout(r, 300));
      done.push(k);
    }, { workers: 2 });
    q.add('slow');
    q.add('fast-1');
    q.add('fast-2');
    await waitFor(() => done.includes('fast-2'));
    expect(done).not.toContain('slow');
    q.stop();
  });

  it('retries failures with exponential back-off', async () => {
    const attempts: number[] = [];
    const errors: number[] = [];
    const q = new WorkQueue(async () => {
      attempts.push(Date.now());
      if (attempts.length < 3) throw new Error('transient');
    }, { workers: 1, baseDelayMs: 20, maxDelayMs: 1000 }, (_k, _e, attempt) => errors.push(attempt));
    expect([1, 2, 3, 20].map((n) => q.backoff(n))).toEqual([20, 40, 80, 1000]);
    q.add('k');
    await waitFor(() => attempts.length === 3);
    expect(errors).toEqual([1, 2]);
    q.stop();
  });

  it('lets timers and I/O run between keys that finish without waiting', async () => {
    const done: string[] = [];
    const q = new WorkQueue(async (k) => {
      done.push(k);
    }, { workers: 4 });
    let doneWhenTimerFired = -1;
    setTimeout(() => (doneWhenTimerFired = done.length), 0);
    for (let i = 0; i < 2000; i++) q.add(`k${i}`);
    await waitFor(() => done.length === 2000);
    // Without the yield, all 2,000 reconciles settle in one microtask run before the timer.
    expect(doneWhenTimerFired).toBeGreaterThanOrEqual(0);
    expect(doneWhenTimerFired).toBeLessThan(2000);
    q.stop();
  });
});
