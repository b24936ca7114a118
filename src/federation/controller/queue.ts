import { PendingTimers } from '../../common/timers.js';

/**
 * A work queue with controller-runtime's contract: a key is queued at most once, processed by
 * at most one worker at a time (a key added while it is being processed runs again afterwards),
 * failures are retried with per-key exponential back-off, and `workers` keys run concurrently so
 * one slow key (one slow cluster) never blocks the others.
 */
export interface QueueOptions {
  workers: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirtyWhileProcessing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new PendingTimers();
  private active = 0;
  private stopped = false;

  constructor(
    private readonly reconcile: (key: string) => Promise<void>,
    private readonly opts: QueueOptions,
    private readonly onError: (key: string, err: unknown, attempt: number) => void = () => {},
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  /** Whether a reconcile is running now. */
  get busy(): boolean {
    return this.active > 0;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Whether the queue keeps anything for `key` (waiting, running, or a failure count). */
  holds(key: string): boolean {
    return this.queued.has(key) || this.processing.has(key) || this.failures.has(key);
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    this.timers.after(ms, () => this.add(key));
  }

  /** The back-off a key's n-th consecutive failure waits: base × 2^(n-1), capped. */
  backoff(attempt: number): number {
    return Math.min(this.opts.maxDelayMs ?? 60_000, (this.opts.baseDelayMs ?? 50) * 2 ** Math.max(0, attempt - 1));
  }

  stop(): void {
    this.stopped = true;
    this.timers.cancelAll();
    this.queue.length = 0;
    this.queued.clear();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.opts.workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    try {
      await this.reconcile(key);
      this.failures.delete(key);
    } catch (err) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      this.onError(key, err, attempt);
      this.addAfter(key, this.backoff(attempt));
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.dirtyWhileProcessing.delete(key)) this.add(key);
      // The next key starts after pending I/O: a reconcile answered from caches settles in
      // microtasks, and a resync of thousands of such keys back to back would starve timers and
      // sockets (health probes time out, watches stall) for the whole pass.
      setImmediate(() => this.pump());
    }
  }
}
