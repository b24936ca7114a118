import { createHash } from 'node:crypto';
import type { KObject } from '../../kube/rest.js';
import type { FederatedKind } from '../kinds.js';

/** Labels and annotations the controller owns on member copies. */
export const MANAGED_BY_LABEL = 'federation.meridian.dev/managed-by';
export const MANAGED_BY_VALUE = 'meridian';
export const ADOPT_ANNOTATION = 'federation.meridian.dev/adopt';
export const ORPHAN_ANNOTATION = 'federation.kubernetes.io/orphan';
export const CLUSTER_SELECTOR_ANNOTATION = 'federation.alpha.kubernetes.io/cluster-selector';
export const FINALIZER = 'federation.meridian.dev/cascade';
/**
 * Where the controller records an object's placement, one annotation per cluster
 * (`placement.federation.meridian.dev/<cluster>: selected, 2 replicas`): `kubectl describe`
 * prints each on its own line, where one long value would be cut at 140 characters.
 */
export const PLACEMENT_PREFIX = 'placement.federation.meridian.dev/';

/** Annotations that describe the federated object itself, never copied to members. */
const LOCAL_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);
const isLocal = (annotation: string) => LOCAL_ANNOTATIONS.has(annotation) || annotation.startsWith(PLACEMENT_PREFIX);

/**
 * A short digest of the labels and annotations members get from `fed`: changing them is a change
 * to propagate, though it moves no generation (the API server counts spec changes only).
 */
export function memberMetadataDigest(fed: KObject): string {
  const sorted = (entries: [string, string][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const labels = sorted(Object.entries(fed.metadata.labels ?? {}));
  const annotations = sorted(Object.entries(fed.metadata.annotations ?? {}).filter(([k]) => !isLocal(k)));
  return createHash('sha256').update(JSON.stringify([labels, annotations])).digest('base64url').slice(0, 16);
}

export function isManaged(obj: KObject): boolean {
  return obj.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/** Fields a member cluster allocates itself; kept from the member's copy and never compared. */
function memberAllocated(kind: FederatedKind, member: KObject | undefined, desired: KObject): KObject {
  if (kind.kind !== 'Service' || !member) return desired;
  const mSpec = (member.spec ?? {}) as Record<string, unknown>;
  const dSpec = { ...((desired.spec ?? {}) as Record<string, unknown>) };
  for (const f of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy', 'healthCheckNodePort']) if (mSpec[f] !== undefined && dSpec[f] === undefined) dSpec[f] = mSpec[f];
  const mPorts = (mSpec.ports as { port: number; nodePort?: number }[] | undefined) ?? [];
  dSpec.ports = ((dSpec.ports as { port: number; nodePort?: number }[] | undefined) ?? []).map((p) => {
    const m = mPorts.find((q) => q.port === p.port);
    return p.nodePort === undefined && m?.nodePort !== undefined ? { ...p, nodePort: m.nodePort } : p;
  });
  return { ...desired, spec: dSpec };
}

/**
 * The copy of a federated object one member should hold: same name, namespace, labels (plus the
 * managed-by label), annotations and payload; replicas from the plan for scheduled kinds.
 */
export function desiredMemberObject(kind: FederatedKind, fed: KObject, member: KObject | undefined, replicas?: number): KObject {
  const annotations = Object.fromEntries(Object.entries(fed.metadata.annotations ?? {}).filter(([k]) => !isLocal(k)));
  const obj: KObject = {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    metadata: {
      name: fed.metadata.name,
      ...(fed.metadata.namespace ? { namespace: fed.metadata.namespace } : {}),
      labels: { ...(fed.metadata.labels ?? {}), [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      ...(Object.keys(annotations).length ? { annotations } : {}),
    },
  };
  for (const field of kind.payload) if (fed[field] !== undefined) obj[field] = structuredClone(fed[field]);
  if (replicas !== undefined) obj.spec = { ...((obj.spec as object) ?? {}), replicas };
  return memberAllocated(kind, member, obj);
}

function stable(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val) ? Object.fromEntries(Object.entries(val as object).sort(([a], [b]) => a.localeCompare(b))) : val,
  );
}

/**
 * Whether the member's copy differs from the desired one in what the federation owns: labels,
 * annotations and payload, compared field by field on what the desired object sets (a member's
 * defaults, like a Service's sessionAffinity, are not drift).
 */
export function needsUpdate(kind: FederatedKind, desired: KObject, member: KObject): boolean {
  const subset = (want: unknown, have: unknown): boolean => {
    if (want && typeof want === 'object' && !Array.isArray(want)) {
      if (!have || typeof have !== 'object' || Array.isArray(have)) return false;
      return Object.entries(want as object).every(([k, v]) => subset(v, (have as Record<string, unknown>)[k]));
    }
    if (Array.isArray(want)) {
      return Array.isArray(have) && want.length === have.length && want.every((v, i) => subset(v, have[i]));
    }
    return stable(want) === stable(have);
  };
  if (stable(desired.metadata.labels ?? {}) !== stable(member.metadata.labels ?? {})) return true;
  const memberAnnotations = Object.fromEntries(Object.entries(member.metadata.annotations ?? {}).filter(([k]) => !isLocal(k)));
  if (stable(desired.metadata.annotations ?? {}) !== stable(memberAnnotations)) return true;
  return kind.payload.some((f) => {
    if (f === 'spec') return !subset(desired.spec ?? {}, member.spec ?? {});
    return stable(desired[f] ?? null) !== stable(member[f] ?? null) && !(desired[f] === undefined && isEmpty(member[f]));
  });
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'object' && Object.keys(v as object).length === 0);
}

/** The object written back to a member: desired content on the member's identity and version. */
export function updatedMemberObject(desired: KObject, member: KObject): KObject {
  return { ...member, ...desired, metadata: { ...member.metadata, labels: desired.metadata.labels, annotations: desired.metadata.annotations ?? {} } };
}
