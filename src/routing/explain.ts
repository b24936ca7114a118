import { choose, newDecision, shardCapacity, type ClientFacts, type Decision } from './choose.js';
import { deriveHealth, type LiveState } from './live.js';
import { cellRtt, regionOrder, type RoutingSnapshot, type RttSource } from './snapshot.js';

export interface ShardExplanation {
  cluster: string;
  region: string;
  zone?: string;
  estimatedRttMs: number | null;
  /** Where the estimate comes from: the fleet's measurements, the static table of measured figures, or distance. */
  rttSource: RttSource;
  endpoints: number;
  healthy: number;
  capacityRps: number | 'unlimited';
  rateRps: number;
  /** Share of the traffic reaching this shard, and its region, that they admit (the rest spills on). */
  admitShare: number;
  regionAdmitShare: number;
  drained: boolean;
  usable: boolean;
  reason: string;
}

export interface Explanation {
  backend: string;
  client: { cell: string | null; sourceCluster: string | null };
  ranked: ShardExplanation[];
  choice: { cluster: string; endpoint: string; reason: Decision['reason']; spilled: boolean; panic: boolean } | null;
}

/** The same decision as choose(), with the ranking and the reasons spelt out (for `meridian route`). */
export function explain(facts: ClientFacts, snapshot: RoutingSnapshot, live: LiveState, backend: number, rng: () => number): Explanation {
  deriveHealth(live);
  const b = snapshot.backends[backend]!;
  const cell = facts.cell >= 0 ? facts.cell : snapshot.defaultCell;
  const ranked: ShardExplanation[] = [];
  for (const gi of regionOrder(snapshot, b, cell, live.measuredRtt)) {
    const group = b.regions[gi]!;
    for (const id of group.shards) {
      const s = snapshot.shards[id]!;
      const healthy = live.healthyCount[id]!;
      const cap = shardCapacity(live, id);
      const drained = live.drained[id] === 1;
      const usable = healthy > 0 && s.capacityScaler > 0 && !drained;
      const rtt = cellRtt(snapshot, cell, group.regionIdx, live.measuredRtt);
      ranked.push({
        cluster: s.cluster,
        region: s.region,
        ...(s.zone ? { zone: s.zone } : {}),
        estimatedRttMs: Number.isFinite(rtt.ms) ? Math.round(rtt.ms) : null,
        rttSource: rtt.source,
        endpoints: s.endpointCount,
        healthy,
        capacityRps: cap === Number.POSITIVE_INFINITY ? 'unlimited' : cap,
        rateRps: live.shardRate[id]!,
        admitShare: live.shardAdmit[id]!,
        regionAdmitShare: live.regionAdmit[group.id]!,
        drained,
        usable,
        reason: !usable
          ? healthy === 0
            ? 'no healthy endpoint'
            : s.capacityScaler === 0
              ? 'capacity scaler 0 (drained by operator)'
              : `drained: under 25 % of endpoints healthy`
          : cap === Number.POSITIVE_INFINITY || (live.shardAdmit[id]! >= 1 && live.regionAdmit[group.id]! >= 1)
            ? facts.sourceCluster === s.clusterIdx
              ? 'client is inside this cluster'
              : 'has spare capacity'
            : `at capacity: admits ${Math.round(100 * Math.min(live.shardAdmit[id]!, live.regionAdmit[group.id]!))} % of what reaches it, the rest spills to the next region`,
      });
    }
  }
  const d = choose(facts, snapshot, live, backend, rng, undefined, newDecision());
  const e = d.endpoint >= 0 ? snapshot.endpoints[d.endpoint]! : undefined;
  return {
    backend: b.name,
    client: { cell: cell >= 0 ? snapshot.regions[cell]! : null, sourceCluster: facts.sourceCluster >= 0 ? snapshot.clusters[facts.sourceCluster]! : null },
    ranked,
    choice: e ? { cluster: snapshot.shards[d.shard]!.cluster, endpoint: `${e.address}:${e.port}`, reason: d.reason, spilled: d.spilled, panic: d.panic } : null,
  };
}
