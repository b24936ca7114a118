import type { KObject, KubeRest } from './rest.js';
import { KubeApiError } from './rest.js';

export type InformerEvent = 'add' | 'update' | 'delete';

export const objectKey = (o: KObject): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

/**
 * List, then watch from the list's resourceVersion, keeping a cache by namespace/name. Unlike
 * client-node 1.x's informer it never stops by itself: a 410 relists, a failed or ended watch
 * resumes after a growing back-off (capped), so a member that goes away and comes back is
 * caught up without anyone restarting it.
 */
export class Informer {
  private readonly cache = new Map<string, KObject>();
  private readonly handlers: ((event: InformerEvent, obj: KObject, old?: KObject) => void)[] = [];
  private abort = new AbortController();
  private running = false;
  private synced = false;
  private failures = 0;
  /** The latest resourceVersion the cache reflects (a list's, or a watch event's, bookmarks included). */
  private seen: string | undefined;
  /** The last failed list or watch, kept after a recovery (a KubeApiError when the server answered). */
  lastError: unknown;

  constructor(
    private readonly client: KubeRest,
    private readonly path: string,
    private readonly opts: {
      maxBackoffMs?: number;
      labelSelector?: string;
      /** Applied to every object before it is cached, as client-go's SetTransform: drop what nobody reads. */
      transform?: (obj: KObject) => KObject;
      /** Called once, when the first list is in the cache (client-go's HasSynced turning true). */
      onSynced?: () => void;
    } = {},
  ) {}

  on(handler: (event: InformerEvent, obj: KObject, old?: KObject) => void): this {
    this.handlers.push(handler);
    return this;
  }

  list(): KObject[] {
    return [...this.cache.values()];
  }

  get(key: string): KObject | undefined {
    return this.cache.get(key);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /**
   * The resourceVersion the cache is known to be current at: every change up to it (to objects the
   * informer selects) is in the cache. Undefined before the first list.
   */
  resourceVersion(): string | undefined {
    return this.seen;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    void this.loop();
  }

  stop(): void {
    this.running = false;
    this.abort.abort();
  }

  private emit(event: InformerEvent, obj: KObject, old?: KObject): void {
    for (const h of this.handlers) {
      try {
        h(event, obj, old);
      } catch {
        // a handler's failure is its own; the informer keeps going
      }
    }
  }

  private async loop(): Promise<void> {
    let rv: string | undefined;
    while (this.running) {
      try {
        if (rv === undefined) rv = await this.relist();
        await this.client.watch(
          this.path,
          { resourceVersion: rv, labelSelector: this.opts.labelSelector },
          (type, received) => {
            rv = received.metadata.resourceVersion ?? rv;
            if (type === 'BOOKMARK') {
              this.seen = rv;
              return;
            }
            const obj = this.opts.transform ? this.opts.transform(received) : received;
            const key = objectKey(obj);
            const old = this.cache.get(key);
            if (type === 'DELETED') this.cache.delete(key);
            else this.cache.set(key, obj);
            // Before the handlers run: one reading the cache finds it and the watermark agreeing.
            this.seen = rv;
            if (type === 'DELETED') this.emit('delete', obj, old);
            else this.emit(old ? 'update' : 'add', obj, old);
          },
          this.abort.signal,
        );
        this.failures = 0;
      } catch (err) {
        if (!this.running) return;
        if (err instanceof KubeApiError && err.status === 410) {
          rv = undefined;
          continue;
        }
        this.lastError = err;
        this.failures++;
        rv = undefined; // after an outage, relist: the history may be gone
        const delay = Math.min(this.opts.maxBackoffMs ?? 5_000, 100 * 2 ** Math.min(this.failures, 10));
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  }

  private async relist(): Promise<string> {
    const list = await this.client.get<{ items: KObject[]; metadata: { resourceVersion: string } }>(this.path, { query: { labelSelector: this.opts.labelSelector } });
    const transform = this.opts.transform;
    const fresh = new Map(list.items.map((o) => [objectKey(o), transform ? transform(o) : o]));
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.cache.delete(key);
        this.emit('delete', old, old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit('add', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', obj, old);
    }
    this.seen = list.metadata.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      this.opts.onSynced?.();
    }
    return list.metadata.resourceVersion;
  }
}

/**
 * Drops `metadata.managedFields` (often the larger half of a small object) and the given
 * annotations from a cached object. Safe for objects written back with PUT: an update that omits
 * managedFields keeps the server's, and callers must not strip annotations they write back.
 */
export function stripForCache(dropAnnotations: readonly string[] = []): (obj: KObject) => KObject {
  return (obj) => {
    const { managedFields: _managed, ...metadata } = obj.metadata as KObject['metadata'] & { managedFields?: unknown };
    if (dropAnnotations.length && metadata.annotations && dropAnnotations.some((a) => a in metadata.annotations!)) {
      const annotations = { ...metadata.annotations };
      for (const a of dropAnnotations) delete annotations[a];
      metadata.annotations = annotations;
    }
    return { ...obj, metadata };
  };
}
