/** A member's health as the registry reports it; pure, from one probe's outcome. */
export type ClusterState = 'Ready' | 'NotReady' | 'Offline';

export interface ProbeOutcome {
  /** 'ok': /readyz (or /healthz) answered 2xx; 'unhealthy': it answered otherwise; 'unreachable': no answer. */
  result: 'ok' | 'unhealthy' | 'unreachable';
  detail: string;
}

export interface ClusterCondition {
  type: 'Ready' | 'Offline';
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastProbeTime: string;
  lastTransitionTime: string;
}

export function stateOf(outcome: ProbeOutcome): ClusterState {
  return outcome.result === 'ok' ? 'Ready' : outcome.result === 'unhealthy' ? 'NotReady' : 'Offline';
}

/**
 * Whether a failed probe leaves a Ready member Ready: only the `threshold`-th failure in a row
 * takes it out (Kubernetes probes' failureThreshold; Karmada waits 30 s), so one missed probe — a
 * GC pause or a busy moment on either side — does not unplace every object of a healthy member
 * and make it relist everything when it "comes back". Recovery counts at the first success.
 */
export function staysReady(previous: ClusterState | undefined, outcome: ProbeOutcome, failuresInARow: number, threshold: number): boolean {
  return previous === 'Ready' && outcome.result !== 'ok' && failuresInARow < threshold;
}

/** Conditions after a probe: transition times move only when a status flips. */
export function nextConditions(previous: readonly ClusterCondition[] | undefined, outcome: ProbeOutcome, now: string): ClusterCondition[] {
  const state = stateOf(outcome);
  const want: Omit<ClusterCondition, 'lastProbeTime' | 'lastTransitionTime'>[] = [
    {
      type: 'Ready',
      status: state === 'Ready' ? 'True' : 'False',
      reason: state === 'Ready' ? 'ClusterReady' : state === 'NotReady' ? 'ClusterNotReady' : 'ClusterNotReachable',
      message: state === 'Ready' ? '/readyz responded with ok' : outcome.detail,
    },
    {
      type: 'Offline',
      status: state === 'Offline' ? 'True' : 'False',
      reason: state === 'Offline' ? 'ClusterNotReachable' : 'ClusterReachable',
      message: state === 'Offline' ? outcome.detail : 'cluster is reachable',
    },
  ];
  return want.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return { ...c, lastProbeTime: now, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now };
  });
}

/** Region and zones from node topology labels (current and deprecated keys). */
export function topologyFromNodes(nodes: readonly { metadata: { labels?: Record<string, string> } }[]): { region?: string; zones: string[] } {
  const zones = new Set<string>();
  let region: string | undefined;
  for (const n of nodes) {
    const l = n.metadata.labels ?? {};
    region ??= l['topology.kubernetes.io/region'] ?? l['failure-domain.beta.kubernetes.io/region'];
    const z = l['topology.kubernetes.io/zone'] ?? l['failure-domain.beta.kubernetes.io/zone'];
    if (z) zones.add(z);
  }
  return { ...(region ? { region } : {}), zones: [...zones].sort() };
}

/** Longest-prefix match of the controller's address against `serverAddressByClientCIDRs`. */
export function serverAddressFor(entries: readonly { clientCIDR: string; serverAddress: string }[], clientIP: string): string | undefined {
  const toInt = (ip: string) => ip.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  let best: { len: number; address: string } | undefined;
  for (const e of entries) {
    const [base, lenText] = e.clientCIDR.split('/');
    const len = Number(lenText ?? 32);
    if (!base || !/^\d+\.\d+\.\d+\.\d+$/.test(base) || !/^\d+\.\d+\.\d+\.\d+$/.test(clientIP) || !(len >= 0 && len <= 32)) continue;
    const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
    if ((toInt(base) & mask) >>> 0 === (toInt(clientIP) & mask) >>> 0 && (!best || len > best.len)) best = { len, address: e.serverAddress };
  }
  return best?.address;
}
