import { mapSelectorMatches } from './labels.js';
import { isPodActive, isPodReady, podContainers, servedPort } from './pods.js';
import { R, informOn, type Obj, type StorePort } from './store-port.js';
import type { MemberSpec } from './topology.js';
import { WorkLoop, objectKey, splitKey } from './work.js';

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

interface Address {
  pod: Obj;
  ip: string;
  ready: boolean;
  /** Ports as really served, in service-port order. */
  ports: { name?: string; port: number; protocol: string }[];
}

/**
 * Publishes Endpoints and EndpointSlices for every Service with a selector, from the pods that
 * match it: ready pods as addresses, unready ones as notReadyAddresses. Ports are the ones each
 * pod really serves, so a port moved off a privileged number is still reachable.
 */
export function startEndpointsController(store: StorePort, spec: MemberSpec, onError?: (n: string, k: string, e: unknown) => void): () => void {
  const loop = new WorkLoop('endpoints', reconcile, onError);
  const stopSvc = informOn(store, R.services, (_t, svc) => loop.add(objectKey(svc.metadata.namespace, svc.metadata.name!)));
  const stopPods = informOn(store, R.pods, (_t, pod) => {
    for (const svc of store.list(R.services, pod.metadata.namespace).items) {
      if (mapSelectorMatches((svc.spec as { selector?: Record<string, string> }).selector, pod.metadata.labels)) {
        loop.add(objectKey(svc.metadata.namespace, svc.metadata.name!));
      }
    }
  });

  function reconcile(key: string): void {
    const { namespace, name } = splitKey(key);
    const svc = store.get(R.services, namespace, name);
    if (!svc) {
      removeIfOurs(R.endpoints, namespace, name);
      for (const slice of slicesOf(namespace, name)) store.delete(R.endpointSlices, namespace, slice.metadata.name!);
      return;
    }
    const svcSpec = (svc.spec ?? {}) as { selector?: Record<string, string>; ports?: ServicePort[] };
    if (!svcSpec.selector || Object.keys(svcSpec.selector).length === 0) return; // manually managed endpoints
    const servicePorts = svcSpec.ports ?? [];
    const addresses: Address[] = [];
    for (const pod of store.list(R.pods, namespace).items) {
      const ip = (pod.status as { podIP?: string } | undefined)?.podIP;
      if (!ip || !isPodActive(pod) || !mapSelectorMatches(svcSpec.selector, pod.metadata.labels)) continue;
      addresses.push({ pod, ip, ready: isPodReady(pod), ports: servicePorts.map((sp) => resolvePort(pod, sp)) });
    }
    addresses.sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
    writeEndpoints(svc, addresses);
    writeSlices(svc, addresses);
  }

  function resolvePort(pod: Obj, sp: ServicePort): { name?: string; port: number; protocol: string } {
    let containerPort = typeof sp.targetPort === 'number' ? sp.targetPort : sp.port;
    if (typeof sp.targetPort === 'string' && !/^\d+$/.test(sp.targetPort)) {
      const named = podContainers(pod).flatMap((c) => c.ports ?? []).find((p) => p.name === sp.targetPort);
      if (named) containerPort = named.containerPort;
    } else if (typeof sp.targetPort === 'string') containerPort = Number(sp.targetPort);
    return { ...(sp.name ? { name: sp.name } : {}), port: servedPort(pod, containerPort), protocol: sp.protocol ?? 'TCP' };
  }

  function groupByPorts(addresses: Address[]): Map<string, Address[]> {
    const groups = new Map<string, Address[]>();
    for (const a of addresses) {
      const k = JSON.stringify(a.ports);
      groups.set(k, [...(groups.get(k) ?? []), a]);
    }
    return groups;
  }

  function targetRef(pod: Obj) {
    return { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
  }

  function writeEndpoints(svc: Obj, addresses: Address[]): void {
    const subsets = [...groupByPorts(addresses).values()].map((group) => {
      const entry = (a: Address) => ({ ip: a.ip, nodeName: (a.pod.spec as { nodeName?: string }).nodeName, targetRef: targetRef(a.pod) });
      const ready = group.filter((a) => a.ready).map(entry);
      const notReady = group.filter((a) => !a.ready).map(entry);
      return { ...(ready.length ? { addresses: ready } : {}), ...(notReady.length ? { notReadyAddresses: notReady } : {}), ports: group[0]!.ports };
    });
    const desired = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace, labels: { ...(svc.metadata.labels ?? {}) } },
      subsets,
    };
    const existing = store.get(R.endpoints, svc.metadata.namespace, svc.metadata.name!);
    if (!existing) store.create(R.endpoints, desired as Obj);
    else if (JSON.stringify(existing.subsets ?? []) !== JSON.stringify(subsets)) store.update(R.endpoints, { ...existing, subsets });
  }

  function slicesOf(namespace: string | undefined, service: string): Obj[] {
    return store.list(R.endpointSlices, namespace).items.filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === service);
  }

  function writeSlices(svc: Obj, addresses: Address[]): void {
    const groups = [...groupByPorts(addresses).values()];
    if (groups.length === 0) groups.push([]);
    const existing = slicesOf(svc.metadata.namespace, svc.metadata.name!);
    const names = groups.map((_g, i) => `${svc.metadata.name}-sandbox${i === 0 ? '' : `-${i}`}`);
    groups.forEach((group, i) => {
      const name = names[i]!;
      const body = {
        addressType: 'IPv4',
        endpoints: group.map((a) => ({
          addresses: [a.ip],
          conditions: { ready: a.ready, serving: a.ready, terminating: false },
          nodeName: (a.pod.spec as { nodeName?: string }).nodeName,
          zone: spec.zone,
          targetRef: targetRef(a.pod),
        })),
        ports: group[0]?.ports ?? [],
      };
      const current = existing.find((s) => s.metadata.name === name);
      if (!current) {
        store.create(R.endpointSlices, {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            name,
            namespace: svc.metadata.namespace,
            labels: { 'kubernetes.io/service-name': svc.metadata.name!, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
            ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata.name!, uid: svc.metadata.uid!, controller: true, blockOwnerDeletion: true }],
          },
          ...body,
        });
      } else if (JSON.stringify({ e: current.endpoints, p: current.ports }) !== JSON.stringify({ e: body.endpoints, p: body.ports })) {
        store.update(R.endpointSlices, { ...current, ...body });
      }
    });
    for (const stale of existing) {
      if (!names.includes(stale.metadata.name!)) store.delete(R.endpointSlices, stale.metadata.namespace, stale.metadata.name!);
    }
  }

  function removeIfOurs(ref: typeof R.endpoints, namespace: string | undefined, name: string): void {
    if (store.get(ref, namespace, name)) store.delete(ref, namespace, name);
  }

  return () => {
    loop.stop();
    stopSvc();
    stopPods();
  };
}
