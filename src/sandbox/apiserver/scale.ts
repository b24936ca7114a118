import { ApiError, badRequest } from './errors.js';
import type { ResourceInfo } from './kinds.js';
import type { KubeObject } from './store.js';

/** Resources with a `/scale` subresource: ReplicaSets and Deployments in every served group, StatefulSets. */
export function hasScale(info: Pick<ResourceInfo, 'storage'>): boolean {
  return info.storage.resource === 'replicasets' || info.storage.resource === 'deployments' || info.storage.resource === 'statefulsets';
}

/** The Scale's group-version: `extensions/v1beta1` served its own Scale, everyone else autoscaling/v1. */
export function scaleGroupVersion(info: Pick<ResourceInfo, 'group'>): { group: string; version: string } {
  return info.group === 'extensions' ? { group: 'extensions', version: 'v1beta1' } : { group: 'autoscaling', version: 'v1' };
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** A label selector in its string form, as Scale.status.selector carries it (`a=b,c in (d,e)`). */
export function selectorText(sel: LabelSelector | undefined): string {
  if (!sel) return '';
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(',')})`);
  }
  return parts.join(',');
}

/** The Scale view of a ReplicaSet or Deployment (as served, in the request's group-version). */
export function toScale(info: ResourceInfo, obj: KubeObject): Record<string, unknown> {
  const gv = scaleGroupVersion(info);
  const spec = (obj.spec ?? {}) as { replicas?: number; selector?: LabelSelector };
  const status = (obj.status ?? {}) as { replicas?: number };
  const m = obj.metadata;
  return {
    kind: 'Scale',
    apiVersion: `${gv.group}/${gv.version}`,
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: spec.replicas ?? 1 },
    status: { replicas: status.replicas ?? 0, selector: selectorText(spec.selector) },
  };
}

/** The replicas a Scale body asks for, or the API server's 400/422 for a body that is not one. */
export function requestedReplicas(info: ResourceInfo, name: string, body: unknown): number {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body of the request was in an unknown format');
  const replicas = (body as { spec?: { replicas?: unknown } }).spec?.replicas;
  const gv = scaleGroupVersion(info);
  const qualified = `Scale.${gv.group} "${name}"`;
  if (replicas === undefined) return 0; // an omitted field is its zero value, as in Go
  if (typeof replicas !== 'number' || !Number.isInteger(replicas)) {
    throw badRequest(`json: cannot unmarshal ${typeof replicas} into Go struct field ScaleSpec.spec.replicas of type int32`);
  }
  if (replicas < 0) {
    throw new ApiError(422, 'Invalid', `${qualified} is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`, {
      name,
      group: gv.group,
      kind: 'Scale',
      causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${replicas}: must be greater than or equal to 0`, field: 'spec.replicas' }],
    });
  }
  return replicas;
}
