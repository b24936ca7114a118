import { stringify } from 'yaml';

export interface KubeconfigCluster {
  /** Used as the cluster, user and context name. */
  name: string;
  server: string;
}

/**
 * A kubeconfig with one context per emulated API server. The servers speak plain HTTP on
 * loopback; `insecure-skip-tls-verify` is what @kubernetes/client-node 1.x requires before it
 * accepts an http:// server (kubectl accepts it too).
 */
export function renderKubeconfig(clusters: KubeconfigCluster[], currentContext: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    'current-context': currentContext,
    clusters: clusters.map((c) => ({ name: c.name, cluster: { server: c.server, 'insecure-skip-tls-verify': true } })),
    users: clusters.map((c) => ({ name: c.name, user: { token: `sandbox-${c.name}` } })),
    contexts: clusters.map((c) => ({ name: c.name, context: { cluster: c.name, user: c.name, namespace: 'default' } })),
  });
}
