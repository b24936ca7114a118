import { deriveHealth, type LiveState } from './live.js';
import { regionOrder, type RoutingSnapshot } from './snapshot.js';

/** What the proxy knows about a request's client. */
export interface ClientFacts {
  /** Cell (nearest known region) of the client's location; -1 = unknown. See locateClient(). */
  cell: number;
  /** Index of the cluster the client is inside of (by clientCIDRs), -1 = none. */
  sourceCluster: number;
}

export type DecisionReason = 'in-cluster' | 'nearest-with-capacity' | 'spillover' | 'all-over-capacity' | 'panic' | 'no-endpoints';

export interface Decision {
  /** Endpoint id, or -1 when the backend has no endpoint at all (503). */
  endpoint: number;
  shard: number;
  panic: boolean;
  spilled: boolean;
  reason: DecisionReason;
}

export function newDecision(): Decision {
  return { endpoint: -1, shard: -1, panic: false, spilled: false, reason: 'no-endpoints' };
}

/** Don't pick these shards (a retry goes somewhere not tried yet), nor this endpoint. */
export interface Exclusion {
  shards: readonly number[];
  endpoint: number;
}

const NO_EXCLUSION: Exclusion = { shards: [], endpoint: -1 };

/** The length test first: nearly every request excludes nothing, and this runs per shard. */
function excluded(exclude: Exclusion, shard: number): boolean {
  return exclude.shards.length !== 0 && exclude.shards.includes(shard);
}

export function usable(live: LiveState, shard: number, ignoreDrain = false): boolean {
  const s = live.snapshot.shards[shard]!;
  return live.healthyCount[shard]! > 0 && s.capacityScaler > 0 && (ignoreDrain || live.drained[shard] === 0);
}

/**
 * RATE capacity: healthy endpoints × max rate per endpoint × capacity scaler (Infinity if
 * unlimited). The whole shard's, which the fleet shares (see LiveState.shardLocalShare).
 */
export function shardCapacity(live: LiveState, shard: number): number {
  const s = live.snapshot.shards[shard]!;
  const healthy = live.healthyCount[shard]!;
  // No healthy endpoint or a scaler of 0 is no capacity, even when the rate is unlimited (0 × ∞).
  if (healthy === 0 || s.capacityScaler === 0) return 0;
  return healthy * s.maxRatePerEndpoint * s.capacityScaler;
}

/**
 * A shard takes at most this many times its capacity in one period. The admitted share keeps it
 * at capacity once the demand is known; this bounds the overload while it is being learnt (the
 * first seconds of a surge). Above 1 on purpose: a cap at capacity itself would hide the demand
 * behind it from the estimate, which then could never learn the share.
 */
export const BURST_ALLOWANCE = 1.5;

/**
 * Admits `share` of the calls to it, evenly: each call adds the share to a credit and is admitted
 * when the credit reaches one (error diffusion). A coin per request (rng() < share) admits the
 * same share on average but with binomial noise — at 60 req/s and a share of 1/3, ±18 % in a
 * second — which the fleet then reads as demand moving.
 */
function admit(credit: Float64Array, i: number, share: number): boolean {
  if (share >= 1) return true;
  const c = credit[i]! + share;
  if (c < 1) {
    credit[i] = c;
    return false;
  }
  credit[i] = c - 1;
  return true;
}

/** This process's sends this period stay under the burst allowance of its part of the capacity. */
function hasRoom(live: LiveState, shard: number, capacity: number): boolean {
  return capacity === Number.POSITIVE_INFINITY || live.periodCount[shard]! < BURST_ALLOWANCE * capacity * live.shardLocalShare[shard]!;
}

/**
 * A shard's weight inside its region: by healthy endpoints (× scaler) among shards of unlimited
 * capacity, else by capacity × its admitted share while it has room this period.
 */
function regionWeight(live: LiveState, shard: number, cap: number, unlimited: boolean): number {
  if (unlimited) return cap === Number.POSITIVE_INFINITY ? live.healthyCount[shard]! * live.snapshot.shards[shard]!.capacityScaler : 0;
  return cap !== Number.POSITIVE_INFINITY && hasRoom(live, shard, cap) ? cap * live.shardAdmit[shard]! : 0;
}

/** Power of two choices on outstanding requests among `list`, avoiding `avoid` when possible. */
function p2c(list: Int32Array | readonly number[], live: LiveState, rng: () => number, avoid: number): number {
  const n = list.length;
  if (n === 0) return -1;
  if (n === 1) return list[0]!;
  const i = Math.floor(rng() * n);
  let j = Math.floor(rng() * (n - 1));
  if (j >= i) j++;
  let a = list[i]!;
  let b = list[j]!;
  if (a === avoid) a = b;
  if (b === avoid) b = a;
  return live.endpointOutstanding[b]! < live.endpointOutstanding[a]! ? b : a;
}

function finish(out: Decision, live: LiveState, shard: number, rng: () => number, avoid: number, reason: DecisionReason, spilled: boolean): Decision {
  out.shard = shard;
  out.endpoint = p2c(live.healthyEndpoints[shard]!, live, rng, avoid);
  out.reason = reason;
  out.spilled = spilled;
  out.panic = false;
  return out;
}

/**
 * Picks the shard and endpoint for one request (DESIGN §3): the client's own cluster when it is
 * healthy with room; else the nearest region with RATE capacity (waterfall by region: each
 * region admits the share of its traffic that meets its capacity — see updateAdmission() — and
 * only the excess spills to the next region), shards inside it by capacity, endpoints by
 * P2C on outstanding requests; drained shards skipped; with nothing healthy, fail open (panic).
 * Pure over (facts, snapshot, live, rng): no I/O, no clock; `out` is reused to avoid allocating.
 */
export function choose(
  facts: ClientFacts,
  snapshot: RoutingSnapshot,
  live: LiveState,
  backend: number,
  rng: () => number,
  exclude: Exclusion = NO_EXCLUSION,
  out: Decision = newDecision(),
): Decision {
  deriveHealth(live);
  const b = snapshot.backends[backend];
  out.endpoint = -1;
  out.shard = -1;
  out.panic = false;
  out.spilled = false;
  out.reason = 'no-endpoints';
  if (!b || b.shards.length === 0) return out;

  if (facts.sourceCluster >= 0) {
    const own = b.byCluster.get(facts.sourceCluster);
    if (own !== undefined && !excluded(exclude, own) && usable(live, own)) {
      const cap = shardCapacity(live, own);
      if (cap === Number.POSITIVE_INFINITY || (hasRoom(live, own, cap) && admit(live.shardCredit, own, live.shardAdmit[own]!))) return finish(out, live, own, rng, exclude.endpoint, 'in-cluster', false);
    }
  }

  const order = regionOrder(snapshot, b, facts.cell >= 0 ? facts.cell : snapshot.defaultCell, live.measuredRtt);
  let firstUsableRegion = -1;
  for (let k = 0; k < order.length; k++) {
    const group = b.regions[order[k]!]!;
    let weightTotal = 0;
    let unlimitedWeight = 0;
    let any = false;
    for (const id of group.shards) {
      if (excluded(exclude, id) || !usable(live, id)) continue;
      any = true;
      const cap = shardCapacity(live, id);
      if (cap === Number.POSITIVE_INFINITY) unlimitedWeight += regionWeight(live, id, cap, true);
      else weightTotal += regionWeight(live, id, cap, false);
    }
    if (!any) continue;
    if (firstUsableRegion < 0) firstUsableRegion = k;
    live.regionArrivals[group.id]!++;
    // Waterfall: the region admits its share of what reaches it (updateAdmission keeps the
    // admitted load at capacity); the rest spills to the next region.
    const unlimited = unlimitedWeight > 0;
    if (!unlimited && (weightTotal <= 0 || !admit(live.regionCredit, group.id, live.regionAdmit[group.id]!))) continue;
    let pick = rng() * (unlimited ? unlimitedWeight : weightTotal);
    let chosen = -1;
    for (const id of group.shards) {
      if (excluded(exclude, id) || !usable(live, id)) continue;
      const w = regionWeight(live, id, shardCapacity(live, id), unlimited);
      if (w <= 0) continue;
      chosen = id;
      pick -= w;
      if (pick < 0) break;
    }
    return finish(out, live, chosen, rng, exclude.endpoint, k === firstUsableRegion ? 'nearest-with-capacity' : 'spillover', k !== firstUsableRegion);
  }

  if (firstUsableRegion >= 0) {
    // Everything is over capacity: overload the nearest usable region rather than fail.
    const group = b.regions[order[firstUsableRegion]!]!;
    let best = -1;
    for (const id of group.shards) {
      if (excluded(exclude, id) || !usable(live, id)) continue;
      if (best < 0 || live.healthyCount[id]! * snapshot.shards[id]!.capacityScaler > live.healthyCount[best]! * snapshot.shards[best]!.capacityScaler) best = id;
    }
    return finish(out, live, best, rng, exclude.endpoint, 'all-over-capacity', firstUsableRegion > 0);
  }

  // Only drained shards have healthy endpoints left: their healthy endpoints beat panic.
  for (let k = 0; k < order.length; k++) {
    for (const id of b.regions[order[k]!]!.shards) {
      if (!excluded(exclude, id) && usable(live, id, true)) return finish(out, live, id, rng, exclude.endpoint, 'all-over-capacity', k > 0);
    }
  }

  // Panic: nothing healthy. Fail open across every endpoint rather than answer 503.
  let total = 0;
  for (const id of b.shards) if (!excluded(exclude, id)) total += snapshot.shards[id]!.endpointCount;
  const allowSame = total === 0;
  if (allowSame) for (const id of b.shards) total += snapshot.shards[id]!.endpointCount;
  if (total === 0) return out;
  let n = Math.floor(rng() * total);
  for (const id of b.shards) {
    if (!allowSame && excluded(exclude, id)) continue;
    const s = snapshot.shards[id]!;
    if (n < s.endpointCount) {
      out.shard = id;
      out.endpoint = s.endpointStart + n;
      break;
    }
    n -= s.endpointCount;
  }
  out.panic = true;
  out.reason = 'panic';
  return out;
}
