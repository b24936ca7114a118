import { randomBytes } from 'node:crypto';

/** What an Event needs to know of the object it is about. */
export interface EventSubject {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; uid?: string };
}

/** An Event's `involvedObject`. */
export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

/**
 * A core/v1 Event about `about`, reported by `component`, as a fresh occurrence (count 1). The
 * controller posts it to the federation API; the sandbox's simulated components store it.
 */
export function newEvent(about: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string, component: string) {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const namespace = about.metadata.namespace ?? 'default';
  const involvedObject: ObjectReference = {
    apiVersion: about.apiVersion,
    kind: about.kind,
    name: about.metadata.name,
    // Absent for cluster-scoped objects (a Cluster), whose Event lands in `default`.
    namespace: about.metadata.namespace,
    uid: about.metadata.uid,
  };
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${about.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
    involvedObject,
    reason,
    message,
    type,
    source: { component },
    reportingComponent: component,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}
