import type { Logger } from '../../common/log.js';
import { Informer, objectKey } from '../../kube/informer.js';
import { KubeApiError, type KObject, type KubeRest } from '../../kube/rest.js';
import { estimateCapacity } from '../capacity.js';
import { clusterMatches, parseClusterSelector } from '../cluster-selector.js';
import { collectionPath, objectPath, type FederatedKind } from '../kinds.js';
import { plan } from '../planner/plan.js';
import { DEFAULT_PREFERENCES, parsePreferences } from '../planner/preferences.js';
import type { ClusterRegistry, Member } from '../registry/registry.js';
import {
  ADOPT_ANNOTATION,
  CLUSTER_SELECTOR_ANNOTATION,
  desiredMemberObject,
  FINALIZER,
  isManaged,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  needsUpdate,
  ORPHAN_ANNOTATION,
  updatedMemberObject,
} from '../sync/desired.js';
import { aggregateLoadBalancer, aggregateReplicaStatus, ingressStatus } from '../sync/status.js';
import { recordEvent } from './events.js';
import { WorkQueue } from './queue.js';

export interface SyncOptions {
  federation: KubeRest;
  registry: ClusterRegistry;
  globalVIP?: string;
  resyncMs: number;
  workers: number;
  memberTimeoutMs: number;
  /** Pods Unschedulable this long make a member's capacity known to the planner (v1: 60 s). */
  unschedulableAfterMs: number;
  logger: Logger;
  metrics?: SyncMetrics;
}

export interface SyncMetrics {
  reconciled(kind: string, result: 'ok' | 'error'): void;
  propagated(kind: string, cluster: string, op: 'create' | 'update' | 'delete', latencySeconds?: number): void;
  drift(kind: string, cluster: string): void;
  queueDepth(kind: string, depth: number): void;
}

const SYSTEM_NAMESPACE = /^kube-/;
const FEDERATION_NAMESPACE = 'federation-system';

/** What the federation asked for: generation where the kind tracks it, else the resourceVersion. */
function fedVersion(fed: KObject): string {
  return fed.metadata.generation !== undefined ? `g${fed.metadata.generation}` : `rv${fed.metadata.resourceVersion}`;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/**
 * The `Propagated` condition on a federated object's status (kinds whose status has conditions):
 * False with the reasons (conflicts, bad annotations) while something keeps it from every cluster.
 */
function propagatedCondition(problems: readonly { reason: string; message: string }[], previous: readonly Condition[] | undefined): Condition[] {
  const others = (previous ?? []).filter((c) => c.type !== 'Propagated');
  const old = (previous ?? []).find((c) => c.type === 'Propagated');
  const status = problems.length ? 'False' : 'True';
  const reason = problems.length ? [...new Set(problems.map((p) => p.reason))].join(',') : 'Propagated';
  const message = problems.length ? problems.map((p) => p.message).join('; ') : 'in sync with every selected Ready cluster';
  const lastTransitionTime = old && old.status === status ? old.lastTransitionTime : new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return [...others, { type: 'Propagated', status, reason, message, lastTransitionTime }];
}

/** One member's failure inside a reconcile: the others went ahead; the key is retried. */
class PartialFailure extends Error {}

/**
 * Keeps one kind in sync: federation informer → deduplicating queue → reconcile(key), which makes
 * every Ready, selected member hold the desired copy (created, repaired on drift, deleted when
 * deselected or when the federated object goes), schedules replicas, and writes status back.
 * Members are written concurrently with a deadline each, so a slow member delays nobody else.
 */
export class KindSyncController {
  private readonly informer: Informer;
  readonly queue: WorkQueue;
  private resyncTimer?: NodeJS.Timeout;
  /** Per member and key, the federated version last made true there: a later difference is drift. */
  private readonly synced = new Map<string, string>();
  /** Conditions already reported, so a standing problem is evented once, not on every resync. */
  private readonly reported = new Map<string, string>();

  constructor(
    readonly kind: FederatedKind,
    private readonly opts: SyncOptions,
  ) {
    this.informer = new Informer(opts.federation, collectionPath(kind));
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: opts.workers, baseDelayMs: 100, maxDelayMs: 30_000 }, (key, err, attempt) => {
      opts.metrics?.reconciled(kind.kind, 'error');
      // A conflict only means our cache was a step behind: retried at once, not worth a warning.
      const conflict = err instanceof KubeApiError && err.status === 409;
      opts.logger[conflict ? 'debug' : 'warn']({ kind: kind.kind, key, attempt, err: String(err) }, 'reconcile failed; retrying with back-off');
    });
    this.informer.on((event, obj) => {
      if (event !== 'delete') this.queue.add(objectKey(obj));
    });
  }

  start(): void {
    this.informer.start();
    this.resyncTimer = setInterval(() => this.enqueueAll(), this.opts.resyncMs);
    this.resyncTimer.unref();
  }

  stop(): void {
    clearInterval(this.resyncTimer);
    this.informer.stop();
    for (const m of this.memberInformers.values()) m.informer.stop();
    this.memberInformers.clear();
    this.queue.stop();
  }

  private readonly memberInformers = new Map<string, { client: KubeRest; informer: Informer }>();

  /**
   * Watches the copies this controller manages in one member, so a change behind the
   * federation's back (drift, deletion) is repaired at once instead of at the next resync.
   */
  watchMember(member: Member): void {
    const existing = this.memberInformers.get(member.name);
    if (existing?.client === member.client) return;
    existing?.informer.stop();
    const informer = new Informer(member.client, collectionPath(this.kind), { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` }).on((event, obj) => {
      if (event !== 'add' && this.informer.get(objectKey(obj))) this.queue.add(objectKey(obj));
    });
    this.memberInformers.set(member.name, { client: member.client, informer });
    informer.start();
  }

  unwatchMember(name: string): void {
    this.memberInformers.get(name)?.informer.stop();
    this.memberInformers.delete(name);
  }

  enqueueAll(): void {
    for (const o of this.informer.list()) this.queue.add(objectKey(o));
    this.opts.metrics?.queueDepth(this.kind.kind, this.queue.depth);
  }

  /**
   * A member came (back): remove copies we manage there whose federated object is gone — the
   * deletions it missed while offline.
   */
  async sweep(member: Member): Promise<void> {
    const list = await member.client.get<{ items: KObject[] }>(collectionPath(this.kind), {
      query: { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` },
      timeoutMs: this.opts.memberTimeoutMs,
    });
    for (const copy of list.items) {
      const key = objectKey(copy);
      const fed = this.informer.get(key);
      if (!fed || (fed.metadata.deletionTimestamp && !this.orphaning(fed))) {
        await this.deleteIn(member, copy).catch(() => {});
      }
    }
  }

  private orphaning(fed: KObject): boolean {
    return fed.metadata.annotations?.[ORPHAN_ANNOTATION] === 'true' || (fed.metadata.finalizers ?? []).includes('orphan');
  }

  /** Problems found in the current reconcile of each key, for the object's Propagated condition. */
  private readonly problems = new Map<string, { reason: string; message: string }[]>();

  private async reconcile(key: string): Promise<void> {
    const fed = this.informer.get(key);
    if (!fed) return;
    this.problems.set(key, []);
    const ns = fed.metadata.namespace;
    if ((ns && (SYSTEM_NAMESPACE.test(ns) || ns === FEDERATION_NAMESPACE)) || (this.kind.kind === 'Namespace' && (SYSTEM_NAMESPACE.test(fed.metadata.name) || fed.metadata.name === FEDERATION_NAMESPACE))) return;
    if (fed.metadata.deletionTimestamp) return this.finalize(fed);
    if (!(fed.metadata.finalizers ?? []).includes(FINALIZER)) {
      await this.opts.federation.call('PUT', objectPath(this.kind, ns, fed.metadata.name), { body: { ...fed, metadata: { ...fed.metadata, finalizers: [...(fed.metadata.finalizers ?? []), FINALIZER] } } });
      return; // the update comes back through the informer
    }

    const ready = this.opts.registry.ready();
    const selector = parseClusterSelector(fed.metadata.annotations?.[CLUSTER_SELECTOR_ANNOTATION]);
    if (!selector.ok) await this.report(fed, 'InvalidClusterSelector', `${CLUSTER_SELECTOR_ANNOTATION}: ${selector.error}; no cluster is selected until it is fixed`);
    const targets = selector.ok ? ready.filter((m) => clusterMatches(selector.requirements, m.labels)) : [];
    const others = ready.filter((m) => !targets.includes(m));

    // Current member copies, read concurrently with a deadline each.
    const copies = new Map<string, KObject | undefined>();
    const failures: string[] = [];
    await Promise.all(
      ready.map(async (m) => {
        try {
          copies.set(m.name, await m.client.find(objectPath(this.kind, ns, fed.metadata.name), { timeoutMs: this.opts.memberTimeoutMs }));
        } catch (err) {
          failures.push(`${m.name}: ${String(err)}`);
        }
      }),
    );

    const replicasFor = await this.replicaPlan(fed, targets.filter((m) => copies.has(m.name)), copies);
    await Promise.all(
      targets
        .filter((m) => copies.has(m.name))
        .map(async (m) => {
          try {
            await this.ensureIn(m, fed, copies.get(m.name), replicasFor?.[m.name]);
          } catch (err) {
            failures.push(`${m.name}: ${String(err)}`);
          }
        }),
    );
    await Promise.all(
      others
        .filter((m) => copies.get(m.name) && isManaged(copies.get(m.name)!))
        .map((m) => this.deleteIn(m, copies.get(m.name)!).catch((err: unknown) => failures.push(`${m.name}: ${String(err)}`))),
    );

    await this.writeStatus(fed, targets, copies);
    this.opts.metrics?.reconciled(this.kind.kind, failures.length ? 'error' : 'ok');
    if (failures.length) throw new PartialFailure(`${failures.length} member(s) failed: ${failures.join('; ')}`);
  }

  /** Per-cluster replicas for scheduled kinds (undefined for others). */
  private async replicaPlan(fed: KObject, targets: Member[], copies: Map<string, KObject | undefined>): Promise<Record<string, number> | undefined> {
    if (!this.kind.preferencesAnnotation) return undefined;
    const annotation = fed.metadata.annotations?.[this.kind.preferencesAnnotation];
    let preferences = DEFAULT_PREFERENCES;
    if (annotation !== undefined) {
      const parsed = parsePreferences(annotation);
      if (parsed.ok) {
        preferences = parsed.preferences;
        const known = new Set(this.opts.registry.all().map((m) => m.name));
        const unknown = Object.keys(preferences.clusters).filter((c) => c !== '*' && !known.has(c));
        if (unknown.length) {
          await this.report(fed, 'UnknownCluster', `${this.kind.preferencesAnnotation} names cluster(s) the federation does not have: ${unknown.join(', ')}; they get no replicas`);
        }
      } else await this.report(fed, 'InvalidPreferences', `${this.kind.preferencesAnnotation}: ${parsed.error}; replicas are spread evenly until it is fixed`);
    }
    const current: Record<string, number> = {};
    const estimatedCapacity: Record<string, number> = {};
    const selector = ((fed.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels ?? {}) as Record<string, string>;
    const labelSelector = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',');
    await Promise.all(
      targets.map(async (m) => {
        const c = copies.get(m.name);
        if (!c) return;
        const replicas = (c.spec as { replicas?: number }).replicas ?? 0;
        current[m.name] = replicas;
        if (!labelSelector) return;
        try {
          const pods = await m.client.get<{ items: KObject[] }>(`/api/v1/namespaces/${fed.metadata.namespace}/pods`, { query: { labelSelector }, timeoutMs: this.opts.memberTimeoutMs });
          const estimate = estimateCapacity(replicas, pods.items as never, Date.now(), this.opts.unschedulableAfterMs);
          if (estimate.capacity !== undefined) estimatedCapacity[m.name] = estimate.capacity;
          if (estimate.recheckInMs !== undefined) this.queue.addAfter(objectKey(fed), estimate.recheckInMs + 50);
        } catch {
          // without pod information the cluster's capacity stays unknown
        }
      }),
    );
    const replicas = ((fed.spec as { replicas?: number }).replicas ?? 1);
    const { plan: p, overflow } = plan({ preferences, replicas, clusters: targets.map((m) => m.name), current, estimatedCapacity, key: `${fed.metadata.namespace ?? ''}/${fed.metadata.name}` });
    return Object.fromEntries(Object.entries(p).map(([c, n]) => [c, n + (overflow[c] ?? 0)]));
  }

  private async ensureIn(m: Member, fed: KObject, copy: KObject | undefined, replicas: number | undefined): Promise<void> {
    const ns = fed.metadata.namespace;
    const desired = desiredMemberObject(this.kind, fed, copy, replicas);
    const t = { timeoutMs: this.opts.memberTimeoutMs };
    const syncedKey = `${m.name}|${objectKey(fed)}`;
    if (!copy) {
      const started = Date.now();
      await m.client.call('POST', collectionPath(this.kind, ns), { body: desired, ...t });
      this.synced.set(syncedKey, fedVersion(fed));
      this.opts.metrics?.propagated(this.kind.kind, m.name, 'create', (started - Date.parse(fed.metadata.creationTimestamp ?? new Date(started).toISOString())) / 1000);
    } else if (!isManaged(copy) && this.kind.kind !== 'Namespace' && fed.metadata.annotations?.[ADOPT_ANNOTATION] !== 'true') {
      // Namespaces are containers every cluster may already have (default): they are adopted.
      // Anything else that exists and is not ours is left alone until adoption is asked for.
      await this.report(
        fed,
        'ConflictResolution',
        `${this.kind.kind} ${objectKey(copy)} already exists in cluster ${m.name} and is not managed by the federation; it is left alone (annotate the federated object with ${ADOPT_ANNOTATION}="true" to adopt it)`,
        m.name,
      );
      return;
    } else if (needsUpdate(this.kind, desired, copy)) {
      if (isManaged(copy) && this.synced.get(`${m.name}|${objectKey(fed)}`) === fedVersion(fed)) {
        // The member changed and the federated object did not: that is drift, not propagation.
        this.opts.metrics?.drift(this.kind.kind, m.name);
        void recordEvent(this.opts.federation, { ...fed, apiVersion: fed.apiVersion ?? this.kind.apiVersion, kind: this.kind.kind }, 'Normal', 'DriftRepaired', `${this.kind.kind} ${objectKey(copy)} was changed in cluster ${m.name}; restored from the federation`);
      }
      await m.client.call('PUT', objectPath(this.kind, ns, fed.metadata.name), { body: updatedMemberObject(desired, copy), ...t });
      this.opts.metrics?.propagated(this.kind.kind, m.name, 'update');
      this.synced.set(syncedKey, fedVersion(fed));
    } else if (isManaged(copy)) {
      this.synced.set(syncedKey, fedVersion(fed));
    }
    if (this.kind.kind === 'Ingress' && this.opts.globalVIP) {
      const latest = await m.client.get(objectPath(this.kind, ns, fed.metadata.name), t);
      const want = ingressStatus(this.opts.globalVIP);
      if (JSON.stringify(latest.status ?? {}) !== JSON.stringify(want)) {
        await m.client.call('PUT', `${objectPath(this.kind, ns, fed.metadata.name)}/status`, { body: { ...latest, status: want }, ...t });
      }
    }
  }

  private async deleteIn(m: Member, copy: KObject): Promise<void> {
    try {
      await m.client.call('DELETE', objectPath(this.kind, copy.metadata.namespace, copy.metadata.name), { body: { propagationPolicy: 'Background' }, timeoutMs: this.opts.memberTimeoutMs });
      this.opts.metrics?.propagated(this.kind.kind, m.name, 'delete');
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }

  /** Cascading deletion (unless orphaning), then release the federated object. */
  private async finalize(fed: KObject): Promise<void> {
    if (!(fed.metadata.finalizers ?? []).includes(FINALIZER)) return;
    const failures: string[] = [];
    const orphan = this.orphaning(fed);
    await Promise.all(
      this.opts.registry.ready().map(async (m) => {
        try {
          const copy = await m.client.find(objectPath(this.kind, fed.metadata.namespace, fed.metadata.name), { timeoutMs: this.opts.memberTimeoutMs });
          if (!copy || !isManaged(copy)) return;
          if (orphan) {
            // Orphaned copies stay and are no longer ours.
            const labels = { ...(copy.metadata.labels ?? {}) };
            delete labels[MANAGED_BY_LABEL];
            await m.client.call('PUT', objectPath(this.kind, copy.metadata.namespace, copy.metadata.name), { body: { ...copy, metadata: { ...copy.metadata, labels } }, timeoutMs: this.opts.memberTimeoutMs });
          } else await this.deleteIn(m, copy);
        } catch (err) {
          failures.push(`${m.name}: ${String(err)}`);
        }
      }),
    );
    if (failures.length) throw new PartialFailure(`deletion incomplete: ${failures.join('; ')}`);
    const finalizers = (fed.metadata.finalizers ?? []).filter((f) => f !== FINALIZER && !(orphan && f === 'orphan'));
    await this.opts.federation.call('PUT', objectPath(this.kind, fed.metadata.namespace, fed.metadata.name), { body: { ...fed, metadata: { ...fed.metadata, finalizers } } });
  }

  private async writeStatus(fed: KObject, targets: Member[], copies: Map<string, KObject | undefined>): Promise<void> {
    if (!this.kind.hasStatus) return;
    const members = targets.map((m) => copies.get(m.name)).filter((c): c is KObject => !!c && isManaged(c));
    let status: unknown;
    const conditions = propagatedCondition(this.problems.get(objectKey(fed)) ?? [], (fed.status as { conditions?: Condition[] } | undefined)?.conditions);
    if (this.kind.preferencesAnnotation) status = { ...((fed.status as object) ?? {}), ...aggregateReplicaStatus(fed, members), conditions };
    else if (this.kind.kind === 'Service') status = { ...((fed.status as object) ?? {}), loadBalancer: aggregateLoadBalancer(members), conditions };
    else if (this.kind.kind === 'Ingress') status = ingressStatus(this.opts.globalVIP);
    else return;
    if (JSON.stringify(status) === JSON.stringify(fed.status ?? {})) return;
    try {
      await this.opts.federation.call('PUT', `${objectPath(this.kind, fed.metadata.namespace, fed.metadata.name)}/status`, { body: { ...fed, status } });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      this.queue.addAfter(objectKey(fed), 100); // the informer was behind; try again shortly
    }
  }

  private async report(fed: KObject, reason: string, message: string, scope = ''): Promise<void> {
    this.problems.get(objectKey(fed))?.push({ reason, message });
    const key = `${objectKey(fed)}|${reason}|${scope}`;
    if (this.reported.get(key) === message) return;
    this.reported.set(key, message);
    this.opts.logger.warn({ kind: this.kind.kind, key: objectKey(fed), reason }, message);
    await recordEvent(this.opts.federation, { ...fed, apiVersion: fed.apiVersion ?? this.kind.apiVersion, kind: this.kind.kind }, 'Warning', reason, message);
  }
}
