import { clusterMatches, parseClusterSelector } from './cluster-selector.js';
import { plan } from './planner/plan.js';
import type { ReplicaPreferences } from './planner/preferences.js';

/** A member as placement sees it. */
export interface PlacementCluster {
  name: string;
  state: 'Ready' | 'NotReady' | 'Offline';
  labels: Readonly<Record<string, string>>;
}

export type PlacementReason = 'selected' | 'over-capacity' | 'not-ready' | 'excluded-by-selector' | 'invalid-selector';

/** Where one federated object goes, and why, cluster by cluster (karmada's filter → score → select, one reason each). */
export interface ClusterPlacement {
  cluster: string;
  selected: boolean;
  reason: PlacementReason;
  /** Scheduled kinds: the planner's share, and what estimated capacity held back. */
  replicas?: number;
  overflow?: number;
  capacity?: number;
}

/**
 * The filter step (pure): every member, selected when it is Ready and the object's
 * cluster-selector (Federation v1's annotation) admits it; a reason for each that is not.
 */
export function filterClusters(selectorAnnotation: string | undefined, clusters: readonly PlacementCluster[]): { placement: ClusterPlacement[]; selectorError?: string } {
  const selector = parseClusterSelector(selectorAnnotation);
  const placement = [...clusters]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c): ClusterPlacement => {
      if (c.state !== 'Ready') return { cluster: c.name, selected: false, reason: 'not-ready' };
      if (!selector.ok) return { cluster: c.name, selected: false, reason: 'invalid-selector' };
      if (!clusterMatches(selector.requirements, c.labels)) return { cluster: c.name, selected: false, reason: 'excluded-by-selector' };
      return { cluster: c.name, selected: true, reason: 'selected' };
    });
  return selector.ok ? { placement } : { placement, selectorError: selector.error };
}

/** The select step for scheduled kinds: the planner's share per selected cluster, and the capacity it met. */
export function withShares(placement: readonly ClusterPlacement[], shares: Readonly<Record<string, number>>, overflow: Readonly<Record<string, number>>, capacity: Readonly<Record<string, number>>): ClusterPlacement[] {
  return placement.map((p) =>
    p.selected
      ? {
          ...p,
          ...(capacity[p.cluster] !== undefined ? { reason: 'over-capacity' as const } : {}),
          replicas: (shares[p.cluster] ?? 0) + (overflow[p.cluster] ?? 0),
          ...(overflow[p.cluster] ? { overflow: overflow[p.cluster] } : {}),
          ...(capacity[p.cluster] !== undefined ? { capacity: capacity[p.cluster] } : {}),
        }
      : p,
  );
}

/** What scheduling a replicated object needs besides the clusters (kinds with replicas only). */
export interface ScheduleInput {
  preferences: ReplicaPreferences;
  replicas: number;
  /** Replicas each member's copy runs now. */
  current: Readonly<Record<string, number>>;
  /** Members known to be short of room (pods left Unschedulable): what they can hold. */
  estimatedCapacity: Readonly<Record<string, number>>;
}

export interface Placement {
  clusters: ClusterPlacement[];
  selectorError?: string;
  /** Scheduled kinds: replicas per selected cluster (planner share plus overflow). */
  replicas?: Record<string, number>;
}

/**
 * An object's placement (pure): filter by readiness and cluster-selector, then for kinds with
 * replicas the Federation v1 planner's share per selected cluster, each cluster with its reason.
 * `key` is the object's `namespace/name`, which the planner mixes into its tie-break.
 */
export function place(key: string, selectorAnnotation: string | undefined, clusters: readonly PlacementCluster[], schedule?: ScheduleInput): Placement {
  return placeFiltered(key, filterClusters(selectorAnnotation, clusters), schedule);
}

/** `place` after the filter step, for a caller that needed the filtered clusters first (to gather `schedule`). */
export function placeFiltered(key: string, filtered: ReturnType<typeof filterClusters>, schedule?: ScheduleInput): Placement {
  const { placement, selectorError } = filtered;
  const err = selectorError !== undefined ? { selectorError } : {};
  if (!schedule) return { clusters: placement, ...err };
  const selected = placement.filter((p) => p.selected).map((p) => p.cluster);
  const { plan: shares, overflow } = plan({ ...schedule, clusters: selected, key });
  const replicas = Object.fromEntries(selected.map((c) => [c, (shares[c] ?? 0) + (overflow[c] ?? 0)]));
  const capacity = Object.fromEntries(Object.entries(schedule.estimatedCapacity).filter(([c]) => selected.includes(c)));
  return { clusters: withShares(placement, shares, overflow, capacity), replicas, ...err };
}

const REASON_TEXT: Record<PlacementReason, string> = {
  selected: 'selected',
  'over-capacity': 'over capacity',
  'not-ready': 'not Ready',
  'excluded-by-selector': 'excluded by cluster-selector',
  'invalid-selector': 'cluster-selector invalid',
};

/** One cluster's line, e.g. `selected, 3 replicas` or `over capacity, 5 replicas (room for 3, 2 waiting for room)`. */
export function clusterReason(p: ClusterPlacement): string {
  let text = REASON_TEXT[p.reason];
  if (p.replicas !== undefined) text += `, ${p.replicas} replica${p.replicas === 1 ? '' : 's'}`;
  if (p.capacity !== undefined) text += ` (room for ${p.capacity}${p.overflow ? `, ${p.overflow} waiting for room` : ''})`;
  return text;
}

/** The placement as the object's annotations: `<prefix><cluster>` → that cluster's reason. */
export function placementAnnotations(placement: readonly ClusterPlacement[], prefix: string): Record<string, string> {
  return Object.fromEntries(placement.map((p) => [`${prefix}${p.cluster}`, clusterReason(p)]));
}
