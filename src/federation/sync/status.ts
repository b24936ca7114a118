import type { KObject } from '../../kube/rest.js';

/** Status of a federated object from its member copies; pure. */

const REPLICA_FIELDS = ['replicas', 'readyReplicas', 'availableReplicas', 'fullyLabeledReplicas', 'updatedReplicas'] as const;

/** ReplicaSet/Deployment: sums over members; observedGeneration is the federation object's own. */
export function aggregateReplicaStatus(fed: KObject, members: readonly KObject[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of REPLICA_FIELDS) {
    const present = members.filter((m) => typeof (m.status as Record<string, unknown> | undefined)?.[f] === 'number');
    if (present.length || f === 'replicas') out[f] = present.reduce((n, m) => n + ((m.status as Record<string, number>)[f] ?? 0), 0);
  }
  out.observedGeneration = fed.metadata.generation ?? 1;
  return out;
}

/** Service: the sorted union of member load balancer addresses (the seed's `describe services`). */
export function aggregateLoadBalancer(members: readonly KObject[]): { ingress?: { ip?: string; hostname?: string }[] } {
  const seen = new Map<string, { ip?: string; hostname?: string }>();
  for (const m of members) {
    for (const i of ((m.status as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined)?.loadBalancer?.ingress ?? [])) {
      const key = i.ip ?? i.hostname ?? '';
      if (key && !seen.has(key)) seen.set(key, i.ip ? { ip: i.ip } : { hostname: i.hostname! });
    }
  }
  const ingress = [...seen.entries()].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true })).map(([, v]) => v);
  return ingress.length ? { ingress } : {};
}

/** Ingress: the global VIP, the same in the federation and every member. */
export function ingressStatus(vip: string | undefined): { loadBalancer: { ingress?: { ip: string }[] } } {
  return { loadBalancer: vip ? { ingress: [{ ip: vip }] } : {} };
}
