import { recordEvent } from './events.js';
import { isPodActive, podConditions, podContainers, rfc3339 } from './pods.js';
import { podRequests, schedule, type NodeCapacity, type Requests } from './scheduler.js';
import { R, informOn, type Obj, type StorePort } from './store-port.js';
import { WorkLoop, objectKey, splitKey } from './work.js';

/**
 * Binds pending pods to nodes with room, or marks them `PodScheduled=False/Unschedulable` with
 * kube-scheduler's message and a FailedScheduling event. Unschedulable pods are retried when a
 * pod goes away (capacity freed).
 */
export function startScheduler(store: StorePort, nodes: NodeCapacity[], onError?: (n: string, k: string, e: unknown) => void): () => void {
  const unschedulable = new Set<string>();
  const loop = new WorkLoop('scheduler', reconcile, onError);
  const stop = informOn(store, R.pods, (type, pod) => {
    const key = objectKey(pod.metadata.namespace, pod.metadata.name!);
    if (type === 'DELETED' || !isPodActive(pod)) {
      unschedulable.delete(key);
      for (const k of unschedulable) loop.add(k);
      return;
    }
    if (!(pod.spec as { nodeName?: string }).nodeName) loop.add(key);
  });

  function usage(): Map<string, Requests & { pods: number }> {
    const used = new Map<string, Requests & { pods: number }>();
    for (const p of store.list(R.pods).items) {
      const node = (p.spec as { nodeName?: string }).nodeName;
      if (!node || !isPodActive(p)) continue;
      const r = podRequests(podContainers(p));
      const u = used.get(node) ?? { cpuMillis: 0, memoryBytes: 0, pods: 0 };
      used.set(node, { cpuMillis: u.cpuMillis + r.cpuMillis, memoryBytes: u.memoryBytes + r.memoryBytes, pods: u.pods + 1 });
    }
    return used;
  }

  function reconcile(key: string): void {
    const { namespace, name } = splitKey(key);
    const pod = store.get(R.pods, namespace, name);
    if (!pod || !isPodActive(pod) || (pod.spec as { nodeName?: string }).nodeName) {
      unschedulable.delete(key);
      return;
    }
    const result = schedule(podRequests(podContainers(pod)), nodes, usage());
    const others = podConditions(pod).filter((c) => c.type !== 'PodScheduled');
    const now = rfc3339();
    if ('node' in result) {
      unschedulable.delete(key);
      store.update(R.pods, { ...pod, spec: { ...(pod.spec as object), nodeName: result.node } });
      const bound = store.get(R.pods, namespace, name)!;
      store.update(
        R.pods,
        { ...bound, status: { ...((bound.status as object) ?? {}), phase: 'Pending', conditions: [...others, { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now }] } },
        { subresource: 'status' },
      );
      recordEvent(store, bound, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${result.node}`, 'default-scheduler');
      return;
    }
    unschedulable.add(key);
    const previous = podConditions(pod).find((c) => c.type === 'PodScheduled');
    if (previous?.status === 'False' && previous.message === result.unschedulable) return;
    store.update(
      R.pods,
      {
        ...pod,
        status: {
          ...((pod.status as object) ?? {}),
          phase: 'Pending',
          conditions: [...others, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: result.unschedulable, lastProbeTime: null, lastTransitionTime: now }],
        },
      },
      { subresource: 'status' },
    );
    recordEvent(store, pod as Obj, 'Warning', 'FailedScheduling', result.unschedulable, 'default-scheduler');
  }

  return () => {
    loop.stop();
    stop();
  };
}
