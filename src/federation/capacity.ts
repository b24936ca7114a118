/**
 * How many replicas a member can actually run, as Federation v1 estimated it: when pods of the
 * member's copy have been Unschedulable for longer than the threshold, its capacity is its
 * replica count minus those pods. Pure: `now` is passed in.
 */
export interface PodView {
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; lastTransitionTime?: string }[] };
  metadata: { deletionTimestamp?: string };
}

export interface CapacityEstimate {
  /** Undefined when nothing says the cluster is short of room. */
  capacity?: number;
  /** When a young Unschedulable pod will pass the threshold: re-plan then. */
  recheckInMs?: number;
}

export function estimateCapacity(replicas: number, pods: readonly PodView[], now: number, thresholdMs: number): CapacityEstimate {
  let stuck = 0;
  let recheckInMs: number | undefined;
  for (const p of pods) {
    if (p.metadata.deletionTimestamp || (p.status?.phase ?? 'Pending') !== 'Pending') continue;
    const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled');
    if (c?.status !== 'False' || c.reason !== 'Unschedulable') continue;
    const age = now - Date.parse(c.lastTransitionTime ?? new Date(now).toISOString());
    if (age >= thresholdMs) stuck++;
    else recheckInMs = Math.min(recheckInMs ?? Infinity, thresholdMs - age);
  }
  return { ...(stuck > 0 ? { capacity: Math.max(0, replicas - stuck) } : {}), ...(recheckInMs !== undefined ? { recheckInMs } : {}) };
}
