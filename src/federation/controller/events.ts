import { newEvent } from '../../kube/event.js';
import type { KObject, KubeRest } from '../../kube/rest.js';

/** Records an Event about a federated object in the federation API (never in members). */
export async function recordEvent(federation: KubeRest, about: KObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
  const event = newEvent(about, type, reason, message, 'meridian-controller');
  try {
    await federation.call('POST', `/api/v1/namespaces/${event.metadata.namespace}/events`, { body: event, timeoutMs: 5_000 });
  } catch {
    // Events are best effort.
  }
}
