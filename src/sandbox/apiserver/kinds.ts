import type { KubeObject, ResourceRef } from './store.js';

/** One served resource at one group-version. */
export interface ResourceInfo {
  group: string;
  version: string;
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  hasStatus: boolean;
  /** metadata.generation moves when anything outside metadata and status changes. */
  tracksGeneration: boolean;
  /** Where objects of this resource live; several group-versions may share one storage. */
  storage: ResourceRef;
  /** Served but deprecated: the Warning header real servers sent. */
  deprecation?: string;
  /** additionalPrinterColumns of a CRD version. */
  printerColumns?: { name: string; type: string; jsonPath: string; priority?: number; format?: string; description?: string }[];
  /** The client-node model class that knows this kind's fields, for strict field validation. */
  model?: string;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
export const resourceVerbs = (): string[] => [...VERBS];

function builtin(
  group: string,
  version: string,
  resource: string,
  kind: string,
  opts: Partial<Omit<ResourceInfo, 'group' | 'version' | 'resource' | 'kind'>> = {},
): ResourceInfo {
  return {
    group,
    version,
    resource,
    kind,
    singular: kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    categories: [],
    hasStatus: false,
    tracksGeneration: false,
    storage: { group, resource },
    ...opts,
  };
}

const EXTENSIONS_INGRESS_WARNING = 'extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress';
const EXTENSIONS_RS_WARNING = 'extensions/v1beta1 ReplicaSet is deprecated in v1.9+, unavailable in v1.16+; use apps/v1 ReplicaSet';

/** Built-in resources in discovery order: apps and networking.k8s.io before extensions (kubectl's priority). */
export const BUILTIN_RESOURCES: ResourceInfo[] = [
  builtin('', 'v1', 'namespaces', 'Namespace', { namespaced: false, shortNames: ['ns'], hasStatus: true, model: 'V1Namespace' }),
  builtin('', 'v1', 'pods', 'Pod', { shortNames: ['po'], categories: ['all'], hasStatus: true, model: 'V1Pod' }),
  builtin('', 'v1', 'services', 'Service', { shortNames: ['svc'], categories: ['all'], hasStatus: true, model: 'V1Service' }),
  builtin('', 'v1', 'endpoints', 'Endpoints', { singular: 'endpoints', shortNames: ['ep'], model: 'V1Endpoints' }),
  builtin('', 'v1', 'configmaps', 'ConfigMap', { shortNames: ['cm'], model: 'V1ConfigMap' }),
  builtin('', 'v1', 'secrets', 'Secret', { model: 'V1Secret' }),
  builtin('', 'v1', 'serviceaccounts', 'ServiceAccount', { shortNames: ['sa'], model: 'V1ServiceAccount' }),
  builtin('', 'v1', 'events', 'Event', { shortNames: ['ev'], model: 'CoreV1Event' }),
  builtin('', 'v1', 'nodes', 'Node', { namespaced: false, shortNames: ['no'], hasStatus: true, model: 'V1Node' }),
  builtin('apps', 'v1', 'replicasets', 'ReplicaSet', { shortNames: ['rs'], categories: ['all'], hasStatus: true, tracksGeneration: true, model: 'V1ReplicaSet' }),
  builtin('apps', 'v1', 'deployments', 'Deployment', { shortNames: ['deploy'], categories: ['all'], hasStatus: true, tracksGeneration: true, model: 'V1Deployment' }),
  // Served and stored, with no controller behind them: enough to apply Meridian's own manifests.
  builtin('apps', 'v1', 'daemonsets', 'DaemonSet', { shortNames: ['ds'], categories: ['all'], hasStatus: true, tracksGeneration: true, model: 'V1DaemonSet' }),
  builtin('apps', 'v1', 'statefulsets', 'StatefulSet', { shortNames: ['sts'], categories: ['all'], hasStatus: true, tracksGeneration: true, model: 'V1StatefulSet' }),
  builtin('networking.k8s.io', 'v1', 'ingresses', 'Ingress', { shortNames: ['ing'], hasStatus: true, tracksGeneration: true, model: 'V1Ingress' }),
  builtin('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', { shortNames: ['pdb'], hasStatus: true, tracksGeneration: true, model: 'V1PodDisruptionBudget' }),
  builtin('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', { namespaced: false, model: 'V1ClusterRoleBinding' }),
  builtin('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', { namespaced: false, model: 'V1ClusterRole' }),
  builtin('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', { model: 'V1RoleBinding' }),
  builtin('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', { model: 'V1Role' }),
  builtin('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', { model: 'V1EndpointSlice' }),
  builtin('coordination.k8s.io', 'v1', 'leases', 'Lease', { model: 'V1Lease' }),
  builtin('apiextensions.k8s.io', 'v1', 'customresourcedefinitions', 'CustomResourceDefinition', {
    namespaced: false,
    shortNames: ['crd', 'crds'],
    hasStatus: true,
    tracksGeneration: true,
    model: 'V1CustomResourceDefinition',
  }),
  builtin('extensions', 'v1beta1', 'replicasets', 'ReplicaSet', {
    hasStatus: true,
    tracksGeneration: true,
    storage: { group: 'apps', resource: 'replicasets' },
    deprecation: EXTENSIONS_RS_WARNING,
  }),
  builtin('extensions', 'v1beta1', 'ingresses', 'Ingress', {
    hasStatus: true,
    tracksGeneration: true,
    storage: { group: 'networking.k8s.io', resource: 'ingresses' },
    deprecation: EXTENSIONS_INGRESS_WARNING,
  }),
];

interface CrdSpec {
  group: string;
  scope: 'Namespaced' | 'Cluster';
  names: { plural: string; singular?: string; kind: string; listKind?: string; shortNames?: string[]; categories?: string[] };
  versions: {
    name: string;
    served?: boolean;
    storage?: boolean;
    subresources?: { status?: unknown };
    additionalPrinterColumns?: ResourceInfo['printerColumns'];
  }[];
}

/** The resources a CRD object adds: one per served version, sharing the CRD's storage. */
export function resourcesFromCrd(crd: KubeObject): ResourceInfo[] {
  const spec = crd.spec as CrdSpec;
  return (spec.versions ?? [])
    .filter((v) => v.served !== false)
    .map((v) => ({
      group: spec.group,
      version: v.name,
      resource: spec.names.plural,
      singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
      kind: spec.names.kind,
      namespaced: spec.scope !== 'Cluster',
      shortNames: spec.names.shortNames ?? [],
      categories: spec.names.categories ?? [],
      hasStatus: v.subresources?.status !== undefined,
      tracksGeneration: true,
      storage: { group: spec.group, resource: spec.names.plural },
      ...(v.additionalPrinterColumns ? { printerColumns: v.additionalPrinterColumns } : {}),
    }));
}

/**
 * The resources one API server serves: the built-ins plus whatever its CRDs add. Kept per
 * cluster, since CRDs are.
 */
export class KindRegistry {
  private crdResources = new Map<string, ResourceInfo[]>();
  private changeCount = 0;

  setCrd(name: string, crd: KubeObject | undefined): void {
    if (crd) this.crdResources.set(name, resourcesFromCrd(crd));
    else this.crdResources.delete(name);
    this.changeCount++;
  }

  /** Changes whenever the served set changes: discovery hashes and caches key on it. */
  get generation(): number {
    return this.changeCount;
  }

  all(): ResourceInfo[] {
    const crds = [...this.crdResources.values()].flat();
    const ext = BUILTIN_RESOURCES.filter((r) => r.group === 'extensions');
    return [...BUILTIN_RESOURCES.filter((r) => r.group !== 'extensions'), ...crds, ...ext];
  }

  find(group: string, version: string, resource: string): ResourceInfo | undefined {
    return this.all().find((r) => r.group === group && r.version === version && r.resource === resource);
  }

  /** The canonical (storage-version) description of a storage ref. */
  forStorage(ref: ResourceRef): ResourceInfo | undefined {
    return this.all().find((r) => r.group === ref.group && r.resource === ref.resource && r.storage.group === ref.group);
  }

  /** Group-versions in discovery order, each with its resources. */
  groupVersions(): { group: string; version: string; resources: ResourceInfo[] }[] {
    const out: { group: string; version: string; resources: ResourceInfo[] }[] = [];
    for (const r of this.all()) {
      let gv = out.find((g) => g.group === r.group && g.version === r.version);
      if (!gv) out.push((gv = { group: r.group, version: r.version, resources: [] }));
      gv.resources.push(r);
    }
    return out;
  }
}
