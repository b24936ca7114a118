import { shardCapacity, usable } from './choose.js';
import { deriveHealth, type LiveState } from './live.js';

/** Never admit less than this share, so a shard can climb back once it has room again. */
export const MIN_ADMIT = 0.01;

/**
 * The share to admit next period: the share that would have brought last period's rate down (or
 * up) to capacity. Admitted load is proportional to the share, so this settles in one period
 * where comparing the last rate with capacity would flip between "everything" and "nothing".
 */
export function nextAdmission(share: number, rate: number, capacity: number): number {
  if (capacity === Number.POSITIVE_INFINITY || rate <= 0) return 1;
  return Math.min(1, Math.max(MIN_ADMIT, (share * capacity) / rate));
}

/**
 * Recomputes every shard's and region group's admitted share from the rates of the period just
 * ended (live.shardRate). Pure over `live`; the proxy calls it once a second after setting rates.
 */
export function updateAdmission(live: LiveState): void {
  deriveHealth(live);
  const snap = live.snapshot;
  for (const s of snap.shards) live.shardAdmit[s.id] = nextAdmission(live.shardAdmit[s.id]!, live.shardRate[s.id]!, shardCapacity(live, s.id));
  for (const b of snap.backends) {
    for (const g of b.regions) {
      let capacity = 0;
      let rate = 0;
      for (const id of g.shards) {
        rate += live.shardRate[id]!;
        if (usable(live, id)) capacity += shardCapacity(live, id);
      }
      live.regionAdmit[g.id] = nextAdmission(live.regionAdmit[g.id]!, rate, capacity);
    }
  }
}
