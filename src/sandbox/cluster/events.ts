import { newEvent } from '../../kube/event.js';
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
  const event = newEvent(about, type, reason, message, component);
  event.involvedObject.resourceVersion = about.metadata.resourceVersion;
  try {
    store.create(R.events, event);
  } catch {
    // Events are best effort, as in Kubernetes: a terminating namespace refuses them.
  }
}
