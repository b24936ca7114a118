import { R, informOn, type Obj, type Ref, type StorePort } from './store-port.js';
import { WorkLoop } from './work.js';

/** Kinds that own others in the sandbox, and where their dependents live. */
const OWNERS: { ref: Ref; dependents: Ref[] }[] = [
  { ref: R.deployments, dependents: [R.replicaSets] },
  { ref: R.replicaSets, dependents: [R.pods] },
  { ref: R.services, dependents: [R.endpointSlices] },
];

const FOREGROUND = 'foregroundDeletion';
const ORPHAN = 'orphan';

/**
 * The garbage collector for ownerReferences: Background deletion removes dependents once the
 * owner is gone; Foreground (`foregroundDeletion` finalizer) removes them first and then
 * releases the owner; Orphan (`orphan` finalizer) strips the owner reference and releases it.
 */
export function startGarbageCollector(store: StorePort, onError?: (n: string, k: string, e: unknown) => void): () => void {
  const stops: (() => void)[] = [];
  for (const owner of OWNERS) {
    const loop = new WorkLoop(`gc:${owner.ref.resource}`, (key) => handle(owner, key), onError);
    const pendingGone = new Map<string, Obj>();
    stops.push(() => loop.stop());
    stops.push(
      informOn(store, owner.ref, (type, obj) => {
        if (type === 'DELETED') {
          pendingGone.set(obj.metadata.uid!, obj);
          loop.add(`gone:${obj.metadata.uid}`);
        } else if (obj.metadata.deletionTimestamp) {
          loop.add(`finalize:${obj.metadata.namespace ?? ''}/${obj.metadata.name}`);
        }
      }),
    );

    function handle(o: (typeof OWNERS)[number], key: string): void {
      if (key.startsWith('gone:')) {
        const gone = pendingGone.get(key.slice(5));
        pendingGone.delete(key.slice(5));
        if (gone) for (const dep of dependentsOf(o, gone)) deleteQuietly(dep.ref, dep.obj, 'Background');
        return;
      }
      const [ns, name] = key.slice('finalize:'.length).split('/') as [string, string];
      const obj = store.get(o.ref, ns || undefined, name);
      if (!obj?.metadata.deletionTimestamp) return;
      const finalizers = obj.metadata.finalizers ?? [];
      if (finalizers.includes(ORPHAN)) {
        for (const dep of dependentsOf(o, obj)) {
          const refs = (dep.obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== obj.metadata.uid);
          store.update(dep.ref, { ...dep.obj, metadata: { ...dep.obj.metadata, ownerReferences: refs } });
        }
        removeFinalizer(o.ref, obj, ORPHAN);
      } else if (finalizers.includes(FOREGROUND)) {
        const deps = dependentsOf(o, obj);
        if (deps.length === 0) removeFinalizer(o.ref, obj, FOREGROUND);
        else {
          for (const dep of deps) if (!dep.obj.metadata.deletionTimestamp) deleteQuietly(dep.ref, dep.obj, 'Foreground');
          loop.addAfter(key, 50);
        }
      }
    }
  }

  function dependentsOf(o: (typeof OWNERS)[number], owner: Obj): { ref: Ref; obj: Obj }[] {
    const out: { ref: Ref; obj: Obj }[] = [];
    for (const ref of o.dependents) {
      for (const obj of store.list(ref, owner.metadata.namespace).items) {
        if (obj.metadata.ownerReferences?.some((r) => r.uid === owner.metadata.uid)) out.push({ ref, obj });
      }
    }
    return out;
  }

  function removeFinalizer(ref: Ref, obj: Obj, finalizer: string): void {
    const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    store.update(ref, { ...obj, metadata: { ...obj.metadata, finalizers } });
  }

  function deleteQuietly(ref: Ref, obj: Obj, propagationPolicy: 'Background' | 'Foreground'): void {
    try {
      store.delete(ref, obj.metadata.namespace, obj.metadata.name!, { propagationPolicy });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  return () => stops.forEach((s) => s());
}
