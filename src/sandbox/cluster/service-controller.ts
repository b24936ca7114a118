import { recordEvent } from './events.js';
import { R, informOn, type StorePort } from './store-port.js';
import { WorkLoop, objectKey, splitKey } from './work.js';

interface ServiceSpec {
  type?: string;
  ports?: { name?: string; port: number; nodePort?: number; protocol?: string }[];
}

const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

/**
 * The cloud-provider side of Services: node ports for NodePort/LoadBalancer Services and a
 * load balancer address for LoadBalancer ones. Addresses come from 203.0.113.0/24 (TEST-NET-3,
 * reserved for documentation) so they look like the seed's public addresses yet can never be
 * reached by mistake; one per cluster, as one cloud load balancer per cluster would give.
 */
export function startServiceController(store: StorePort, clusterIndex: number, onError?: (n: string, k: string, e: unknown) => void): () => void {
  const loadBalancerIP = `203.0.113.${(clusterIndex % 254) + 1}`;
  const loop = new WorkLoop('service', reconcile, onError);
  const stop = informOn(store, R.services, (type, svc) => {
    if (type !== 'DELETED') loop.add(objectKey(svc.metadata.namespace, svc.metadata.name!));
  });

  function usedNodePorts(): Set<number> {
    const used = new Set<number>();
    for (const s of store.list(R.services).items) for (const p of (s.spec as ServiceSpec).ports ?? []) if (p.nodePort) used.add(p.nodePort);
    return used;
  }

  function reconcile(key: string): void {
    const { namespace, name } = splitKey(key);
    let svc = store.get(R.services, namespace, name);
    if (!svc) return;
    const spec = (svc.spec ?? {}) as ServiceSpec;
    if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') return;

    if ((spec.ports ?? []).some((p) => !p.nodePort)) {
      const used = usedNodePorts();
      let next = NODE_PORT_MIN + ((clusterIndex * 97) % 1000);
      const ports = (spec.ports ?? []).map((p) => {
        if (p.nodePort) return p;
        while (used.has(next)) next = next >= NODE_PORT_MAX ? NODE_PORT_MIN : next + 1;
        used.add(next);
        return { ...p, nodePort: next };
      });
      svc = store.update(R.services, { ...svc, spec: { ...spec, ports } });
    }
    if (spec.type !== 'LoadBalancer') return;
    const ingress = ((svc.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer?.ingress ?? []);
    if (ingress.some((i) => i.ip === loadBalancerIP)) return;
    svc = store.update(R.services, { ...svc, status: { loadBalancer: { ingress: [{ ip: loadBalancerIP, ipMode: 'VIP' }] } } }, { subresource: 'status' });
    recordEvent(store, svc, 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer', 'service-controller');
  }

  return () => {
    loop.stop();
    stop();
  };
}
