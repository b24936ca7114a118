import { describe, expect, it } from 'vitest';
import { newSweepSlot, UpstreamDeadlines, type TimedTry } from '../../../src/proxy/upstream-deadlines.js';

/** A try as the proxy's Attempt would be: the test moves its counters and flags by hand. */
type FakeTry = { -readonly [K in keyof TimedTry]: TimedTry[K] } & { fired: string[] };
function fakeTry(): FakeTry {
  const fired: string[] = [];
  return { progress: 0, responseStarted: false, clientPaused: false, sweep: newSweepSlot(), fired, timedOut: (phase) => void fired.push(phase) };
}

type Step = { at: number; do?: (t: FakeTry) => void; fired: string[] };

const LIMITS = { headersTimeoutMs: 1000, bodyTimeoutMs: 3000, queueTimeoutMs: 2000, writeTimeoutMs: 5000 };

describe('UpstreamDeadlines (headers 1000 ms, body 3000 ms, queue 2000 ms, client write 5000 ms)', () => {
  const onWire = (t: FakeTry) => void t.progress++;
  const headers = (t: FakeTry) => {
    t.progress++;
    t.responseStarted = true;
  };
  const cases: Array<[string, Step[]]> = [
    ['fires the queue deadline when no connection comes for 2000 ms', [{ at: 0, fired: [] }, { at: 1999, fired: [] }, { at: 2000, fired: ['queue'] }, { at: 60_000, fired: ['queue'] }]],
    [
      'counts a steady upload as life: the headers deadline runs from the last body chunk sent',
      [
        { at: 0, do: onWire, fired: [] },
        ...Array.from({ length: 10 }, (_, i) => ({ at: 900 * (i + 1), do: onWire, fired: [] })),
        { at: 9000 + 999, fired: [] },
        { at: 9000 + 1000, fired: ['headers'] },
      ],
    ],
    [
      'fires the headers deadline once the try has been on the wire and quiet for 1000 ms',
      [
        { at: 0, do: onWire, fired: [] },
        { at: 999, fired: [] },
        { at: 1000, fired: ['headers'] },
        { at: 5000, fired: ['headers'] },
      ],
    ],
    [
      'switches to the body deadline once the headers came, and each chunk restarts the quiet',
      [
        { at: 0, do: onWire, fired: [] },
        { at: 900, do: headers, fired: [] },
        { at: 3000, do: onWire, fired: [] },
        { at: 5900, fired: [] },
        { at: 6000, fired: ['body'] },
      ],
    ],
    [
      'holds the upstream deadline while the client is not reading, and starts the quiet again after',
      [
        { at: 0, do: onWire, fired: [] },
        { at: 100, do: headers, fired: [] },
        { at: 200, do: (t) => void (t.clientPaused = true), fired: [] },
        { at: 5000, fired: [] },
        { at: 5001, do: (t) => void (t.clientPaused = false), fired: [] },
        { at: 7999, fired: [] },
        { at: 8000, fired: ['body'] },
      ],
    ],
    [
      'drops a client that reads nothing for 5000 ms (a slow reader must not hold a connection for ever)',
      [
        { at: 0, do: onWire, fired: [] },
        { at: 100, do: headers, fired: [] },
        { at: 200, do: (t) => void (t.clientPaused = true), fired: [] },
        { at: 5199, fired: [] },
        { at: 5200, fired: ['client'] },
      ],
    ],
  ];
  it.each(cases)('%s', (_name, steps) => {
    const d = new UpstreamDeadlines(LIMITS);
    const t = fakeTry();
    d.add(t);
    for (const step of steps) {
      step.do?.(t);
      d.sweep(step.at);
      expect(t.fired, `at ${step.at}`).toEqual(step.fired);
    }
    expect(d.size).toBe(t.fired.length ? 0 : 1); // a fired try leaves the list
  });

  it('keeps its list whole through adds and removes in any order, and ignores repeats', () => {
    const d = new UpstreamDeadlines(LIMITS);
    const tries = Array.from({ length: 6 }, fakeTry);
    for (const t of tries) d.add(t);
    d.add(tries[0]!);
    expect(d.size).toBe(6);
    for (const i of [0, 5, 2]) d.remove(tries[i]!);
    d.remove(tries[2]!);
    expect(d.size).toBe(3);
    for (const t of tries) t.progress = 1;
    d.sweep(0);
    d.sweep(1000);
    expect(tries.map((t) => t.fired.length)).toEqual([0, 1, 0, 1, 1, 0]);
    expect(d.size).toBe(0);
  });

  it('sweeps ten times per shortest timeout, between 25 ms and 1 s', () => {
    const l = (h: number, b: number, q = 60_000, w = 60_000) => new UpstreamDeadlines({ headersTimeoutMs: h, bodyTimeoutMs: b, queueTimeoutMs: q, writeTimeoutMs: w }).intervalMs;
    expect(l(30_000, 60_000)).toBe(1000);
    expect(l(2000, 500)).toBe(50);
    expect(l(100, 100)).toBe(25);
    expect(l(30_000, 60_000, 3000)).toBe(300);
  });
});
