import { createHash } from 'node:crypto';
import { resourceVerbs, type KindRegistry, type ResourceInfo } from './kinds.js';
import { hasScale, scaleGroupVersion } from './scale.js';

/** Legacy and aggregated API discovery, and the OpenAPI documents kubectl needs to validate. */

export function versionInfo(minor: string): Record<string, string> {
  return {
    major: '1',
    minor,
    gitVersion: `v1.${minor}.0`,
    gitCommit: 'meridian-sandbox',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: 'go1.23',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

const gvString = (group: string, version: string) => (group ? `${group}/${version}` : version);

export function legacyApiVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function legacyGroupList(kinds: KindRegistry): Record<string, unknown> {
  const groups: { name: string; versions: { groupVersion: string; version: string }[]; preferredVersion: { groupVersion: string; version: string } }[] = [];
  for (const gv of kinds.groupVersions()) {
    if (!gv.group) continue;
    let g = groups.find((x) => x.name === gv.group);
    const v = { groupVersion: gvString(gv.group, gv.version), version: gv.version };
    if (!g) groups.push((g = { name: gv.group, versions: [], preferredVersion: v }));
    g.versions.push(v);
  }
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function legacyGroup(kinds: KindRegistry, group: string): Record<string, unknown> | undefined {
  const list = legacyGroupList(kinds).groups as { name: string }[];
  const g = list.find((x) => x.name === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...g } : undefined;
}

export function resourceList(kinds: KindRegistry, group: string, version: string): Record<string, unknown> | undefined {
  const gv = kinds.groupVersions().find((g) => g.group === group && g.version === version);
  if (!gv) return undefined;
  const resources = gv.resources.flatMap((r) => [
    {
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: resourceVerbs(),
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
    },
    ...(r.hasStatus ? [{ name: `${r.resource}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] }] : []),
    ...(hasScale(r) ? [{ name: `${r.resource}/scale`, singularName: '', namespaced: r.namespaced, ...scaleGroupVersion(r), kind: 'Scale', verbs: ['get', 'patch', 'update'] }] : []),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gvString(group, version), resources };
}

function aggregatedResource(r: ResourceInfo): Record<string, unknown> {
  return {
    resource: r.resource,
    responseKind: { group: r.group, version: r.version, kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: resourceVerbs(),
    ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
    ...(r.categories.length ? { categories: r.categories } : {}),
    ...(r.hasStatus || hasScale(r)
      ? {
          subresources: [
            ...(r.hasStatus ? [{ subresource: 'status', responseKind: { group: r.group, version: r.version, kind: r.kind }, verbs: ['get', 'patch', 'update'] }] : []),
            ...(hasScale(r) ? [{ subresource: 'scale', responseKind: { ...scaleGroupVersion(r), kind: 'Scale' }, verbs: ['get', 'patch', 'update'] }] : []),
          ],
        }
      : {}),
  };
}

/** The body of aggregated discovery for `/api` (legacy=true) or `/apis`. */
export function aggregatedDiscovery(kinds: KindRegistry, legacy: boolean, apiVersion: 'v2' | 'v2beta1'): Record<string, unknown> {
  const items: { metadata: { name: string }; versions: { version: string; freshness: string; resources: unknown[] }[] }[] = [];
  for (const gv of kinds.groupVersions()) {
    if (legacy !== (gv.group === '')) continue;
    let item = items.find((i) => i.metadata.name === gv.group);
    if (!item) items.push((item = { metadata: { name: gv.group }, versions: [] }));
    item.versions.push({ version: gv.version, freshness: 'Current', resources: gv.resources.map(aggregatedResource) });
  }
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${apiVersion}`, metadata: {}, items };
}

/**
 * Which discovery format to answer, by exact media-type match in the client's order (a substring
 * test for `v=v2` would match `v=v2beta1` and break kubectl 1.27).
 */
export function negotiateDiscovery(accept: string | undefined): 'v2' | 'v2beta1' | 'legacy' {
  for (const part of (accept ?? '').split(',')) {
    const [type, ...params] = part.split(';').map((s) => s.trim());
    if (type !== 'application/json') continue;
    const p = Object.fromEntries(params.map((x) => x.split('=').map((s) => s.trim()) as [string, string]));
    if (p.g === 'apidiscovery.k8s.io' && p.as === 'APIGroupDiscoveryList' && (p.v === 'v2' || p.v === 'v2beta1')) return p.v;
    if (!p.g && !p.as) return 'legacy';
  }
  return 'legacy';
}

/** The 30-byte gnostic OpenAPI v2 document (swagger "2.0", empty paths): enough for kubectl 1.20's validation. */
export const OPENAPI_V2_PROTOBUF = Buffer.from('0a03322e3012150a0a4b756265726e65746573120776312e33302e304200', 'hex');
export const OPENAPI_V2_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

export function openApiV3Hash(kinds: KindRegistry, group: string, version: string): string {
  return createHash('sha256').update(`${kinds.generation}:${group}/${version}`).digest('hex').slice(0, 32).toUpperCase();
}

export function openApiV3Index(kinds: KindRegistry): Record<string, unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of kinds.groupVersions()) {
    const key = gv.group ? `apis/${gv.group}/${gv.version}` : 'api/v1';
    paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${openApiV3Hash(kinds, gv.group, gv.version)}` };
  }
  return { paths };
}

/**
 * A group-version document declaring a PATCH with `fieldValidation` per kind: kubectl ≥ 1.27 then
 * leaves validation to the server (`fieldValidation=Strict`). Strategic merge is left out of the
 * request body types so client-side apply uses kubectl's compiled-in patch metadata.
 */
export function openApiV3Document(kinds: KindRegistry, group: string, version: string): Record<string, unknown> | undefined {
  const gv = kinds.groupVersions().find((g) => g.group === group && g.version === version);
  if (!gv) return undefined;
  const paths: Record<string, unknown> = {};
  const prefix = group ? `/apis/${group}/${version}` : '/api/v1';
  for (const r of gv.resources) {
    const item = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.resource}/{name}` : `${prefix}/${r.resource}/{name}`;
    const content = { schema: { type: 'object' } };
    paths[item] = {
      patch: {
        'x-kubernetes-group-version-kind': { group, version, kind: r.kind },
        parameters: [
          { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
        ],
        requestBody: { content: { 'application/json-patch+json': content, 'application/merge-patch+json': content, 'application/apply-patch+yaml': content } },
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.33.0' }, paths, components: { schemas: {} } };
}
