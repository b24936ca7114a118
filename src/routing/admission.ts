import { BURST_ALLOWANCE, shardCapacity, usable } from './choose.js';
import { deriveHealth, type LiveState } from './live.js';

/** Never admit less than this share, so a shard can climb back once it has room again. */
export const MIN_ADMIT = 0.01;
/** Weight of the newest period in the demand estimate: damps sampling noise at low rates. */
export const DEMAND_SMOOTHING = 0.5;
/** A period whose demand is this many times the estimate replaces it instead of being averaged in. */
export const SURGE = 1.5;

/**
 * One admission step. `sample` is the demand that reached a shard (or region) last period (see
 * ownLoad; summed over a fleet's proxies). It is
 * smoothed across periods (the first one, and a surge, count in full), and the next share is what
 * meets capacity: capacity / demand. Admitted load is proportional to the share, so this settles
 * at once, where comparing the last rate with capacity would flip between "everything" and
 * "nothing". With unlimited or no capacity there is nothing to learn: admit all (an unusable
 * shard is skipped anyway) and forget the demand. `capped`: the rate was held at its burst
 * allowance, so the sample says only that demand is at least this much (believe it at once).
 * Returns [share, demand]; demand is -1 when unknown.
 */
export function nextAdmission(demand: number, sample: number, capacity: number, capped = false): [number, number] {
  if (capacity === Number.POSITIVE_INFINITY || !(capacity > 0)) return [1, -1];
  let estimate: number;
  if (demand < 0) estimate = sample > 0 ? sample : -1; // nothing seen yet: nothing learnt
  else if (sample > SURGE * demand || (capped && sample > demand)) estimate = sample; // believed at once: overload costs more than spill
  else estimate = DEMAND_SMOOTHING * sample + (1 - DEMAND_SMOOTHING) * demand;
  return [estimate <= 0 ? 1 : Math.min(1, Math.max(MIN_ADMIT, capacity / estimate)), estimate];
}

/**
 * One period's load, of one proxy or summed over a fleet, indexed by the snapshot's shard and
 * region-group ids: requests sent, and the demand behind them (see ownLoad).
 */
export interface PeriodLoad {
  /** How many proxies this sums. */
  proxies: number;
  shardRate: Float64Array;
  shardDemand: Float64Array;
  groupDemand: Float64Array;
}

/**
 * This process's load of the period just ended. A region's demand is counted where its admission
 * is decided, so a request spilled by a shard's burst allowance is demand all the same. A shard's
 * is inferred, rate ÷ the share it admitted: inside its region a shard is not gated but weighted
 * by its share, so that is the demand behind its rate (and its rate settles at its capacity).
 */
export function ownLoad(live: LiveState): PeriodLoad {
  const shardDemand = new Float64Array(live.snapshot.shards.length);
  for (let s = 0; s < shardDemand.length; s++) shardDemand[s] = live.localRate[s]! / live.shardAdmit[s]!;
  return { proxies: 1, shardRate: Float64Array.from(live.localRate), shardDemand, groupDemand: Float64Array.from(live.localRegionDemand) };
}

/** A fleet's load for one period, and this process's own part of it. */
export interface FleetLoad {
  total: PeriodLoad;
  own: PeriodLoad;
}

/**
 * Recomputes every shard's and region group's admitted share for the next period. Pure over
 * `live`; the proxy calls it once a second after closing the period.
 *
 * With the fleet's load for a recent period, every proxy compares the fleet's demand with the
 * whole capacity, so all of them admit the same share and capacity holds for the fleet; each
 * also learns its own part of the fleet's demand (shardLocalShare), which bounds what it alone
 * may send in a surge. Without it (a proxy alone, or the store unreachable) a proxy compares its
 * own demand with its part of the capacity — the whole of it when alone, else the part it last
 * had in the fleet.
 */
export function updateAdmission(live: LiveState, fleet?: FleetLoad): void {
  deriveHealth(live);
  const snap = live.snapshot;
  const load = fleet ? fleet.total : ownLoad(live);
  if (fleet) {
    const { total, own } = fleet;
    // Add-one smoothing: a proxy that sent nothing still gets a little room, and shares sum to 1.
    for (let s = 0; s < snap.shards.length; s++) live.shardLocalShare[s] = (own.shardDemand[s]! + 1) / (total.shardDemand[s]! + total.proxies);
    for (let g = 0; g < snap.groupCount; g++) live.groupLocalShare[g] = (own.groupDemand[g]! + 1) / (total.groupDemand[g]! + total.proxies);
  }
  live.shardRate.set(load.shardRate);
  for (const s of snap.shards) {
    const part = fleet ? 1 : live.shardLocalShare[s.id]!;
    const capacity = shardCapacity(live, s.id) * part;
    const capped = load.shardRate[s.id]! >= BURST_ALLOWANCE * capacity - 1;
    [live.shardAdmit[s.id], live.shardDemand[s.id]] = nextAdmission(live.shardDemand[s.id]!, load.shardDemand[s.id]!, capacity, capped);
  }
  for (const b of snap.backends) {
    for (const g of b.regions) {
      let capacity = 0;
      for (const id of g.shards) if (usable(live, id)) capacity += shardCapacity(live, id);
      const part = fleet ? 1 : live.groupLocalShare[g.id]!;
      [live.regionAdmit[g.id], live.regionDemand[g.id]] = nextAdmission(live.regionDemand[g.id]!, load.groupDemand[g.id]!, capacity * part);
    }
  }
}
