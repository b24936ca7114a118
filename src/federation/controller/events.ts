import { randomBytes } from 'node:crypto';
import type { KObject, KubeRest } from '../../kube/rest.js';

/** Records an Event about a federated object in the federation API (never in members). */
export async function recordEvent(federation: KubeRest, about: KObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
  const namespace = about.metadata.namespace ?? 'default';
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  try {
    await federation.call('POST', `/api/v1/namespaces/${namespace}/events`, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${about.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
        involvedObject: {
          apiVersion: about.apiVersion,
          kind: about.kind,
          name: about.metadata.name,
          ...(about.kind === 'Cluster' ? {} : { namespace: about.metadata.namespace }),
          uid: about.metadata.uid,
        },
        reason,
        message,
        type,
        source: { component: 'meridian-controller' },
        reportingComponent: 'meridian-controller',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
      timeoutMs: 5_000,
    });
  } catch {
    // Events are best effort.
  }
}
