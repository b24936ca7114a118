import { BURST_ALLOWANCE, shardCapacity, usable } from './choose.js';
import { deriveHealth, type LiveState } from './live.js';

/** Never admit less than this share, so a shard can climb back once it has room again. */
export const MIN_ADMIT = 0.01;
/** Weight of the newest period in the demand estimate: damps sampling noise at low rates. */
export const DEMAND_SMOOTHING = 0.5;
/** A period whose demand is this many times the estimate replaces it instead of being averaged in. */
export const SURGE = 1.5;

/**
 * One admission step. The demand that reached a shard (or region) last period is its rate over
 * the share it admitted; it is smoothed across periods (the first one, and a surge, count in full), and the
 * next share is what meets capacity: capacity / demand. Admitted load is proportional to the
 * share, so this settles at once, where comparing the last rate with capacity would flip between
 * "everything" and "nothing". With unlimited or no capacity there is nothing to learn: admit all
 * (an unusable shard is skipped anyway) and forget the demand. Returns [share, demand]; demand
 * is -1 when unknown.
 */
export function nextAdmission(share: number, demand: number, rate: number, capacity: number): [number, number] {
  if (capacity === Number.POSITIVE_INFINITY || !(capacity > 0)) return [1, -1];
  const sample = rate / share;
  // Held at its burst allowance, the rate says only that demand is at least this much.
  const capped = rate >= BURST_ALLOWANCE * capacity - 1;
  let estimate: number;
  if (demand < 0) estimate = rate > 0 ? sample : -1; // nothing seen yet: nothing learnt
  else if (sample > SURGE * demand || (capped && sample > demand)) estimate = sample; // believed at once: overload costs more than spill
  else estimate = DEMAND_SMOOTHING * sample + (1 - DEMAND_SMOOTHING) * demand;
  return [estimate <= 0 ? 1 : Math.min(1, Math.max(MIN_ADMIT, capacity / estimate)), estimate];
}

/**
 * Recomputes every shard's and region group's admitted share from the rates of the period just
 * ended (live.shardRate). Pure over `live`; the proxy calls it once a second after setting rates.
 */
export function updateAdmission(live: LiveState): void {
  deriveHealth(live);
  const snap = live.snapshot;
  for (const s of snap.shards) {
    [live.shardAdmit[s.id], live.shardDemand[s.id]] = nextAdmission(live.shardAdmit[s.id]!, live.shardDemand[s.id]!, live.shardRate[s.id]!, shardCapacity(live, s.id));
  }
  for (const b of snap.backends) {
    for (const g of b.regions) {
      let capacity = 0;
      let rate = 0;
      for (const id of g.shards) {
        rate += live.shardRate[id]!;
        if (usable(live, id)) capacity += shardCapacity(live, id);
      }
      [live.regionAdmit[g.id], live.regionDemand[g.id]] = nextAdmission(live.regionAdmit[g.id]!, live.regionDemand[g.id]!, rate, capacity);
    }
  }
}
