import * as models from '@kubernetes/client-node';
import { ApiError, invalid } from './errors.js';
import type { ResourceInfo } from './kinds.js';
import type { KubeObject } from './store.js';

type AttributeMap = { baseName: string; type: string }[];
type Model = { getAttributeTypeMap?: () => AttributeMap };

const attributeCache = new Map<string, Map<string, string> | null>();

/** Field name → type name of a client-node model class, or null when the type is not a model. */
function attributes(typeName: string): Map<string, string> | null {
  let hit = attributeCache.get(typeName);
  if (hit !== undefined) return hit;
  const cls = (models as unknown as Record<string, Model | undefined>)[typeName];
  hit = cls?.getAttributeTypeMap ? new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type])) : null;
  attributeCache.set(typeName, hit);
  return hit;
}

/** Unknown fields of `value` against a client-node model type: the field list the real API decodes. */
function unknownByModel(value: unknown, typeName: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(typeName);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownByModel(v, arr[1]!, `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value as object)) unknownByModel(v, map[1]!, `${path}.${k}`, out);
    return;
  }
  const attrs = attributes(typeName);
  if (!attrs || typeof value !== 'object' || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value as object)) {
    const t = attrs.get(k);
    const p = path ? `${path}.${k}` : k;
    if (!t) out.push(p);
    else unknownByModel(v, t, p, out);
  }
}

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** Unknown fields against a CRD's structural openAPIV3Schema. */
function unknownBySchema(value: unknown, schema: Schema | undefined, path: string, out: string[]): void {
  if (!schema || value === null || typeof value !== 'object' || schema['x-kubernetes-preserve-unknown-fields']) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownBySchema(v, schema.items, `${path}[${i}]`, out));
    return;
  }
  for (const [k, v] of Object.entries(value as object)) {
    const p = path ? `${path}.${k}` : k;
    const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (!sub && schema.properties && schema.additionalProperties !== true) out.push(p);
    else unknownBySchema(v, sub, p, out);
  }
}

/** The fields of `obj` its kind does not define (empty when the kind is not known field by field). */
export function unknownFields(info: ResourceInfo, obj: KubeObject, crdSchema?: Schema): string[] {
  const out: string[] = [];
  if (info.model && info.group !== 'extensions') unknownByModel(obj, info.model, '', out);
  else if (crdSchema) {
    const { apiVersion: _a, kind: _k, metadata, ...rest } = obj;
    unknownByModel({ metadata }, 'V1PartialObjectMetadata', '', out);
    unknownBySchema(rest, crdSchema, '', out);
  }
  return out;
}

export function strictDecodingError(info: ResourceInfo, fields: string[]): ApiError {
  return new ApiError(
    400,
    'BadRequest',
    `${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: strict decoding error: ${fields.map((f) => `unknown field "${f}"`).join(', ')}`,
  );
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

const RBAC = 'rbac.authorization.k8s.io';

type Cause = { field: string; reason: string; message: string };

/**
 * The semantic checks `kubectl` users run into most; failures are 422 Invalid with causes.
 * `previous` is the stored object on an update, for fields that may not change.
 */
export function validateObject(info: ResourceInfo, obj: KubeObject, previous?: KubeObject): void {
  const name = obj.metadata?.name;
  const causes: Cause[] = [];
  const key = `${info.storage.group}/${info.storage.resource}`;
  if (name !== undefined) {
    if (info.storage.group === RBAC) {
      // RBAC names are path segments (`system:controller:x` is fine), not DNS subdomains.
      const problem = pathSegmentProblem(name);
      if (problem) causes.push({ field: 'metadata.name', reason: 'FieldValueInvalid', message: `Invalid value: "${name}": ${problem}` });
    } else if (key === '/services' && (!LABEL_1035.test(name) || name.length > 63)) {
      causes.push({
        field: 'metadata.name',
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${name}": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
      });
    } else if (key === '/namespaces' && (!LABEL_1123.test(name) || name.length > 63)) {
      causes.push({
        field: 'metadata.name',
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
      });
    } else if (key !== '/services' && key !== '/namespaces' && (!SUBDOMAIN.test(name) || name.length > 253)) {
      causes.push({
        field: 'metadata.name',
        reason: 'FieldValueInvalid',
        message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      });
    }
  }
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  if (key === '/services' && spec.type !== 'ExternalName' && !((spec.ports as unknown[] | undefined) ?? []).length) {
    causes.push({ field: 'spec.ports', reason: 'FieldValueRequired', message: 'Required value' });
  }
  if (key === '/pods' && !((spec.containers as unknown[] | undefined) ?? []).length) {
    causes.push({ field: 'spec.containers', reason: 'FieldValueRequired', message: 'Required value' });
  }
  if (key === 'apps/replicasets' || key === 'apps/deployments' || key === 'apps/daemonsets' || key === 'apps/statefulsets') {
    const selector = spec.selector as { matchLabels?: Record<string, string> } | undefined;
    const labels = (spec.template as { metadata?: { labels?: Record<string, string> } } | undefined)?.metadata?.labels ?? {};
    if (!selector) causes.push({ field: 'spec.selector', reason: 'FieldValueRequired', message: 'Required value' });
    else if (Object.entries(selector.matchLabels ?? {}).some(([k, v]) => labels[k] !== v)) {
      causes.push({
        field: 'spec.template.metadata.labels',
        reason: 'FieldValueInvalid',
        message: `Invalid value: map[string]string{${Object.entries(labels).map(([k, v]) => `"${k}":"${v}"`).join(', ')}}: \`selector\` does not match template \`labels\``,
      });
    }
    if (typeof spec.replicas === 'number' && spec.replicas < 0) {
      causes.push({ field: 'spec.replicas', reason: 'FieldValueInvalid', message: `Invalid value: ${spec.replicas}: must be greater than or equal to 0` });
    }
  }
  if (key === 'policy/poddisruptionbudgets' && spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
    causes.push({
      field: 'spec',
      reason: 'FieldValueInvalid',
      message: `Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:${JSON.stringify(spec.minAvailable)}, MaxUnavailable:${JSON.stringify(spec.maxUnavailable)}}: minAvailable and maxUnavailable cannot be both set`,
    });
  }
  if (key === `${RBAC}/rolebindings` || key === `${RBAC}/clusterrolebindings`) causes.push(...bindingCauses(obj, key === `${RBAC}/rolebindings`, previous));
  if (causes.length) throw invalid(info.kind, info.storage.group, name ?? '', causes);
}

function pathSegmentProblem(name: string): string | undefined {
  if (name === '.' || name === '..') return `may not be '${name}'`;
  const c = ['/', '%'].find((x) => name.includes(x));
  return c ? `may not contain '${c}'` : undefined;
}

interface RoleRef {
  apiGroup?: string;
  kind?: string;
  name?: string;
}

const goRoleRef = (r: RoleRef | undefined) => `rbac.RoleRef{APIGroup:"${r?.apiGroup ?? ''}", Kind:"${r?.kind ?? ''}", Name:"${r?.name ?? ''}"}`;
const unsupported = (value: unknown, allowed: string[]) => `Unsupported value: "${String(value ?? '')}": supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`;

/** RoleBinding / ClusterRoleBinding: a roleRef into RBAC, valid subjects, and a roleRef that never changes. */
function bindingCauses(obj: KubeObject, namespaced: boolean, previous: KubeObject | undefined): Cause[] {
  const causes: Cause[] = [];
  const ref = obj.roleRef as RoleRef | undefined;
  if (ref?.apiGroup !== RBAC) causes.push({ field: 'roleRef.apiGroup', reason: 'FieldValueNotSupported', message: unsupported(ref?.apiGroup, [RBAC]) });
  const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (!kinds.includes(ref?.kind ?? '')) causes.push({ field: 'roleRef.kind', reason: 'FieldValueNotSupported', message: unsupported(ref?.kind, kinds) });
  if (!ref?.name) causes.push({ field: 'roleRef.name', reason: 'FieldValueRequired', message: 'Required value' });
  ((obj.subjects as { kind?: string; name?: string; namespace?: string }[] | undefined) ?? []).forEach((s, i) => {
    const at = `subjects[${i}]`;
    if (!s.name) causes.push({ field: `${at}.name`, reason: 'FieldValueRequired', message: 'Required value' });
    if (!['ServiceAccount', 'User', 'Group'].includes(s.kind ?? '')) causes.push({ field: `${at}.kind`, reason: 'FieldValueNotSupported', message: unsupported(s.kind, ['ServiceAccount', 'User', 'Group']) });
    else if (s.kind === 'ServiceAccount' && !s.namespace && !namespaced) causes.push({ field: `${at}.namespace`, reason: 'FieldValueRequired', message: 'Required value' });
  });
  const before = previous?.roleRef as RoleRef | undefined;
  if (previous && goRoleRef(before) !== goRoleRef(ref)) {
    causes.push({ field: 'roleRef', reason: 'FieldValueInvalid', message: `Invalid value: ${goRoleRef(ref)}: cannot change roleRef` });
  }
  return causes;
}
