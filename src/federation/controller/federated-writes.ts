import { KubeApiError, type KObject, type KubeRest } from '../../kube/rest.js';
import { objectPath, type FederatedKind } from '../kinds.js';
import { PLACEMENT_PREFIX } from '../sync/desired.js';
import { aggregateLoadBalancer, aggregateReplicaStatus, ingressStatus } from '../sync/status.js';
import type { Problem } from './problems.js';

/** What the controller writes back to the federated object itself: status, placement, finalizers. */

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/**
 * The `Propagated` condition on a federated object's status (kinds whose status has conditions):
 * False with the reasons (conflicts, bad annotations) while something keeps it from every cluster.
 */
export function propagatedCondition(problems: readonly Problem[], previous: readonly Condition[] | undefined, now: string): Condition[] {
  const others = (previous ?? []).filter((c) => c.type !== 'Propagated');
  const old = (previous ?? []).find((c) => c.type === 'Propagated');
  const status = problems.length ? 'False' : 'True';
  const reason = problems.length ? [...new Set(problems.map((p) => p.reason))].join(',') : 'Propagated';
  const message = problems.length ? problems.map((p) => p.message).join('; ') : 'in sync with every selected Ready cluster';
  const lastTransitionTime = old && old.status === status ? old.lastTransitionTime : now;
  return [...others, { type: 'Propagated', status, reason, message, lastTransitionTime }];
}

/** The status the federated object should show, from its members' copies; undefined for kinds without one. */
export function federatedStatus(kind: FederatedKind, fed: KObject, members: readonly KObject[], problems: readonly Problem[], globalVIP: string | undefined, now: string): unknown {
  if (!kind.hasStatus) return undefined;
  const conditions = () => propagatedCondition(problems, (fed.status as { conditions?: Condition[] } | undefined)?.conditions, now);
  if (kind.preferencesAnnotation) return { ...((fed.status as object) ?? {}), ...aggregateReplicaStatus(fed, members), conditions: conditions() };
  if (kind.kind === 'Service') return { ...((fed.status as object) ?? {}), loadBalancer: aggregateLoadBalancer(members), conditions: conditions() };
  if (kind.kind === 'Ingress') return ingressStatus(globalVIP);
  return undefined;
}

/**
 * Writes to the federated object are made from the informer's copy, which can be a step behind a
 * deletion (a reconcile queued by a member's watch runs before the federation's watch delivers
 * the delete). An object that is gone needs nothing more written: its delete event follows and
 * is reconciled on its own, so a 404 is done, not a failure to retry.
 */
function gone(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

/**
 * Writes `status` when it differs from what the object shows. A conflict means the informer was a
 * step behind: returns false, and the caller looks again shortly.
 */
export async function writeFederatedStatus(federation: KubeRest, kind: FederatedKind, fed: KObject, status: unknown): Promise<boolean> {
  if (status === undefined || JSON.stringify(status) === JSON.stringify(fed.status ?? {})) return true;
  try {
    await federation.call('PUT', `${objectPath(kind, fed.metadata.namespace, fed.metadata.name)}/status`, { body: { ...fed, status } });
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 409) return false;
    if (gone(err)) return true;
    throw err;
  }
}

/**
 * Records the placement annotations (a merge patch, so it never conflicts with the user's edits):
 * changed ones set, those of clusters no longer in the federation removed. Nothing is sent when
 * the object shows them already.
 */
export async function recordPlacement(federation: KubeRest, kind: FederatedKind, fed: KObject, wanted: Readonly<Record<string, string>>): Promise<void> {
  const have = fed.metadata.annotations ?? {};
  const patch: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(wanted)) if (have[k] !== v) patch[k] = v;
  for (const k of Object.keys(have)) if (k.startsWith(PLACEMENT_PREFIX) && !(k in wanted)) patch[k] = null;
  if (Object.keys(patch).length === 0) return;
  try {
    await federation.call('PATCH', objectPath(kind, fed.metadata.namespace, fed.metadata.name), {
      body: { metadata: { annotations: patch } },
      contentType: 'application/merge-patch+json',
    });
  } catch (err) {
    if (!gone(err)) throw err;
  }
}

/**
 * Replaces the object's finalizers (optimistic: a conflict is retried by the queue). An object
 * already gone was released by an earlier round whose deletion the informer had not yet seen.
 */
export async function setFinalizers(federation: KubeRest, kind: FederatedKind, fed: KObject, finalizers: string[]): Promise<void> {
  try {
    await federation.call('PUT', objectPath(kind, fed.metadata.namespace, fed.metadata.name), { body: { ...fed, metadata: { ...fed.metadata, finalizers } } });
  } catch (err) {
    if (!gone(err)) throw err;
  }
}
