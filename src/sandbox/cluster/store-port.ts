/**
 * The part of the emulated API server's in-process store that the simulated controllers use:
 * an interface, so the simulation depends on behaviour, not on the store's class.
 */
import type { KubeObject, OwnerReference, ResourceRef, WatchEventType } from '../apiserver/store.js';

export type Obj = KubeObject;
export type OwnerRef = OwnerReference;
export type Ref = ResourceRef;
export type EventType = WatchEventType;

export interface StorePort {
  get(ref: Ref, namespace: string | undefined, name: string): Obj | undefined;
  list(ref: Ref, namespace?: string): { items: Obj[]; resourceVersion: string };
  create(ref: Ref, obj: Obj): Obj;
  update(ref: Ref, obj: Obj, opts?: { subresource?: 'status' }): Obj;
  delete(ref: Ref, namespace: string | undefined, name: string, opts?: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan' }): Obj | undefined;
  watch(ref: Ref, namespace: string | undefined, sinceResourceVersion: string | undefined, listener: (type: EventType, obj: Obj) => void): () => void;
}

export const R = {
  pods: { group: '', resource: 'pods' },
  secrets: { group: '', resource: 'secrets' },
  configMaps: { group: '', resource: 'configmaps' },
  ingresses: { group: 'networking.k8s.io', resource: 'ingresses' },
  clusters: { group: 'federation.meridian.dev', resource: 'clusters' },
  leases: { group: 'coordination.k8s.io', resource: 'leases' },
  nodes: { group: '', resource: 'nodes' },
  services: { group: '', resource: 'services' },
  endpoints: { group: '', resource: 'endpoints' },
  events: { group: '', resource: 'events' },
  namespaces: { group: '', resource: 'namespaces' },
  endpointSlices: { group: 'discovery.k8s.io', resource: 'endpointslices' },
  replicaSets: { group: 'apps', resource: 'replicasets' },
  deployments: { group: 'apps', resource: 'deployments' },
} as const satisfies Record<string, Ref>;

/** Subscribes to current state and every later change: list first, then watch from the list's version. */
export function informOn(store: StorePort, ref: Ref, onEvent: (type: EventType, obj: Obj) => void): () => void {
  const { items, resourceVersion } = store.list(ref);
  for (const item of items) onEvent('ADDED', item);
  return store.watch(ref, undefined, resourceVersion, onEvent);
}
