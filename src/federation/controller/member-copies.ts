import { Informer, stripForCache, type InformerEvent } from '../../kube/informer.js';
import type { KObject, KubeRest } from '../../kube/rest.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../sync/desired.js';

/** How long our own write stands in for the informer's copy at most (the watch is normally ms behind). */
const WRITE_OVERLAY_MS = 10_000;

/** `true` when resourceVersion `seen` is at least `written` (etcd's are integers; otherwise only equality counts). */
function caughtUp(seen: string | undefined, written: string | undefined): boolean {
  if (seen === undefined || written === undefined) return false;
  if (seen === written) return true;
  return /^\d+$/.test(seen) && /^\d+$/.test(written) && (seen.length !== written.length ? seen.length > written.length : seen > written);
}

/**
 * The copies of one kind that the controller manages in one member, as its informer caches them
 * (managedFields and last-applied stripped), with our own latest writes laid over the cache until
 * the watch delivers them: a reconcile that runs between a write and its watch event sees the
 * write, not the older copy, so it neither writes twice nor conflicts. What the watch delivers
 * after our write (a deletion included) wins over the overlay. Reads never touch the
 * member's API server; a member whose informer has not listed yet is left out of reconciles until
 * it has (`onSynced`), so a rejoining member costs one list, not a GET per object.
 */
export class MemberCopies {
  private readonly informer: Informer;
  /** key → what our last write left there (null: deleted), until the informer has caught up. */
  private readonly written = new Map<string, { obj: KObject | null; at: number }>();
  private startedAt: number | undefined;

  constructor(
    readonly client: KubeRest,
    path: string,
    onEvent: (event: InformerEvent, copy: KObject) => void,
    onSynced: () => void = () => {},
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.informer = new Informer(client, path, {
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
      transform: stripForCache(['kubectl.kubernetes.io/last-applied-configuration']),
      onSynced,
    }).on(onEvent);
  }

  start(): void {
    this.startedAt ??= this.now();
    this.informer.start();
  }

  /** When the cache started listing (its clock's ms); how long an unsynced cache has waited. */
  since(): number | undefined {
    return this.startedAt;
  }

  /** The informer's last failed list or watch (a KubeApiError carries the member's status). */
  lastError(): unknown {
    return this.informer.lastError;
  }

  stop(): void {
    this.informer.stop();
  }

  /** Whether a miss means the member has no managed copy (the informer has listed). */
  synced(): boolean {
    return this.informer.hasSynced();
  }

  get(key: string): KObject | undefined {
    const cached = this.informer.get(key);
    const w = this.written.get(key);
    if (!w) return cached;
    // A written copy the cache no longer holds, once the cache is current past our write, was
    // deleted since (in the member, behind our back): the overlay must not keep it alive.
    const settled = w.obj === null ? cached === undefined : caughtUp(cached ? cached.metadata.resourceVersion : this.informer.resourceVersion(), w.obj.metadata.resourceVersion);
    if (settled || this.now() - w.at > WRITE_OVERLAY_MS) {
      this.written.delete(key);
      return cached;
    }
    return w.obj ?? undefined;
  }

  /** Keys of every managed copy the member holds (for finding copies whose federated object is gone). */
  keys(): string[] {
    return this.informer.list().map((o) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name));
  }

  /** Our write was acknowledged: `obj` is what the server returned, null for a deletion. */
  wrote(key: string, obj: KObject | null): void {
    this.written.set(key, { obj, at: this.now() });
  }

  /** Drops overlays the informer has caught up with or that outlived their time; bounds the map. */
  prune(): void {
    for (const key of [...this.written.keys()]) this.get(key);
  }

  /** Entries held for `key` (tests: nothing stays behind a deleted object). */
  holds(key: string): boolean {
    return this.written.has(key);
  }
}
