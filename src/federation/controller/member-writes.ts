import { KubeApiError, type KObject, type KubeRest } from '../../kube/rest.js';
import { collectionPath, objectPath, type FederatedKind } from '../kinds.js';
import { MANAGED_BY_LABEL, needsUpdate, updatedMemberObject } from '../sync/desired.js';

/**
 * The controller's writes to one member, each acknowledged object returned so the caller can lay
 * it over its cache. Conflicts are the rare case where the cache cannot answer: the object is
 * read once from the server and the write decided again.
 */
export class MemberWrites {
  constructor(
    private readonly client: KubeRest,
    private readonly kind: FederatedKind,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Creates the copy. When the server says it exists already (ours, not yet in the cache; or
   * someone else's) returns what is there instead, for the caller to compare.
   */
  async create(desired: KObject): Promise<{ created: KObject } | { existing: KObject }> {
    try {
      return { created: await this.client.call<KObject>('POST', collectionPath(this.kind, desired.metadata.namespace), { body: desired, timeoutMs: this.timeoutMs }) };
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      const existing = await this.read(desired.metadata.namespace, desired.metadata.name);
      if (!existing) throw err; // deleted in between: the queue retries the create
      return { existing };
    }
  }

  /**
   * Writes the desired content over the copy. On a conflict (our view was behind) reads the copy
   * and writes again if it still differs; returns the copy as the server holds it, or undefined
   * when the member has no copy any more (deleted behind the cache's back): the caller creates it.
   */
  async update(desired: KObject, copy: KObject): Promise<KObject | undefined> {
    try {
      return await this.putUnlessGone(updatedMemberObject(desired, copy));
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      const fresh = await this.read(copy.metadata.namespace, copy.metadata.name);
      if (!fresh) return undefined;
      return needsUpdate(this.kind, desired, fresh) ? this.putUnlessGone(updatedMemberObject(desired, fresh)) : fresh;
    }
  }

  /**
   * Releases an orphaned copy: it stays in the member but is no longer the federation's. Read
   * from the server first (once per orphaning) because the cache drops annotations the copy
   * keeps, such as one a user's own `kubectl apply` left there.
   */
  async release(copy: KObject): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const fresh = await this.read(copy.metadata.namespace, copy.metadata.name);
      if (!fresh?.metadata.labels?.[MANAGED_BY_LABEL]) return;
      const labels = { ...fresh.metadata.labels };
      delete labels[MANAGED_BY_LABEL];
      try {
        await this.put({ ...fresh, metadata: { ...fresh.metadata, labels } });
        return;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      }
    }
    throw new Error(`${this.kind.kind} ${copy.metadata.name}: kept changing while being released; retrying`);
  }

  /** Deletes the copy (its dependents in the background); gone already counts as done. */
  async delete(copy: KObject): Promise<void> {
    try {
      await this.client.call('DELETE', objectPath(this.kind, copy.metadata.namespace, copy.metadata.name), { body: { propagationPolicy: 'Background' }, timeoutMs: this.timeoutMs });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Sets the copy's status subresource (an Ingress's global VIP); undefined when the copy is gone. */
  async writeStatus(copy: KObject, status: unknown): Promise<KObject | undefined> {
    try {
      return await this.client.call<KObject>('PUT', `${objectPath(this.kind, copy.metadata.namespace, copy.metadata.name)}/status`, { body: { ...copy, status }, timeoutMs: this.timeoutMs });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** One GET, for what a cache cannot answer. */
  read(namespace: string | undefined, name: string): Promise<KObject | undefined> {
    return this.client.find<KObject>(objectPath(this.kind, namespace, name), { timeoutMs: this.timeoutMs });
  }

  /** A PUT of a copy; undefined when the member has no such object (a PUT never creates one). */
  private async putUnlessGone(obj: KObject): Promise<KObject | undefined> {
    try {
      return await this.put(obj);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private put(obj: KObject): Promise<KObject> {
    return this.client.call<KObject>('PUT', objectPath(this.kind, obj.metadata.namespace, obj.metadata.name), { body: obj, timeoutMs: this.timeoutMs });
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}
