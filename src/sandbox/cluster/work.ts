import { PendingTimers } from '../../common/timers.js';

/**
 * A tiny deduplicating work loop for the simulated cluster's controllers: keys are queued from
 * store watch events and reconciled one at a time on a later turn of the event loop, so a
 * reconcile never runs inside the store's own event delivery, and a burst of events for one
 * object costs one reconcile.
 */
export class WorkLoop {
  private readonly pending = new Set<string>();
  private scheduled = false;
  private stopped = false;
  private readonly retries = new Map<string, number>();
  private readonly timers = new PendingTimers();

  constructor(
    private readonly name: string,
    private readonly reconcile: (key: string) => void | Promise<void>,
    private readonly onError: (name: string, key: string, err: unknown) => void = () => {},
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    this.pending.add(key);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.drain());
    }
  }

  /** Re-queues a key after a delay (a pod waiting out its probe, a retry after a conflict). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    this.timers.after(ms, () => this.add(key));
  }

  stop(): void {
    this.stopped = true;
    this.pending.clear();
    this.timers.cancelAll();
  }

  private async drain(): Promise<void> {
    this.scheduled = false;
    const keys = [...this.pending];
    this.pending.clear();
    for (const key of keys) {
      if (this.stopped) return;
      try {
        await this.reconcile(key);
        this.retries.delete(key);
      } catch (err) {
        // Conflicts and races with other controllers are normal: retry with a growing delay.
        const n = (this.retries.get(key) ?? 0) + 1;
        this.retries.set(key, n);
        this.onError(this.name, key, err);
        this.addAfter(key, Math.min(1000, 5 * 2 ** n));
      }
    }
  }
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
