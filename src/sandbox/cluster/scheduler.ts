/**
 * The simulated scheduler's decision, pure: fit a pod's requests on the nodes, or explain why
 * it cannot, in the words kube-scheduler uses ("0/3 nodes are available: 3 Insufficient cpu.").
 */

export interface NodeCapacity {
  name: string;
  cpuMillis: number;
  memoryBytes: number;
  pods: number;
}

export interface Requests {
  cpuMillis: number;
  memoryBytes: number;
}

export type ScheduleResult = { node: string } | { unschedulable: string };

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DECIMAL: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/** Kubernetes resource quantity → number (cpu in millicores when `milli`, else base units). */
export function parseQuantity(q: string | number | undefined, milli: boolean): number {
  if (q === undefined) return 0;
  if (typeof q === 'number') return milli ? q * 1000 : q;
  const m = /^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  const unit = m[2];
  const base = unit === 'm' ? n / 1000 : unit ? n * (BINARY[unit] ?? DECIMAL[unit] ?? 1) : n;
  return milli ? Math.round(base * 1000) : base;
}

interface ContainerLike {
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
}

/** Sum of container requests; a missing request falls back to the limit, as the API server defaults it. */
export function podRequests(containers: ContainerLike[] | undefined): Requests {
  let cpuMillis = 0;
  let memoryBytes = 0;
  for (const c of containers ?? []) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    cpuMillis += parseQuantity(req.cpu ?? lim.cpu, true) || 0;
    memoryBytes += parseQuantity(req.memory ?? lim.memory, false) || 0;
  }
  return { cpuMillis, memoryBytes };
}

/**
 * Picks the node with the most free CPU (then the fewest pods) that fits, spreading like the
 * default scoring does, or
 * says why nothing fits. `used` holds what already-bound pods request on each node.
 */
export function schedule(
  want: Requests,
  nodes: readonly NodeCapacity[],
  used: ReadonlyMap<string, Requests & { pods: number }>,
): ScheduleResult {
  let best: { name: string; freeCPU: number; pods: number } | undefined;
  const reasons = new Map<string, number>();
  for (const node of nodes) {
    const u = used.get(node.name) ?? { cpuMillis: 0, memoryBytes: 0, pods: 0 };
    const failures: string[] = [];
    if (u.pods + 1 > node.pods) failures.push('Too many pods');
    if (u.cpuMillis + want.cpuMillis > node.cpuMillis) failures.push('Insufficient cpu');
    if (u.memoryBytes + want.memoryBytes > node.memoryBytes) failures.push('Insufficient memory');
    if (failures.length === 0) {
      const freeCPU = node.cpuMillis - u.cpuMillis;
      if (!best || freeCPU > best.freeCPU || (freeCPU === best.freeCPU && u.pods < best.pods)) best = { name: node.name, freeCPU, pods: u.pods };
    } else {
      for (const f of failures) reasons.set(f, (reasons.get(f) ?? 0) + 1);
    }
  }
  if (best) return { node: best.name };
  if (nodes.length === 0) return { unschedulable: 'no nodes available to schedule pods' };
  const detail = [...reasons.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, count]) => `${count} ${reason}`)
    .join(', ');
  return { unschedulable: `0/${nodes.length} nodes are available: ${detail}.` };
}
