import { fnv1_32 } from './fnv.js';
import type { ClusterPreferences, ReplicaPreferences } from './preferences.js';

export interface PlanInput {
  preferences: ReplicaPreferences;
  replicas: number;
  /** Clusters that may take replicas (Ready and selected), in any order. */
  clusters: readonly string[];
  /** Replicas currently running in each cluster. */
  current: Readonly<Record<string, number>>;
  /** The most replicas a cluster can take, where known (from pods left unschedulable). */
  estimatedCapacity: Readonly<Record<string, number>>;
  /** `namespace/name` of the federated object: mixed into the tie-break so small objects spread. */
  key: string;
}

export interface PlanResult {
  /** Replicas per cluster; every input cluster is present, 0 included. */
  plan: Record<string, number>;
  /** Extra replicas worth asking of a capacity-limited cluster on top of its plan. */
  overflow: Record<string, number>;
}

interface Candidate extends ClusterPreferences {
  name: string;
  hash: number;
}

/**
 * Distributes replicas over clusters exactly as Federation v1's planner did
 * (federation/pkg/federation-controller/util/planner): minimums first in weight-then-hash order,
 * running replicas kept where they are unless `rebalance`, then weighted passes with ceiling
 * rounding until nothing changes, respecting maxReplicas and estimated capacity.
 */
export function plan(input: PlanInput): PlanResult {
  const { preferences, current, estimatedCapacity: capacity, key } = input;
  const result: Record<string, number> = {};
  const overflow: Record<string, number> = {};
  let candidates: Candidate[] = [];
  for (const name of input.clusters) {
    const pref = preferences.clusters[name] ?? preferences.clusters['*'];
    if (pref) candidates.push({ ...pref, name, hash: fnv1_32(name, key) });
    else result[name] = 0;
  }
  candidates.sort((a, b) => b.weight - a.weight || a.hash - b.hash);
  const cap = (name: string) => (Object.prototype.hasOwnProperty.call(capacity, name) ? capacity[name] : undefined);

  let remaining = input.replicas;
  for (const c of candidates) {
    let min = Math.min(c.minReplicas, remaining);
    const k = cap(c.name);
    if (k !== undefined) min = Math.min(min, k);
    remaining -= min;
    result[c.name] = min;
  }

  const preallocated: Record<string, number> = {};
  if (!preferences.rebalance) {
    for (const c of candidates) {
      const planned = result[c.name]!;
      const count = current[c.name];
      if (count !== undefined && count > planned) {
        let target = count;
        if (c.maxReplicas !== undefined) target = Math.min(c.maxReplicas, target);
        const k = cap(c.name);
        if (k !== undefined) target = Math.min(k, target);
        const extra = Math.max(0, Math.min(target - planned, remaining));
        remaining -= extra;
        preallocated[c.name] = extra;
        result[c.name] = planned + extra;
      }
    }
  }

  let modified = true;
  while (modified && remaining > 0) {
    modified = false;
    const weightSum = candidates.reduce((s, c) => s + c.weight, 0);
    const next: Candidate[] = [];
    const toDistribute = remaining;
    for (const c of candidates) {
      if (weightSum <= 0) break;
      const start = result[c.name]!;
      // Shares round up, so clusters early in the order absorb the remainders.
      let extra = Math.min(Math.trunc((toDistribute * c.weight + weightSum - 1) / weightSum), remaining);
      const prealloc = preallocated[c.name] ?? 0;
      const usedPrealloc = Math.min(extra, prealloc);
      preallocated[c.name] = prealloc - usedPrealloc;
      extra -= usedPrealloc;
      if (usedPrealloc > 0) modified = true;
      let total = start + extra;
      let full = false;
      if (c.maxReplicas !== undefined && total > c.maxReplicas) {
        total = c.maxReplicas;
        full = true;
      }
      const k = cap(c.name);
      if (k !== undefined && total > k) {
        overflow[c.name] = total - k;
        total = k;
        full = true;
      }
      if (!full) next.push(c);
      remaining -= total - start;
      result[c.name] = total;
      if (total > start) modified = true;
    }
    candidates = next;
  }

  if (preferences.rebalance) return { plan: result, overflow };
  // Without rebalance, overflow is only what could not be placed anywhere.
  const trimmed: Record<string, number> = {};
  for (const [name, value] of Object.entries(overflow)) {
    const v = Math.min(value, remaining);
    if (v > 0) trimmed[name] = v;
  }
  return { plan: result, overflow: trimmed };
}
