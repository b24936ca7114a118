/**
 * What a federated object's reconciles found wrong (a conflict in a member, a bad annotation), and
 * when each was last told as an Event. A problem is evented when it appears or its message
 * changes, and again while it lasts after a back-off that doubles from `firstRepeatMs` up to
 * `maxRepeatMs` — a standing problem stays visible in `kubectl describe` without an Event per
 * resync. A problem a reconcile no longer finds is forgotten, so when it comes back it is news.
 * Entries live only as long as their object. Pure apart from the clock, which is passed in.
 */
export interface Problem {
  /** One of PROBLEM_REASONS. */
  reason: string;
  message: string;
  /** The member it concerns ('' for the object itself). */
  cluster: string;
}

/**
 * Every reason a reconcile records a problem under: the metrics report each (zero included), so
 * an alert on one exists before the first occurrence.
 */
export const PROBLEM_REASONS = ['ConflictResolution', 'InvalidPreferences', 'UnknownCluster', 'InvalidClusterSelector'] as const;

export interface RepeatPolicy {
  firstRepeatMs: number;
  maxRepeatMs: number;
}

export const DEFAULT_REPEAT: RepeatPolicy = { firstRepeatMs: 5 * 60_000, maxRepeatMs: 60 * 60_000 };

interface Told {
  message: string;
  at: number;
  repeatMs: number;
}

export class ProblemLedger {
  /** object key → `reason|cluster` → when it was last evented. */
  private readonly told = new Map<string, Map<string, Told>>();

  constructor(
    private readonly policy: RepeatPolicy = DEFAULT_REPEAT,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The outcome of one reconcile of `key`: returns the problems to event now, and forgets those
   * that are gone.
   */
  settle(key: string, found: readonly Problem[]): Problem[] {
    const t = this.now();
    const before = this.told.get(key);
    const after = new Map<string, Told>();
    const toTell: Problem[] = [];
    for (const p of found) {
      const id = `${p.reason}|${p.cluster}`;
      if (after.has(id)) continue;
      const old = before?.get(id);
      if (!old || old.message !== p.message) {
        after.set(id, { message: p.message, at: t, repeatMs: this.policy.firstRepeatMs });
        toTell.push(p);
      } else if (t - old.at >= old.repeatMs) {
        after.set(id, { message: p.message, at: t, repeatMs: Math.min(this.policy.maxRepeatMs, old.repeatMs * 2) });
        toTell.push(p);
      } else after.set(id, old);
    }
    if (after.size) this.told.set(key, after);
    else this.told.delete(key);
    return toTell;
  }

  forget(key: string): void {
    this.told.delete(key);
  }

  /** Objects with a standing problem, by reason (an object with two clusters in conflict counts once). */
  objectsByReason(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const problems of this.told.values()) {
      const reasons = new Set<string>();
      for (const id of problems.keys()) reasons.add(id.slice(0, id.indexOf('|')));
      for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
    }
    return counts;
  }

  holds(key: string): boolean {
    return this.told.has(key);
  }
}
