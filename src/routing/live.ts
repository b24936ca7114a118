import { NO_MEASUREMENTS, type MeasuredRtt } from './latency.js';
import { carryIndex, carryValues, forgetRegionOrders, type RoutingSnapshot } from './snapshot.js';

/**
 * What changes between requests: endpoint health (written by the health checker and outlier
 * detector), outstanding requests per endpoint (the proxy's in-flight accounting), each shard's
 * request rate and the admission control learnt from it. Indexed by the snapshot's endpoint,
 * shard and region-group ids; carried to the next snapshot by identity (carryInto).
 */
export class LiveState {
  readonly endpointHealthy: Uint8Array;
  readonly endpointOutstanding: Int32Array;
  /** Requests sent to each shard in the last period admission used: the fleet's sum when known, else this process's. */
  readonly shardRate: Float64Array;
  /** This process's own requests to each shard in the last period. */
  readonly localRate: Float64Array;
  /** Requests sent to each shard so far in the current rate period (a second). */
  readonly periodCount: Float64Array;
  /**
   * Requests that reached each region group's admission so far this period (the demand behind
   * its rate: admitted or spilled on), and those of the last closed period.
   */
  readonly regionArrivals: Float64Array;
  readonly localRegionDemand: Float64Array;
  /**
   * Share of the requests reaching a shard (as in-cluster choice or inside its region) and a
   * region group (in the waterfall) that it admits; the rest spills on. Set once per rate
   * period by updateAdmission() so that admitted load meets capacity.
   */
  readonly shardAdmit: Float64Array;
  readonly regionAdmit: Float64Array;
  /** Admission credit behind those shares (see admit() in choose.ts); starts half-way, rounding evenly. */
  readonly shardCredit: Float64Array;
  readonly regionCredit: Float64Array;
  /** Smoothed demand (requests/s reaching them) behind those shares; -1 = not known yet. */
  readonly shardDemand: Float64Array;
  readonly regionDemand: Float64Array;
  /**
   * The part of each shard's (and region group's) capacity this process may fill on its own: 1
   * for a proxy alone; in a fleet (or one host's `--workers`), its part of the fleet's demand
   * (see updateAdmission). It bounds a surge while the fleet learns it, and stands in for the
   * fleet's sums while the state store cannot be reached.
   */
  readonly shardLocalShare: Float64Array;
  readonly groupLocalShare: Float64Array;
  /** What a shard or group this process has not seen before starts with: 1 alone, 1/N in a fleet of N. */
  freshShare = 1;
  /** The fleet's measured inter-region round trips (ranking prefers them to the static table). */
  measuredRtt: MeasuredRtt = NO_MEASUREMENTS;
  /** Bumped on every health change: derived views are rebuilt only then. */
  healthVersion = 0;

  // Derived from health, rebuilt lazily when healthVersion moves.
  derivedVersion = -1;
  healthyCount: Int32Array;
  healthyEndpoints: Int32Array[];
  drained: Uint8Array;

  constructor(readonly snapshot: RoutingSnapshot) {
    this.endpointHealthy = new Uint8Array(snapshot.endpoints.length).fill(1);
    this.endpointOutstanding = new Int32Array(snapshot.endpoints.length);
    this.shardRate = new Float64Array(snapshot.shards.length);
    this.localRate = new Float64Array(snapshot.shards.length);
    this.shardLocalShare = new Float64Array(snapshot.shards.length).fill(1);
    this.groupLocalShare = new Float64Array(snapshot.groupCount).fill(1);
    this.periodCount = new Float64Array(snapshot.shards.length);
    this.regionArrivals = new Float64Array(snapshot.groupCount);
    this.localRegionDemand = new Float64Array(snapshot.groupCount);
    this.shardAdmit = new Float64Array(snapshot.shards.length).fill(1);
    this.regionAdmit = new Float64Array(snapshot.groupCount).fill(1);
    this.shardCredit = new Float64Array(snapshot.shards.length).fill(0.5);
    this.regionCredit = new Float64Array(snapshot.groupCount).fill(0.5);
    this.shardDemand = new Float64Array(snapshot.shards.length).fill(-1);
    this.regionDemand = new Float64Array(snapshot.groupCount).fill(-1);
    this.healthyCount = new Int32Array(snapshot.shards.length);
    this.healthyEndpoints = snapshot.shards.map(() => new Int32Array(0));
    this.drained = new Uint8Array(snapshot.shards.length);
  }

  /** One request sent to `shard` in the current period. */
  countRequest(shard: number): void {
    this.periodCount[shard]!++;
  }

  /** Closes the period: its counts become this process's rates and demand; returns the requests it had. */
  endPeriod(): number {
    let requests = 0;
    for (const n of this.periodCount) requests += n;
    this.localRate.set(this.periodCount);
    this.periodCount.fill(0);
    this.localRegionDemand.set(this.regionArrivals);
    this.regionArrivals.fill(0);
    return requests;
  }

  setMeasuredRtt(measured: MeasuredRtt): void {
    this.measuredRtt = measured;
    forgetRegionOrders(this.snapshot);
  }

  setHealthy(endpoint: number, healthy: boolean): void {
    const v = healthy ? 1 : 0;
    if (this.endpointHealthy[endpoint] !== v) {
      this.endpointHealthy[endpoint] = v;
      this.healthVersion++;
    }
  }

  /**
   * The same state for a new snapshot, carried by identity (endpoint, shard, region group), so a
   * table update keeps health and the admission learnt so far; new ones start fresh.
   */
  carryInto(next: RoutingSnapshot): LiveState {
    const live = new LiveState(next);
    live.freshShare = this.freshShare;
    live.measuredRtt = this.measuredRtt;
    live.shardLocalShare.fill(this.freshShare);
    live.groupLocalShare.fill(this.freshShare);
    // Outstanding requests are not carried: those in flight finish against the state they were
    // counted in, so the new state counts only its own.
    carryValues(live.endpointHealthy, this.endpointHealthy, carryIndex(this.snapshot.endpointByKey, next.endpointKeys));
    const shards = carryIndex(this.snapshot.shardByKey, next.shardKeys);
    for (const k of ['shardRate', 'localRate', 'shardAdmit', 'shardCredit', 'shardDemand', 'shardLocalShare'] as const) carryValues(live[k], this[k], shards);
    const groups = carryIndex(this.snapshot.groupByKey, next.groupKeys);
    for (const k of ['regionAdmit', 'regionCredit', 'regionDemand', 'localRegionDemand', 'groupLocalShare'] as const) carryValues(live[k], this[k], groups);
    return live;
  }
}

/** A shard under this share of healthy endpoints is drained (DESIGN §3 safety valve). */
export const DRAIN_BELOW = 0.25;

/** Rebuilds healthy counts, healthy endpoint lists and the drained set when health changed. */
export function deriveHealth(live: LiveState): void {
  if (live.derivedVersion === live.healthVersion) return;
  const snap = live.snapshot;
  for (const s of snap.shards) {
    const list: number[] = [];
    for (let e = s.endpointStart; e < s.endpointStart + s.endpointCount; e++) if (live.endpointHealthy[e]) list.push(e);
    live.healthyCount[s.id] = list.length;
    live.healthyEndpoints[s.id] = Int32Array.from(list);
    live.drained[s.id] = 0;
  }
  // Drain shards under 25 % healthy, the worst first, but never more than half of a backend's shards.
  for (const b of snap.backends) {
    const weak = b.shards
      .filter((id) => {
        const s = snap.shards[id]!;
        return s.endpointCount > 0 && live.healthyCount[id]! > 0 && live.healthyCount[id]! / s.endpointCount < DRAIN_BELOW;
      })
      .sort((x, y) => live.healthyCount[x]! / snap.shards[x]!.endpointCount - live.healthyCount[y]! / snap.shards[y]!.endpointCount);
    const limit = Math.floor(b.shards.length / 2);
    for (const id of weak.slice(0, limit)) live.drained[id] = 1;
  }
  live.derivedVersion = live.healthVersion;
}
