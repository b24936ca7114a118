import type { Obj } from './store-port.js';

/** Small readers over Pod objects shared by the simulated controllers. */

export function podPhase(pod: Obj): string {
  return ((pod.status as { phase?: string } | undefined)?.phase ?? 'Pending') as string;
}

export function podConditions(pod: Obj): { type: string; status: string; reason?: string; message?: string }[] {
  return ((pod.status as { conditions?: [] } | undefined)?.conditions ?? []) as { type: string; status: string }[];
}

export function isPodReady(pod: Obj): boolean {
  return podConditions(pod).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Counts toward a ReplicaSet's replicas: not terminating and not finished. */
export function isPodActive(pod: Obj): boolean {
  const phase = podPhase(pod);
  return !pod.metadata.deletionTimestamp && phase !== 'Failed' && phase !== 'Succeeded';
}

export function controllerOf(obj: Obj): { kind: string; name: string; uid: string } | undefined {
  return obj.metadata.ownerReferences?.find((o) => o.controller);
}

export interface ContainerSpec {
  name: string;
  ports?: { containerPort: number; name?: string; protocol?: string }[];
  readinessProbe?: { httpGet?: { path?: string; port?: number | string }; initialDelaySeconds?: number; periodSeconds?: number };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export function podContainers(pod: Obj): ContainerSpec[] {
  return ((pod.spec as { containers?: ContainerSpec[] } | undefined)?.containers ?? []) as ContainerSpec[];
}

export const HOST_PORTS_ANNOTATION = 'sandbox.meridian.dev/host-ports';

/**
 * Where a container port is really served: the kubelet records ports it had to move (a privileged
 * port without privilege) in an annotation; otherwise the container port itself.
 */
export function servedPort(pod: Obj, containerPort: number): number {
  const raw = pod.metadata.annotations?.[HOST_PORTS_ANNOTATION];
  if (!raw) return containerPort;
  try {
    const map = JSON.parse(raw) as Record<string, number>;
    return map[String(containerPort)] ?? containerPort;
  } catch {
    return containerPort;
  }
}

export function rfc3339(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
