import type { ResourceInfo } from './kinds.js';
import type { KubeObject } from './store.js';

/**
 * Conversion between the versions a client speaks and the stored one: extensions/v1beta1
 * Ingress ↔ networking.k8s.io/v1 and extensions/v1beta1 ReplicaSet ↔ apps/v1. Other resources
 * are stored as served and only get their apiVersion set.
 */

type V1Backend = { service?: { name: string; port?: { number?: number; name?: string } }; resource?: unknown };
type V1beta1Backend = { serviceName?: string; servicePort?: number | string; resource?: unknown };

function backendToV1(b: V1beta1Backend | undefined): V1Backend | undefined {
  if (!b) return undefined;
  if (b.resource) return { resource: b.resource };
  const port = typeof b.servicePort === 'number' || /^\d+$/.test(String(b.servicePort ?? '')) ? { number: Number(b.servicePort) } : { name: String(b.servicePort) };
  return { service: { name: b.serviceName ?? '', port } };
}

function backendFromV1(b: V1Backend | undefined): V1beta1Backend | undefined {
  if (!b) return undefined;
  if (b.resource) return { resource: b.resource };
  return { serviceName: b.service?.name, servicePort: b.service?.port?.number ?? b.service?.port?.name };
}

type Rules<B> = { host?: string; http?: { paths: { path?: string; pathType?: string; backend: B }[] } }[];

function ingressSpecToV1(spec: Record<string, unknown>): Record<string, unknown> {
  const { backend, rules, ...rest } = spec as { backend?: V1beta1Backend; rules?: Rules<V1beta1Backend> };
  return {
    ...rest,
    ...(backend ? { defaultBackend: backendToV1(backend) } : {}),
    ...(rules
      ? {
          rules: rules.map((r) => ({
            ...r,
            ...(r.http ? { http: { paths: r.http.paths.map((p) => ({ ...p, pathType: p.pathType ?? 'ImplementationSpecific', backend: backendToV1(p.backend) })) } } : {}),
          })),
        }
      : {}),
  };
}

function ingressSpecFromV1(spec: Record<string, unknown>): Record<string, unknown> {
  const { defaultBackend, rules, ...rest } = spec as { defaultBackend?: V1Backend; rules?: Rules<V1Backend> };
  return {
    ...rest,
    ...(defaultBackend ? { backend: backendFromV1(defaultBackend) } : {}),
    ...(rules
      ? { rules: rules.map((r) => ({ ...r, ...(r.http ? { http: { paths: r.http.paths.map((p) => ({ ...p, backend: backendFromV1(p.backend) })) } } : {}) })) }
      : {}),
  };
}

/** The stored (canonical) form of an object a client sent in `info`'s version. */
export function toStorage(info: ResourceInfo, obj: KubeObject, storageInfo: ResourceInfo): KubeObject {
  const apiVersion = storageInfo.group ? `${storageInfo.group}/${storageInfo.version}` : storageInfo.version;
  if (info.group === 'extensions' && info.resource === 'ingresses') {
    return { ...obj, apiVersion, spec: ingressSpecToV1((obj.spec as Record<string, unknown>) ?? {}) };
  }
  if (info.group === 'extensions' && info.resource === 'replicasets') {
    const spec = { ...((obj.spec as Record<string, unknown>) ?? {}) };
    const template = spec.template as { metadata?: { labels?: Record<string, string> } } | undefined;
    if (!spec.selector && template?.metadata?.labels) spec.selector = { matchLabels: { ...template.metadata.labels } };
    return { ...obj, apiVersion, spec };
  }
  return { ...obj, apiVersion };
}

/** The stored object as seen through `info`'s version. */
export function fromStorage(info: ResourceInfo, obj: KubeObject): KubeObject {
  const apiVersion = info.group ? `${info.group}/${info.version}` : info.version;
  if (info.group === 'extensions' && info.resource === 'ingresses') {
    return { ...obj, apiVersion, spec: ingressSpecFromV1((obj.spec as Record<string, unknown>) ?? {}) };
  }
  return obj.apiVersion === apiVersion ? obj : { ...obj, apiVersion };
}
