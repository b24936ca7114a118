import { randomBytes } from 'node:crypto';
import { R, type Obj, type StorePort } from './store-port.js';

/** Records a core/v1 Event about an object, as the component that noticed it would. */
export function recordEvent(
  store: StorePort,
  about: Obj,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  component: string,
): void {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const namespace = about.metadata.namespace ?? 'default';
  try {
    store.create(R.events, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${about.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: {
        apiVersion: about.apiVersion,
        kind: about.kind,
        name: about.metadata.name,
        namespace: about.metadata.namespace,
        uid: about.metadata.uid,
        resourceVersion: about.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component },
      reportingComponent: component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  } catch {
    // Events are best effort, as in Kubernetes: a terminating namespace refuses them.
  }
}
