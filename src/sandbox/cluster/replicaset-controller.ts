import { selectorMatches, type LabelSelector } from './labels.js';
import { controllerOf, isPodActive, isPodReady, podPhase } from './pods.js';
import { R, informOn, type Obj, type StorePort } from './store-port.js';
import { WorkLoop, objectKey, splitKey } from './work.js';

interface RSSpec {
  replicas?: number;
  selector?: LabelSelector;
  template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown };
}

/**
 * Keeps each ReplicaSet's pod count at spec.replicas and reports status, like
 * kube-controller-manager's replicaset controller. Failed pods are replaced.
 */
export function startReplicaSetController(store: StorePort, onError?: (n: string, k: string, e: unknown) => void): () => void {
  const loop = new WorkLoop('replicaset', reconcile, onError);
  const stopRS = informOn(store, R.replicaSets, (_t, rs) => loop.add(objectKey(rs.metadata.namespace, rs.metadata.name!)));
  const stopPods = informOn(store, R.pods, (_t, pod) => {
    const owner = controllerOf(pod);
    if (owner?.kind === 'ReplicaSet') loop.add(objectKey(pod.metadata.namespace, owner.name));
  });

  function reconcile(key: string): void {
    const { namespace, name } = splitKey(key);
    const rs = store.get(R.replicaSets, namespace, name);
    if (!rs || rs.metadata.deletionTimestamp) return;
    const spec = (rs.spec ?? {}) as RSSpec;
    const want = spec.replicas ?? 1;
    const owned = store.list(R.pods, namespace).items.filter((p) => controllerOf(p)?.uid === rs.metadata.uid);

    for (const failed of owned.filter((p) => podPhase(p) === 'Failed' && !p.metadata.deletionTimestamp)) {
      store.delete(R.pods, namespace, failed.metadata.name!);
    }
    const active = owned.filter(isPodActive);
    if (active.length < want) {
      for (let i = active.length; i < want; i++) store.create(R.pods, newPod(rs, spec));
    } else if (active.length > want) {
      // Delete the least useful first: unscheduled, then not ready, then the newest.
      const rank = (p: Obj) => (!(p.spec as { nodeName?: string }).nodeName ? 0 : !isPodReady(p) ? 1 : 2);
      const victims = [...active]
        .sort((a, b) => rank(a) - rank(b) || (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''))
        .slice(0, active.length - want);
      for (const v of victims) store.delete(R.pods, namespace, v.metadata.name!);
    }

    const current = store.list(R.pods, namespace).items.filter((p) => controllerOf(p)?.uid === rs.metadata.uid && isPodActive(p));
    const ready = current.filter(isPodReady).length;
    const status = {
      replicas: current.length,
      fullyLabeledReplicas: current.filter((p) => selectorMatches(spec.selector, p.metadata.labels)).length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: rs.metadata.generation ?? 1,
    };
    const old = (rs.status ?? {}) as Record<string, unknown>;
    if (Object.entries(status).some(([k, v]) => (old[k] ?? 0) !== v)) {
      store.update(R.replicaSets, { ...rs, status: { ...old, ...status } }, { subresource: 'status' });
    }
  }

  return () => {
    loop.stop();
    stopRS();
    stopPods();
  };
}

function newPod(rs: Obj, spec: RSSpec): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${rs.metadata.name}-`,
      namespace: rs.metadata.namespace,
      labels: { ...(spec.template?.metadata?.labels ?? {}) },
      ...(spec.template?.metadata?.annotations ? { annotations: { ...spec.template.metadata.annotations } } : {}),
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata.name!, uid: rs.metadata.uid!, controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: structuredClone(spec.template?.spec ?? { containers: [] }),
    status: { phase: 'Pending' },
  };
}
