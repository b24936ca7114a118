import { randomBytes, randomUUID } from 'node:crypto';
import { ApiError, alreadyExists, badRequest, conflict, gone, notFound } from './errors.js';
import { KindRegistry, type ResourceInfo } from './kinds.js';

export { ApiError } from './errors.js';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  [k: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Storage is per group+resource, independent of the version a client speaks. */
export interface ResourceRef {
  group: string;
  resource: string;
}

export type WatchListener = (type: WatchEventType, obj: KubeObject, previous?: KubeObject) => void;

interface HistoryEvent {
  rv: number;
  storage: string;
  namespace: string | undefined;
  type: WatchEventType;
  obj: KubeObject;
  previous: KubeObject | undefined;
}

interface Watcher {
  storage: string;
  namespace: string | undefined;
  listener: WatchListener;
}

export interface StoreOptions {
  /** Watch events kept for resuming watches; older resourceVersions get 410 Gone. */
  historySize?: number;
}

const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
const CRD_STORAGE = 'apiextensions.k8s.io/customresourcedefinitions';
const NAMESPACES: ResourceRef = { group: '', resource: 'namespaces' };
const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

export function rfc3339(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

/** Everything except metadata and status: what a generation counts. */
function specPart(obj: KubeObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
  return JSON.stringify(rest);
}

function withoutVolatileMeta(obj: KubeObject): string {
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = obj.metadata;
  return JSON.stringify({ ...obj, metadata: meta });
}

/**
 * One emulated cluster's state: every object of every resource, a cluster-wide resourceVersion
 * (like etcd's revision) and a bounded history of changes for resuming watches.
 *
 * Objects handed out are deeply frozen snapshots: callers build new objects to write, never
 * mutate what they read. Watch listeners are called synchronously, in resourceVersion order,
 * right after each change is applied.
 */
export class ClusterStore {
  readonly kinds = new KindRegistry();
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly history: HistoryEvent[] = [];
  private readonly historySize: number;
  private readonly watchers = new Set<Watcher>();
  private rv = 0;
  /** The oldest resourceVersion a watch may resume from. */
  private horizon = 0;
  private readonly terminating = new Set<string>();

  constructor(opts: StoreOptions = {}) {
    this.historySize = opts.historySize ?? 2000;
    for (const name of SYSTEM_NAMESPACES) this.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  info(ref: ResourceRef): ResourceInfo {
    const info = this.kinds.forStorage(ref);
    if (!info) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    return info;
  }

  get(ref: ResourceRef, namespace: string | undefined, name: string): KubeObject | undefined {
    const info = this.info(ref);
    return this.bucket(ref).get(this.key(info, namespace, name));
  }

  list(ref: ResourceRef, namespace?: string): { items: KubeObject[]; resourceVersion: string } {
    const info = this.info(ref);
    const items = [...this.bucket(ref).values()].filter((o) => !info.namespaced || !namespace || o.metadata.namespace === namespace);
    items.sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name!.localeCompare(b.metadata.name!));
    return { items, resourceVersion: this.resourceVersion };
  }

  create(ref: ResourceRef, input: KubeObject): KubeObject {
    const info = this.info(ref);
    const meta = { ...(input.metadata ?? {}) };
    let name = meta.name;
    if (!name && meta.generateName) {
      do {
        name = meta.generateName + Array.from(randomBytes(5), (b) => NAME_CHARS[b % NAME_CHARS.length]).join('');
      } while (this.bucket(ref).has(this.key(info, meta.namespace, name)));
    }
    if (!name) {
      throw new ApiError(422, 'Invalid', `${info.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, {
        kind: info.kind,
        causes: [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }],
      });
    }
    const namespace = info.namespaced ? meta.namespace || 'default' : undefined;
    this.admit(info, namespace, name);
    const key = this.key(info, namespace, name);

    const rv = ++this.rv;
    const obj: KubeObject = {
      ...input,
      metadata: {
        ...meta,
        name,
        ...(namespace ? { namespace } : {}),
        uid: randomUUID(),
        resourceVersion: String(rv),
        creationTimestamp: rfc3339(),
        ...(info.tracksGeneration ? { generation: 1 } : {}),
      },
    };
    delete obj.metadata.deletionTimestamp;
    if (!namespace) delete obj.metadata.namespace;
    this.applyDefaults(info, obj);
    deepFreeze(obj);
    this.bucket(ref).set(key, obj);
    this.afterWrite(info, obj);
    this.emit(info, rv, 'ADDED', obj, undefined);
    return obj;
  }

  /**
   * What create() checks before it writes, for a dry run: the namespace exists and is not being
   * deleted, the name is free. A real server's dry run admits the same way, so a namespaced object
   * whose Namespace is created in the same dry run is refused (the Namespace was never stored).
   */
  admitCreate(ref: ResourceRef, input: KubeObject): void {
    const info = this.info(ref);
    const namespace = info.namespaced ? input.metadata?.namespace || 'default' : undefined;
    this.admit(info, namespace, input.metadata?.name);
  }

  private admit(info: ResourceInfo, namespace: string | undefined, name: string | undefined): void {
    if (namespace !== undefined) {
      if (!this.bucket(NAMESPACES).has(namespace)) throw notFound('', 'namespaces', namespace);
      if (this.terminating.has(namespace)) {
        throw new ApiError(403, 'Forbidden', `${name} is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, {
          name,
          kind: info.resource,
          causes: [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }],
        });
      }
    }
    if (name !== undefined && this.bucket(info.storage).has(this.key(info, namespace, name))) throw alreadyExists(info.storage.group, info.resource, name);
  }

  update(ref: ResourceRef, input: KubeObject, opts: { subresource?: 'status' } = {}): KubeObject {
    const info = this.info(ref);
    const name = input.metadata?.name;
    if (!name) throw badRequest('name is required for an update');
    const key = this.key(info, input.metadata.namespace, name);
    const existing = this.bucket(ref).get(key);
    if (!existing) throw notFound(info.storage.group, info.resource, name);
    if (input.metadata.resourceVersion && input.metadata.resourceVersion !== existing.metadata.resourceVersion) {
      throw conflict(info.storage.group, info.resource, name);
    }
    if (input.metadata.uid && input.metadata.uid !== existing.metadata.uid) {
      throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${input.metadata.uid}, UID in object meta: ${existing.metadata.uid}`);
    }

    let next: KubeObject;
    if (opts.subresource === 'status') {
      next = { ...existing, status: input.status };
    } else {
      next = { ...input, metadata: { ...input.metadata } };
      if (info.hasStatus) {
        if (existing.status === undefined) delete next.status;
        else next.status = existing.status;
      }
    }
    // Fields clients may not change through an update.
    next.metadata = {
      ...next.metadata,
      name: existing.metadata.name,
      uid: existing.metadata.uid,
      creationTimestamp: existing.metadata.creationTimestamp,
      ...(existing.metadata.namespace ? { namespace: existing.metadata.namespace } : {}),
      ...(existing.metadata.deletionTimestamp
        ? { deletionTimestamp: existing.metadata.deletionTimestamp, deletionGracePeriodSeconds: existing.metadata.deletionGracePeriodSeconds }
        : {}),
      resourceVersion: existing.metadata.resourceVersion,
    };
    if (!existing.metadata.deletionTimestamp) {
      delete next.metadata.deletionTimestamp;
      delete next.metadata.deletionGracePeriodSeconds;
    }
    if (info.tracksGeneration) {
      const gen = existing.metadata.generation ?? 1;
      next.metadata.generation = specPart(next) !== specPart(existing) ? gen + 1 : gen;
    }
    if (opts.subresource !== 'status') this.applyDefaults(info, next);
    if (withoutVolatileMeta(next) === withoutVolatileMeta(existing)) return existing; // no-op: no new version, no event

    if (existing.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      return this.remove(info, ref, key, next);
    }
    const rv = ++this.rv;
    next.metadata.resourceVersion = String(rv);
    deepFreeze(next);
    this.bucket(ref).set(key, next);
    this.afterWrite(info, next);
    this.emit(info, rv, 'MODIFIED', next, existing);
    return next;
  }

  /**
   * Deletes at once, or — when finalizers remain (or Foreground/Orphan propagation adds one) —
   * marks the object with a deletionTimestamp and leaves it to whoever owns the finalizers.
   */
  delete(
    ref: ResourceRef,
    namespace: string | undefined,
    name: string,
    opts: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; preconditions?: { uid?: string; resourceVersion?: string } } = {},
  ): KubeObject | undefined {
    const info = this.info(ref);
    const key = this.key(info, namespace, name);
    const existing = this.bucket(ref).get(key);
    if (!existing) throw notFound(info.storage.group, info.resource, name);
    if (opts.preconditions?.uid && opts.preconditions.uid !== existing.metadata.uid) {
      throw new ApiError(409, 'Conflict', `Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${existing.metadata.uid}`);
    }
    if (opts.preconditions?.resourceVersion && opts.preconditions.resourceVersion !== existing.metadata.resourceVersion) {
      throw conflict(info.storage.group, info.resource, name);
    }
    if (info.storage.group === '' && info.resource === 'namespaces') return this.terminateNamespace(existing);

    const finalizers = [...(existing.metadata.finalizers ?? [])];
    if (opts.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (opts.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (finalizers.length === 0) return this.remove(info, ref, key, existing);
    if (existing.metadata.deletionTimestamp && finalizers.length === (existing.metadata.finalizers ?? []).length) return existing;
    const rv = ++this.rv;
    const marked: KubeObject = deepFreeze({
      ...existing,
      metadata: {
        ...existing.metadata,
        finalizers,
        deletionTimestamp: existing.metadata.deletionTimestamp ?? rfc3339(),
        deletionGracePeriodSeconds: 0,
        resourceVersion: String(rv),
      },
    });
    this.bucket(ref).set(key, marked);
    this.emit(info, rv, 'MODIFIED', marked, existing);
    return marked;
  }

  /**
   * Calls `listener` for every later change of the resource (optionally one namespace). With a
   * resourceVersion, first replays what happened after it; one older than the kept history
   * throws 410 Expired, as etcd compaction does. Returns the unsubscribe function.
   */
  watch(ref: ResourceRef, namespace: string | undefined, sinceResourceVersion: string | undefined, listener: WatchListener): () => void {
    const info = this.info(ref);
    const storage = this.storageKey(info);
    if (sinceResourceVersion !== undefined && sinceResourceVersion !== '' && sinceResourceVersion !== '0') {
      const since = Number(sinceResourceVersion);
      if (!Number.isInteger(since) || since < 0) throw badRequest(`invalid resource version: ${sinceResourceVersion}`);
      if (since < this.horizon) throw gone(`too old resource version: ${since} (${this.rv})`);
      for (const e of this.history) {
        if (e.rv > since && e.storage === storage && (!namespace || e.namespace === namespace)) listener(e.type, e.obj, e.previous);
      }
    }
    const w: Watcher = { storage, namespace, listener };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  /** Forgets all watch history, as an etcd compaction would: older resumes get 410. */
  compact(): void {
    this.history.length = 0;
    this.horizon = this.rv;
  }

  private remove(info: ResourceInfo, ref: ResourceRef, key: string, last: KubeObject): KubeObject {
    const rv = ++this.rv;
    const gone: KubeObject = deepFreeze({ ...last, metadata: { ...last.metadata, resourceVersion: String(rv) } });
    this.bucket(ref).delete(key);
    if (this.storageKey(info) === CRD_STORAGE) this.kinds.setCrd(last.metadata.name!, undefined);
    this.emit(info, rv, 'DELETED', gone, last);
    const ns = last.metadata.namespace;
    if (ns && this.terminating.has(ns)) setImmediate(() => this.finishNamespace(ns));
    return gone;
  }

  private terminateNamespace(ns: KubeObject): KubeObject {
    const name = ns.metadata.name!;
    if (!this.terminating.has(name)) {
      this.terminating.add(name);
      const rv = ++this.rv;
      const marked: KubeObject = deepFreeze({
        ...ns,
        metadata: { ...ns.metadata, deletionTimestamp: rfc3339(), resourceVersion: String(rv) },
        status: { phase: 'Terminating' },
      });
      this.bucket(NAMESPACES).set(name, marked);
      this.emit(this.info(NAMESPACES), rv, 'MODIFIED', marked, ns);
      // Contents go first, then the namespace itself (the namespace controller's job).
      setImmediate(() => this.finishNamespace(name));
      return marked;
    }
    return ns;
  }

  private finishNamespace(name: string): void {
    if (!this.terminating.has(name)) return;
    const storages = new Map<string, ResourceRef>();
    for (const info of this.kinds.all()) if (info.namespaced) storages.set(this.storageKey(info), info.storage);
    for (const ref of storages.values()) {
      for (const obj of this.list(ref, name).items) {
        if (obj.metadata.deletionTimestamp) continue;
        try {
          this.delete(ref, name, obj.metadata.name!);
        } catch {
          // gone already
        }
      }
    }
    const ns = this.bucket(NAMESPACES).get(name);
    const remaining = [...storages.values()].some((ref) => this.list(ref, name).items.length > 0);
    if (ns && !remaining) {
      this.terminating.delete(name);
      this.remove(this.info(NAMESPACES), NAMESPACES, name, ns);
    }
  }

  private applyDefaults(info: ResourceInfo, obj: KubeObject): void {
    const storage = this.storageKey(info);
    if (storage === '/namespaces') {
      obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name! };
      obj.spec = { finalizers: ['kubernetes'], ...((obj.spec as object) ?? {}) };
      if (!obj.status) obj.status = { phase: 'Active' };
    } else if (storage === CRD_STORAGE && !obj.status) {
      const spec = obj.spec as { names?: unknown };
      const now = rfc3339();
      obj.status = {
        acceptedNames: spec.names ?? {},
        storedVersions: ((obj.spec as { versions?: { name: string; storage?: boolean }[] }).versions ?? []).filter((v) => v.storage).map((v) => v.name),
        conditions: [
          { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: now },
          { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: now },
        ],
      };
    }
  }

  private afterWrite(info: ResourceInfo, obj: KubeObject): void {
    if (this.storageKey(info) === CRD_STORAGE) this.kinds.setCrd(obj.metadata.name!, obj);
  }

  private emit(info: ResourceInfo, rv: number, type: WatchEventType, obj: KubeObject, previous: KubeObject | undefined): void {
    const storage = this.storageKey(info);
    const namespace = obj.metadata.namespace;
    this.history.push({ rv, storage, namespace, type, obj, previous });
    if (this.history.length > this.historySize) {
      const dropped = this.history.shift()!;
      this.horizon = dropped.rv;
    }
    for (const w of this.watchers) {
      if (w.storage !== storage || (w.namespace && w.namespace !== namespace)) continue;
      try {
        w.listener(type, obj, previous);
      } catch {
        // A failing watcher must not break the write or other watchers.
      }
    }
  }

  private storageKey(info: ResourceInfo): string {
    return `${info.storage.group}/${info.storage.resource}`;
  }

  private key(info: ResourceInfo, namespace: string | undefined, name: string): string {
    return info.namespaced ? `${namespace || 'default'}/${name}` : name;
  }

  private bucket(ref: ResourceRef): Map<string, KubeObject> {
    const k = `${ref.group}/${ref.resource}`;
    let b = this.objects.get(k);
    if (!b) this.objects.set(k, (b = new Map()));
    return b;
  }
}
