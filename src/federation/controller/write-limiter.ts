/**
 * A token bucket per member cluster on the controller's writes there (every kind shares it), so
 * a mass change — 10,000 objects edited at once, a cluster rejoining after a day — reaches each
 * member at a rate its API server takes without throttling or paging anyone.
 *
 * Non-blocking, so a throttled member holds up no worker and no other member: a write without a
 * token reserves the next free slot (golang.org/x/time/rate's Reserve) and is not made now; the
 * caller requeues its key for that slot, and when the key comes back the reservation is its
 * token. Deferred writes thus go out in order at the configured rate, each key retried once, not
 * polled. Pure apart from the clock, which is passed in.
 */
export interface WriteRate {
  /** Sustained writes per second per member. */
  qps: number;
  /** Writes a member may take at once after a quiet spell. */
  burst: number;
}

export const DEFAULT_WRITE_RATE: WriteRate = { qps: 50, burst: 100 };

/** A reservation not used this long after its slot is dropped (the write was no longer needed). */
const UNUSED_RESERVATION_MS = 10_000;

export class MemberWriteLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /** cluster → key → the time its reserved token is due. */
  private readonly reserved = new Map<string, Map<string, number>>();

  constructor(
    readonly rate: WriteRate,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    if (!(rate.qps > 0) || !(rate.burst >= 1)) throw new RangeError(`member write rate needs qps > 0 and burst >= 1 (got qps ${rate.qps}, burst ${rate.burst})`);
  }

  /**
   * A token for one write of `key` to `cluster`: 0 when the write may go now, else the ms until
   * its reserved slot (ask again then, with the same key).
   */
  take(cluster: string, key: string): number {
    const t = this.now();
    const mine = this.reserved.get(cluster);
    const due = mine?.get(key);
    if (due !== undefined) {
      if (due > t) return Math.ceil(due - t);
      mine!.delete(key);
      return 0; // the reservation already paid for this token
    }
    const b = this.buckets.get(cluster) ?? { tokens: this.rate.burst, at: t };
    b.tokens = Math.min(this.rate.burst, b.tokens + ((t - b.at) / 1000) * this.rate.qps);
    b.at = t;
    this.buckets.set(cluster, b);
    b.tokens -= 1;
    if (b.tokens >= 0) return 0;
    const wait = (-b.tokens / this.rate.qps) * 1000;
    if (mine) mine.set(key, t + wait);
    else this.reserved.set(cluster, new Map([[key, t + wait]]));
    return Math.ceil(wait);
  }

  /** Drops reservations whose writes were never made (object changed or deleted meanwhile). */
  prune(): void {
    const t = this.now();
    for (const [cluster, mine] of this.reserved) {
      for (const [key, due] of mine) if (t - due > UNUSED_RESERVATION_MS) mine.delete(key);
      if (mine.size === 0) this.reserved.delete(cluster);
    }
  }

  /** Reservations held for `key` in any member (tests: nothing stays behind a deleted object). */
  holds(key: string): boolean {
    for (const mine of this.reserved.values()) if (mine.has(key)) return true;
    return false;
  }

  /** A member left the federation: forget its bucket and reservations. */
  forget(cluster: string): void {
    this.buckets.delete(cluster);
    this.reserved.delete(cluster);
  }
}
