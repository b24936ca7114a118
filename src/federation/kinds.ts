/** The kinds the federation propagates, and where each lives in the API. */
export interface FederatedKind {
  kind: string;
  /** The version the controller reads and writes in every cluster. */
  apiVersion: string;
  plural: string;
  namespaced: boolean;
  /** What is copied to members besides labels and annotations. */
  payload: readonly string[];
  /** Replica-scheduled kinds and their preferences annotation. */
  preferencesAnnotation?: string;
  hasStatus: boolean;
}

export const FEDERATED_KINDS: readonly FederatedKind[] = [
  { kind: 'Namespace', apiVersion: 'v1', plural: 'namespaces', namespaced: false, payload: [], hasStatus: false },
  { kind: 'Secret', apiVersion: 'v1', plural: 'secrets', namespaced: true, payload: ['data', 'type'], hasStatus: false },
  { kind: 'ConfigMap', apiVersion: 'v1', plural: 'configmaps', namespaced: true, payload: ['data', 'binaryData'], hasStatus: false },
  { kind: 'Service', apiVersion: 'v1', plural: 'services', namespaced: true, payload: ['spec'], hasStatus: true },
  { kind: 'Ingress', apiVersion: 'networking.k8s.io/v1', plural: 'ingresses', namespaced: true, payload: ['spec'], hasStatus: true },
  {
    kind: 'ReplicaSet',
    apiVersion: 'apps/v1',
    plural: 'replicasets',
    namespaced: true,
    payload: ['spec'],
    preferencesAnnotation: 'federation.kubernetes.io/replica-set-preferences',
    hasStatus: true,
  },
  {
    kind: 'Deployment',
    apiVersion: 'apps/v1',
    plural: 'deployments',
    namespaced: true,
    payload: ['spec'],
    preferencesAnnotation: 'federation.kubernetes.io/deployment-preferences',
    hasStatus: true,
  },
];

export function collectionPath(k: FederatedKind, namespace?: string): string {
  const base = k.apiVersion.includes('/') ? `/apis/${k.apiVersion}` : `/api/${k.apiVersion}`;
  return k.namespaced && namespace ? `${base}/namespaces/${namespace}/${k.plural}` : `${base}/${k.plural}`;
}

export function objectPath(k: FederatedKind, namespace: string | undefined, name: string): string {
  return `${collectionPath(k, namespace)}/${name}`;
}

export const CLUSTERS_PATH = '/apis/federation.meridian.dev/v1beta1/clusters';
