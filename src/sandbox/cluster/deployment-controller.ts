import { createHash } from 'node:crypto';
import { controllerOf } from './pods.js';
import { R, informOn, type Obj, type StorePort } from './store-port.js';
import { WorkLoop, objectKey, splitKey } from './work.js';
import type { LabelSelector } from './labels.js';

interface DeploymentSpec {
  replicas?: number;
  selector?: LabelSelector;
  template?: { metadata?: { labels?: Record<string, string> }; spec?: unknown };
}

/** A short, label-safe hash of the pod template, like the real `pod-template-hash`. */
export function podTemplateHash(template: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(template ?? {})).digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let out = '';
  for (let i = 0; i < 10; i++) out += alphabet[digest[i]! % alphabet.length];
  return out;
}

/**
 * Rolls each Deployment onto a ReplicaSet named after its template hash and scales older
 * ReplicaSets to zero (a Recreate-style rollout: the sandbox needs the shape, not surge maths).
 */
export function startDeploymentController(store: StorePort, onError?: (n: string, k: string, e: unknown) => void): () => void {
  const loop = new WorkLoop('deployment', reconcile, onError);
  const stopD = informOn(store, R.deployments, (_t, d) => loop.add(objectKey(d.metadata.namespace, d.metadata.name!)));
  const stopRS = informOn(store, R.replicaSets, (_t, rs) => {
    const owner = controllerOf(rs);
    if (owner?.kind === 'Deployment') loop.add(objectKey(rs.metadata.namespace, owner.name));
  });

  function reconcile(key: string): void {
    const { namespace, name } = splitKey(key);
    const d = store.get(R.deployments, namespace, name);
    if (!d || d.metadata.deletionTimestamp) return;
    const spec = (d.spec ?? {}) as DeploymentSpec;
    const want = spec.replicas ?? 1;
    const hash = podTemplateHash(spec.template);
    const owned = store.list(R.replicaSets, namespace).items.filter((rs) => controllerOf(rs)?.uid === d.metadata.uid);
    let current = owned.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);

    if (!current) {
      current = store.create(R.replicaSets, {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${name}-${hash}`,
          namespace,
          labels: { ...(spec.template?.metadata?.labels ?? {}), 'pod-template-hash': hash },
          annotations: { 'deployment.kubernetes.io/desired-replicas': String(want), 'deployment.kubernetes.io/revision': String(owned.length + 1) },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: d.metadata.uid!, controller: true, blockOwnerDeletion: true }],
        },
        spec: {
          replicas: want,
          selector: {
            matchLabels: { ...(spec.selector?.matchLabels ?? {}), 'pod-template-hash': hash },
            ...(spec.selector?.matchExpressions ? { matchExpressions: spec.selector.matchExpressions } : {}),
          },
          template: {
            ...structuredClone(spec.template ?? {}),
            metadata: { ...(spec.template?.metadata ?? {}), labels: { ...(spec.template?.metadata?.labels ?? {}), 'pod-template-hash': hash } },
          },
        },
      });
    } else if ((current.spec as { replicas?: number }).replicas !== want) {
      store.update(R.replicaSets, { ...current, spec: { ...(current.spec as object), replicas: want } });
    }
    for (const old of owned) {
      if (old.metadata.uid !== current.metadata.uid && (old.spec as { replicas?: number }).replicas !== 0) {
        store.update(R.replicaSets, { ...old, spec: { ...(old.spec as object), replicas: 0 } });
      }
    }

    const sum = (rsList: Obj[], field: string) =>
      rsList.reduce((n, rs) => n + (((rs.status as Record<string, number> | undefined)?.[field] as number | undefined) ?? 0), 0);
    const fresh = store.list(R.replicaSets, namespace).items.filter((rs) => controllerOf(rs)?.uid === d.metadata.uid);
    const newest = fresh.filter((rs) => rs.metadata.uid === current!.metadata.uid);
    const available = sum(fresh, 'availableReplicas');
    const status = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas: sum(fresh, 'replicas'),
      updatedReplicas: sum(newest, 'replicas'),
      readyReplicas: sum(fresh, 'readyReplicas'),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, want - available),
    };
    const old = (d.status ?? {}) as Record<string, unknown>;
    if (Object.entries(status).some(([k, v]) => (old[k] ?? 0) !== v) || !old.conditions) {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const availableCond = available >= want ? 'True' : 'False';
      store.update(
        R.deployments,
        {
          ...d,
          status: {
            ...status,
            conditions: [
              { type: 'Available', status: availableCond, reason: availableCond === 'True' ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', message: availableCond === 'True' ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.', lastUpdateTime: now, lastTransitionTime: now },
              { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${current.metadata.name}" has successfully progressed.`, lastUpdateTime: now, lastTransitionTime: now },
            ],
          },
        },
        { subresource: 'status' },
      );
    }
  }

  return () => {
    loop.stop();
    stopD();
    stopRS();
  };
}
