/**
 * A try that is out to an upstream, as the deadline sweep sees it. The try bumps `progress` when
 * it goes on the wire, with each chunk of the request body it sends, when the response headers
 * come and with each response body chunk; the sweep keeps the rest.
 */
export interface TimedTry {
  /** 0 while the try waits for a connection; then bumped on each sign of life. */
  progress: number;
  /** The response headers have come: from then on the body deadline applies. */
  readonly responseStarted: boolean;
  /** The client is not reading (backpressure): a quiet upstream is then not the upstream's fault. */
  readonly clientPaused: boolean;
  /**
   * Called once, by the sweep, past a deadline: `queue` (no connection came), `headers` (no
   * response after the request went out — its upload included), `body` (the response stalled),
   * `client` (the client has read nothing for too long).
   */
  timedOut(phase: Phase): void;
  /** Kept by the sweep. */
  sweep: { seen: number; quietSince: number; pausedSince: number; prev: TimedTry | null; next: TimedTry | null };
}

export type Phase = 'queue' | 'headers' | 'body' | 'client';

export function newSweepSlot(): TimedTry['sweep'] {
  // quietSince and pausedSince start as doubles (NaN): they will hold performance.now(), and a
  // field that starts as a small integer and later holds a double makes V8 deprecate the object's
  // shape, so every new slot was migrated on first use (~1.5 µs/req).
  return { seen: 0, quietSince: Number.NaN, pausedSince: Number.NaN, prev: null, next: null };
}

export interface DeadlineLimits {
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Waiting for a connection (limits.upstreamQueueTimeoutMs). */
  queueTimeoutMs: number;
  /** A client that reads nothing (limits.downstreamWriteTimeoutMs). */
  writeTimeoutMs: number;
}

/**
 * Upstream headers and body timeouts for every try in flight, checked by one periodic sweep.
 *
 * undici's own per-request timeouts re-arm a timer object whenever the delay changes: keep-alive →
 * headers → body → keep-alive is three new timers per request with three different values. They
 * live up to a second in undici's timer list, so each one is promoted to the old generation; at
 * 30k requests/s that was ~0.3 MB of promoted garbage per scavenge, mark-compacts every second or
 * two, and a p99 twice the bare proxy's. Here a try costs a list link and a counter; a deadline
 * fires between its timeout and one sweep interval later.
 *
 * Pure over the time it is given: the caller owns the clock and the interval.
 */
export class UpstreamDeadlines {
  private head: TimedTry | null = null;
  private count = 0;

  constructor(readonly limits: DeadlineLimits) {}

  /** How often to sweep: a tenth of the shortest timeout, between 25 ms and 1 s. */
  get intervalMs(): number {
    const l = this.limits;
    return Math.min(1000, Math.max(25, Math.floor(Math.min(l.headersTimeoutMs, l.bodyTimeoutMs, l.queueTimeoutMs, l.writeTimeoutMs) / 10)));
  }

  get size(): number {
    return this.count;
  }

  add(t: TimedTry): void {
    if (this.has(t)) return;
    const s = t.sweep;
    s.seen = 0;
    s.quietSince = Number.NaN;
    s.pausedSince = Number.NaN;
    s.prev = null;
    s.next = this.head;
    if (this.head) this.head.sweep.prev = t;
    this.head = t;
    this.count++;
  }

  remove(t: TimedTry): void {
    if (!this.has(t)) return;
    const s = t.sweep;
    if (s.prev) s.prev.sweep.next = s.next;
    else this.head = s.next;
    if (s.next) s.next.sweep.prev = s.prev;
    s.prev = s.next = null;
    this.count--;
  }

  private has(t: TimedTry): boolean {
    return t.sweep.prev !== null || this.head === t;
  }

  /** Times out every try quiet for longer than its phase allows at `now` (ms, any monotonic clock). */
  sweep(now: number): void {
    const l = this.limits;
    let t = this.head;
    while (t) {
      const next = t.sweep.next;
      const s = t.sweep;
      let expired: Phase | undefined;
      if (t.clientPaused) {
        // The client holds the response up: the upstream is not to blame, but a client that
        // reads nothing for too long holds a connection for ever (slow-reader starvation).
        if (Number.isNaN(s.pausedSince)) s.pausedSince = now;
        else if (now - s.pausedSince >= l.writeTimeoutMs) expired = 'client';
        s.seen = t.progress;
        s.quietSince = now;
      } else {
        s.pausedSince = Number.NaN;
        if (t.progress !== s.seen || Number.isNaN(s.quietSince)) {
          // A sign of life since the last sweep (or its first sweep): the quiet starts now.
          s.seen = t.progress;
          s.quietSince = now;
        } else if (now - s.quietSince >= (t.progress === 0 ? l.queueTimeoutMs : t.responseStarted ? l.bodyTimeoutMs : l.headersTimeoutMs)) {
          expired = t.progress === 0 ? 'queue' : t.responseStarted ? 'body' : 'headers';
        }
      }
      if (expired) {
        this.remove(t);
        t.timedOut(expired);
      }
      t = next;
    }
  }
}
