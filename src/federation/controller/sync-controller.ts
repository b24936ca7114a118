import type { Logger } from '../../common/log.js';
import { Informer, objectKey, stripForCache, type InformerEvent } from '../../kube/informer.js';
import { KubeApiError, type KObject, type KubeRest } from '../../kube/rest.js';
import { estimateCapacity } from '../capacity.js';
import { collectionPath, type FederatedKind } from '../kinds.js';
import { filterClusters, placeFiltered, placementAnnotations, type Placement, type ScheduleInput } from '../placement.js';
import { DEFAULT_PREFERENCES, parsePreferences } from '../planner/preferences.js';
import type { ClusterRegistry, Member } from '../registry/registry.js';
import { ADOPT_ANNOTATION, CLUSTER_SELECTOR_ANNOTATION, desiredMemberObject, FINALIZER, isManaged, memberMetadataDigest, needsUpdate, ORPHAN_ANNOTATION, PLACEMENT_PREFIX } from '../sync/desired.js';
import { ingressStatus } from '../sync/status.js';
import type { CacheReading } from './cache-sync.js';
import { recordEvent } from './events.js';
import { federatedStatus, recordPlacement, setFinalizers, writeFederatedStatus } from './federated-writes.js';
import { MemberCopies } from './member-copies.js';
import { MemberWrites } from './member-writes.js';
import { ProblemLedger, type Problem, type RepeatPolicy } from './problems.js';
import { WorkQueue } from './queue.js';
import type { MemberWriteLimiter } from './write-limiter.js';

export interface SyncOptions {
  federation: KubeRest;
  registry: ClusterRegistry;
  globalVIP?: string;
  resyncMs: number;
  workers: number;
  memberTimeoutMs: number;
  /** Pods Unschedulable this long make a member's capacity known to the planner (v1: 60 s). */
  unschedulableAfterMs: number;
  /** Shared by every kind: writes per member per second. */
  writeLimiter: MemberWriteLimiter;
  /** When a standing problem is evented again. */
  eventRepeat?: RepeatPolicy;
  logger: Logger;
  metrics?: SyncMetrics;
}

export interface SyncMetrics {
  reconciled(kind: string, result: 'ok' | 'error'): void;
  /** A member write acknowledged; `latencySeconds` from the controller's first sight of the change. */
  propagated(kind: string, cluster: string, op: 'create' | 'update' | 'delete', latencySeconds?: number): void;
  drift(kind: string, cluster: string): void;
  throttled(kind: string, cluster: string): void;
}

const SYSTEM_NAMESPACE = /^kube-/;
const FEDERATION_NAMESPACE = 'federation-system';

/**
 * What the federation asked for: where the kind tracks a generation, it and the labels and
 * annotations members get (a `kubectl annotate` moves no generation, and is no drift in the
 * members); else the resourceVersion.
 */
function fedVersion(fed: KObject): string {
  return fed.metadata.generation !== undefined ? `g${fed.metadata.generation}/${memberMetadataDigest(fed)}` : `rv${fed.metadata.resourceVersion}`;
}

/**
 * What a managed copy was compared against: equal signatures mean an equal outcome. Undefined
 * when either object has no resourceVersion, so nothing is skipped on a guess.
 */
function checkedSignature(fed: KObject, copy: KObject, replicas: number | undefined): string | undefined {
  const fedRV = fed.metadata.resourceVersion;
  const copyRV = copy.metadata.resourceVersion;
  return fedRV && copyRV ? `${fedRV}/${copyRV}/${replicas ?? ''}` : undefined;
}

function rfc3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One member's failure inside a reconcile: the others went ahead; the key is retried. */
class PartialFailure extends Error {}

/** What one reconcile of one key gathers on its way. */
interface Round {
  key: string;
  problems: Problem[];
  failures: string[];
  /** The soonest a throttled write may go (ms); the key comes back then. */
  deferMs?: number;
}

/**
 * Keeps one kind in sync: federation informer → deduplicating queue → reconcile(key), which makes
 * every Ready, selected member hold the desired copy (created, repaired on drift, deleted when
 * deselected or when the federated object goes), schedules replicas, and writes status and
 * placement back.
 *
 * Reads come from informer caches — the federation's objects and, per member, the copies this
 * controller manages — so a reconcile with nothing to change sends nothing, and a resync costs
 * CPU, not API calls. Members are written concurrently with a deadline each and a shared
 * per-member rate limit, so a slow or throttled member delays nobody else.
 */
export class KindSyncController {
  private readonly informer: Informer;
  readonly queue: WorkQueue;
  private resyncTimer?: NodeJS.Timeout;
  private readonly copies = new Map<string, MemberCopies>();
  private readonly ledger: ProblemLedger;
  /**
   * key → member → the federated version last made true there (a later difference is drift), and
   * what the copy was last found equal to: the federated resourceVersion, the copy's and the
   * planned replicas. While those stay the same a resync skips the comparison, the bulk of an idle
   * controller's work at 100 clusters × thousands of objects.
   */
  private readonly synced = new Map<string, Map<string, { fed: string; checked?: string }>>();
  /** key → when the controller first saw the change not yet everywhere (performance.now ms). */
  private readonly observed = new Map<string, { at: number; settled: boolean }>();

  constructor(
    readonly kind: FederatedKind,
    private readonly opts: SyncOptions,
  ) {
    this.ledger = new ProblemLedger(opts.eventRepeat);
    this.informer = new Informer(opts.federation, collectionPath(kind), { transform: stripForCache() });
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: opts.workers, baseDelayMs: 100, maxDelayMs: 30_000 }, (key, err, attempt) => {
      opts.metrics?.reconciled(kind.kind, 'error');
      // A conflict only means our cache was a step behind: retried at once, not worth a warning.
      const conflict = err instanceof KubeApiError && err.status === 409;
      opts.logger[conflict ? 'debug' : 'warn']({ kind: kind.kind, key, attempt, err: String(err) }, 'reconcile failed; retrying with back-off');
    });
    this.informer.on((event, obj, old) => this.onFederated(event, obj, old));
  }

  start(): void {
    this.informer.start();
    this.resyncTimer = setInterval(() => this.enqueueAll(), this.opts.resyncMs);
    this.resyncTimer.unref();
  }

  stop(): void {
    clearInterval(this.resyncTimer);
    this.informer.stop();
    for (const c of this.copies.values()) c.stop();
    this.copies.clear();
    this.queue.stop();
  }

  private onFederated(event: InformerEvent, obj: KObject, old: KObject | undefined): void {
    const key = objectKey(obj);
    if (event === 'delete') {
      // Everything kept per key goes with the object; copies left in members are found by
      // their own informers and removed by the reconcile this enqueues.
      this.synced.delete(key);
      this.observed.delete(key);
      this.ledger.forget(key);
      this.queue.add(key);
      return;
    }
    // System objects are never propagated: nothing to wait for (see oldestPendingSeconds).
    if ((!old || fedVersion(old) !== fedVersion(obj)) && !this.isSystem(obj)) {
      const seen = this.observed.get(key);
      // A change that lands before the last one reached everyone keeps the earlier start.
      if (!seen || seen.settled) this.observed.set(key, { at: performance.now(), settled: false });
    }
    this.queue.add(key);
  }

  /**
   * Caches the copies this controller manages in a member (come Ready), so reconciles read them
   * from memory and a change behind the federation's back (drift, deletion) is repaired at once.
   */
  watchMember(member: Member): void {
    const existing = this.copies.get(member.name);
    if (existing?.client === member.client) return;
    existing?.stop();
    const copies = new MemberCopies(
      member.client,
      collectionPath(this.kind),
      (event, copy) => {
        const key = objectKey(copy);
        if (this.informer.get(key)) {
          if (event !== 'add') this.queue.add(key);
        } else if (event !== 'delete' && this.informer.hasSynced()) this.queue.add(key); // a leftover to remove
      },
      // Reconciles leave a member out until its copies are listed; then it gets everything it
      // missed: creations, updates and deletions (copies whose federated object is gone).
      () => this.enqueueJoined(copies),
    );
    this.copies.set(member.name, copies);
    copies.start();
  }

  unwatchMember(name: string): void {
    this.copies.get(name)?.stop();
    this.copies.delete(name);
  }

  /** Queues every federated object and every copy left in a member: the periodic resync, and a member's (re)join. */
  enqueueAll(): void {
    for (const o of this.informer.list()) this.queue.add(objectKey(o));
    for (const c of this.copies.values()) {
      this.enqueueLeftovers(c);
      c.prune();
    }
    this.opts.writeLimiter.prune();
  }

  /** Each watched member's cache of this kind: listed or not, since when, its last error. */
  memberCaches(): CacheReading[] {
    const slash = this.kind.apiVersion.indexOf('/');
    const group = slash < 0 ? '' : this.kind.apiVersion.slice(0, slash);
    const readings: CacheReading[] = [];
    for (const [cluster, c] of this.copies) {
      const since = c.since();
      if (since === undefined) continue;
      readings.push({ cluster, kind: this.kind.kind, resource: this.kind.plural, group, synced: c.synced(), since, lastError: c.lastError() });
    }
    return readings;
  }

  /** Federated objects with a standing problem, by reason (for the metrics). */
  problemCounts(): Map<string, number> {
    return this.ledger.objectsByReason();
  }

  /**
   * How long the oldest federated change not yet in every Ready member has waited (seconds; 0
   * when none waits). Propagation latency is only observed when a write lands: this is what
   * shows a change that cannot land at all.
   */
  oldestPendingSeconds(now = performance.now()): number {
    let oldest = now;
    for (const seen of this.observed.values()) if (!seen.settled && seen.at < oldest) oldest = seen.at;
    return (now - oldest) / 1000;
  }

  /** Queues what a member whose copies were just listed needs: every federated object, and its leftovers. */
  private enqueueJoined(copies: MemberCopies): void {
    for (const o of this.informer.list()) this.queue.add(objectKey(o));
    this.enqueueLeftovers(copies);
  }

  /** Queues a member's copies whose federated object is gone (an unsynced federation cache proves nothing). */
  private enqueueLeftovers(copies: MemberCopies): void {
    if (this.informer.hasSynced()) for (const key of copies.keys()) if (!this.informer.get(key)) this.queue.add(key);
  }

  /** The per-key state this controller holds for `key` (tests: none once the object is gone). */
  heldState(key: string): string[] {
    const held: string[] = [];
    if (this.synced.has(key)) held.push('synced');
    if (this.observed.has(key)) held.push('observed');
    if (this.ledger.holds(key)) held.push('problems');
    if (this.opts.writeLimiter.holds(key)) held.push('write reservations');
    for (const [name, c] of this.copies) if (c.holds(key)) held.push(`written overlay in ${name}`);
    if (this.queue.holds(key)) held.push('queue');
    return held;
  }

  private orphaning(fed: KObject): boolean {
    return fed.metadata.annotations?.[ORPHAN_ANNOTATION] === 'true' || (fed.metadata.finalizers ?? []).includes('orphan');
  }

  private isSystem(fed: KObject): boolean {
    const ns = fed.metadata.namespace;
    if (ns) return SYSTEM_NAMESPACE.test(ns) || ns === FEDERATION_NAMESPACE;
    return this.kind.kind === 'Namespace' && (SYSTEM_NAMESPACE.test(fed.metadata.name) || fed.metadata.name === FEDERATION_NAMESPACE);
  }

  private async reconcile(key: string): Promise<void> {
    const fed = this.informer.get(key);
    if (!fed) return this.removeLeftovers(key);
    if (this.isSystem(fed)) return;
    if (fed.metadata.deletionTimestamp) return this.finalize(fed);
    if (!(fed.metadata.finalizers ?? []).includes(FINALIZER)) {
      await setFinalizers(this.opts.federation, this.kind, fed, [...(fed.metadata.finalizers ?? []), FINALIZER]);
      return; // the update comes back through the informer
    }
    const round: Round = { key, problems: [], failures: [] };
    const members = this.opts.registry.all();
    const ready = members.filter((m) => m.state === 'Ready');
    const copies = this.readCopies(ready, key);
    const known = ready.filter((m) => copies.has(m.name));

    const clusters = members.map((m) => ({ name: m.name, state: m.state, labels: m.labels }));
    const selectorAnnotation = fed.metadata.annotations?.[CLUSTER_SELECTOR_ANNOTATION];
    const filtered = filterClusters(selectorAnnotation, clusters);
    const selectedNames = new Set(filtered.placement.filter((p) => p.selected).map((p) => p.cluster));
    const schedule = await this.scheduleInput(fed, known.filter((m) => selectedNames.has(m.name)), copies, round);
    const placement = placeFiltered(key, filtered, schedule);
    if (placement.selectorError) this.problem(round, 'InvalidClusterSelector', `${CLUSTER_SELECTOR_ANNOTATION}: ${placement.selectorError}; no cluster is selected until it is fixed`);
    const targets = known.filter((m) => placement.clusters.find((p) => p.cluster === m.name)?.selected);
    const others = known.filter((m) => !targets.includes(m));

    await Promise.all(targets.map((m) => this.ensureIn(m, fed, copies.get(m.name), placement.replicas?.[m.name], round).catch((err: unknown) => round.failures.push(`${m.name}: ${String(err)}`))));
    await Promise.all(
      others
        .filter((m) => copies.get(m.name) && isManaged(copies.get(m.name)!))
        .map((m) => this.deleteIn(m, key, copies.get(m.name)!, round).catch((err: unknown) => round.failures.push(`${m.name}: ${String(err)}`))),
    );

    await this.writeBack(fed, placement, targets, copies, round);
    for (const p of this.ledger.settle(key, round.problems)) {
      this.opts.logger.warn({ kind: this.kind.kind, key, reason: p.reason, cluster: p.cluster || undefined }, p.message);
      void recordEvent(this.opts.federation, this.about(fed), 'Warning', p.reason, p.message);
    }
    const seen = this.observed.get(key);
    if (seen && !round.failures.length && round.deferMs === undefined && known.length === ready.length) seen.settled = true;
    if (round.deferMs !== undefined) this.queue.addAfter(key, round.deferMs);
    this.opts.metrics?.reconciled(this.kind.kind, round.failures.length ? 'error' : 'ok');
    if (round.failures.length) throw new PartialFailure(`${round.failures.length} member(s) failed: ${round.failures.join('; ')}`);
  }

  /**
   * Each Ready member's managed copy, from its cache. A member whose cache has not listed yet is
   * left out of this round (its list completing queues every key again): reading it object by
   * object instead would cost a rejoining member one GET per object per kind.
   */
  private readCopies(ready: readonly Member[], key: string): Map<string, KObject | undefined> {
    const copies = new Map<string, KObject | undefined>();
    for (const m of ready) {
      const cache = this.copies.get(m.name);
      // A member reconnected with a new client (its Cluster spec changed) gets a cache on it.
      if (cache?.client !== m.client) this.watchMember(m);
      else if (cache.synced()) copies.set(m.name, cache.get(key));
    }
    return copies;
  }

  /**
   * What the planner needs for kinds with replicas: preferences, and per selected member the
   * replicas its copy runs and — only where the copy is short of ready replicas, so pods may be
   * stuck — the capacity its Unschedulable pods imply (the one list a reconcile may make).
   */
  private async scheduleInput(fed: KObject, selected: readonly Member[], copies: Map<string, KObject | undefined>, round: Round): Promise<ScheduleInput | undefined> {
    if (!this.kind.preferencesAnnotation) return undefined;
    const annotation = fed.metadata.annotations?.[this.kind.preferencesAnnotation];
    let preferences = DEFAULT_PREFERENCES;
    if (annotation !== undefined) {
      const parsed = parsePreferences(annotation);
      if (parsed.ok) {
        preferences = parsed.preferences;
        const known = new Set(this.opts.registry.all().map((m) => m.name));
        const unknown = Object.keys(preferences.clusters).filter((c) => c !== '*' && !known.has(c));
        if (unknown.length) this.problem(round, 'UnknownCluster', `${this.kind.preferencesAnnotation} names cluster(s) the federation does not have: ${unknown.join(', ')}; they get no replicas`);
      } else this.problem(round, 'InvalidPreferences', `${this.kind.preferencesAnnotation}: ${parsed.error}; replicas are spread evenly until it is fixed`);
    }
    const current: Record<string, number> = {};
    const estimatedCapacity: Record<string, number> = {};
    const matchLabels = (fed.spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels ?? {};
    const labelSelector = Object.entries(matchLabels).map(([k, v]) => `${k}=${v}`).join(',');
    await Promise.all(
      selected.map(async (m) => {
        const c = copies.get(m.name);
        if (!c) return;
        const replicas = (c.spec as { replicas?: number }).replicas ?? 0;
        current[m.name] = replicas;
        const ready = (c.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0;
        if (!labelSelector || ready >= replicas) return;
        try {
          const pods = await m.client.get<{ items: KObject[] }>(`/api/v1/namespaces/${fed.metadata.namespace}/pods`, { query: { labelSelector }, timeoutMs: this.opts.memberTimeoutMs });
          const estimate = estimateCapacity(replicas, pods.items as never, Date.now(), this.opts.unschedulableAfterMs);
          if (estimate.capacity !== undefined) estimatedCapacity[m.name] = estimate.capacity;
          if (estimate.recheckInMs !== undefined) this.queue.addAfter(round.key, estimate.recheckInMs + 50);
        } catch {
          // without pod information the cluster's capacity stays unknown
        }
      }),
    );
    return { preferences, replicas: (fed.spec as { replicas?: number }).replicas ?? 1, current, estimatedCapacity };
  }

  private writes(m: Member): MemberWrites {
    return new MemberWrites(m.client, this.kind, this.opts.memberTimeoutMs);
  }

  /** A token for one write of `key` to `m`, or the key is requeued for its reserved slot. */
  private mayWrite(m: Member, round: Round): boolean {
    const wait = this.opts.writeLimiter.take(m.name, round.key);
    if (wait === 0) return true;
    round.deferMs = Math.min(round.deferMs ?? wait, wait);
    this.opts.metrics?.throttled(this.kind.kind, m.name);
    return false;
  }

  /** Our acknowledged write, laid over the member's cache until its watch delivers it. */
  private wrote(m: Member, key: string, obj: KObject | null): void {
    const cache = this.copies.get(m.name);
    if (cache?.client === m.client) cache.wrote(key, obj);
  }

  private latency(key: string): number | undefined {
    const seen = this.observed.get(key);
    return seen && !seen.settled ? (performance.now() - seen.at) / 1000 : undefined;
  }

  private markSynced(key: string, cluster: string, fed: KObject, copy?: KObject, replicas?: number): void {
    let perMember = this.synced.get(key);
    if (!perMember) this.synced.set(key, (perMember = new Map()));
    const checked = copy && checkedSignature(fed, copy, replicas);
    perMember.set(cluster, { fed: fedVersion(fed), ...(checked ? { checked } : {}) });
  }

  private async ensureIn(m: Member, fed: KObject, cached: KObject | undefined, replicas: number | undefined, round: Round): Promise<void> {
    const key = round.key;
    const writes = this.writes(m);
    let copy = cached;
    if (!copy) {
      if (!this.mayWrite(m, round)) return;
      const result = await writes.create(desiredMemberObject(this.kind, fed, undefined, replicas));
      if ('created' in result) {
        this.wrote(m, key, result.created);
        this.markSynced(key, m.name, fed, result.created, replicas);
        this.opts.metrics?.propagated(this.kind.kind, m.name, 'create', this.latency(key));
        return this.ensureIngressStatus(m, result.created, round);
      }
      copy = result.existing; // there already: ours the cache has not seen yet, or someone else's
    }
    if (!isManaged(copy) && this.kind.kind !== 'Namespace' && fed.metadata.annotations?.[ADOPT_ANNOTATION] !== 'true') {
      // Namespaces are containers every cluster may already have (default): they are adopted.
      // Anything else that exists and is not ours is left alone until adoption is asked for.
      this.problem(
        round,
        'ConflictResolution',
        `${this.kind.kind} ${key} already exists in cluster ${m.name} and is not managed by the federation; it is left alone (annotate the federated object with ${ADOPT_ANNOTATION}="true" to adopt it)`,
        m.name,
      );
      return;
    }
    const last = this.synced.get(key)?.get(m.name);
    if (last?.checked !== undefined && last.checked === checkedSignature(fed, copy, replicas) && isManaged(copy)) return this.ensureIngressStatus(m, copy, round);
    const desired = desiredMemberObject(this.kind, fed, copy, replicas);
    if (needsUpdate(this.kind, desired, copy)) {
      if (!this.mayWrite(m, round)) return;
      const drifted = isManaged(copy) && last?.fed === fedVersion(fed);
      const updated = await writes.update(desired, copy);
      if (!updated) return this.goneFrom(m, key);
      copy = updated;
      this.wrote(m, key, copy);
      this.markSynced(key, m.name, fed, copy, replicas);
      if (drifted) {
        // The member changed and the federated object did not: that is drift, not propagation.
        this.opts.metrics?.drift(this.kind.kind, m.name);
        this.opts.metrics?.propagated(this.kind.kind, m.name, 'update');
        void recordEvent(this.opts.federation, this.about(fed), 'Normal', 'DriftRepaired', `${this.kind.kind} ${key} was changed in cluster ${m.name}; restored from the federation`);
      } else this.opts.metrics?.propagated(this.kind.kind, m.name, 'update', this.latency(key));
    } else if (isManaged(copy)) this.markSynced(key, m.name, fed, copy, replicas);
    await this.ensureIngressStatus(m, copy, round);
  }

  /** Every member's copy of an Ingress shows the global VIP, as the federated one does. */
  private async ensureIngressStatus(m: Member, copy: KObject, round: Round): Promise<void> {
    if (this.kind.kind !== 'Ingress' || !this.opts.globalVIP) return;
    const want = ingressStatus(this.opts.globalVIP);
    if (JSON.stringify(copy.status ?? {}) === JSON.stringify(want)) return;
    if (!this.mayWrite(m, round)) return;
    const written = await this.writes(m).writeStatus(copy, want);
    if (written) this.wrote(m, round.key, written);
    else this.goneFrom(m, round.key);
  }

  /**
   * The member says the copy we wrote to is gone (deleted there before its watch told us): we
   * hold it as deleted and run the key again at once, which creates it afresh.
   */
  private goneFrom(m: Member, key: string): void {
    this.wrote(m, key, null);
    this.synced.get(key)?.delete(m.name);
    this.queue.add(key);
  }

  private async deleteIn(m: Member, key: string, copy: KObject, round: Round): Promise<void> {
    if (!this.mayWrite(m, round)) return;
    await this.writes(m).delete(copy);
    this.wrote(m, key, null);
    this.synced.get(key)?.delete(m.name);
    this.opts.metrics?.propagated(this.kind.kind, m.name, 'delete');
  }

  /**
   * The federated object is gone: remove copies still left in members (deleted while a member
   * was away, or missed by a controller that was down). Failures are retried by the queue.
   */
  private async removeLeftovers(key: string): Promise<void> {
    if (!this.informer.hasSynced()) return; // an unsynced cache does not mean "deleted"
    const round: Round = { key, problems: [], failures: [] };
    await Promise.all(
      this.opts.registry.ready().map(async (m) => {
        const copy = this.copies.get(m.name)?.get(key);
        if (!copy) return;
        await this.deleteIn(m, key, copy, round).catch((err: unknown) => round.failures.push(`${m.name}: ${String(err)}`));
      }),
    );
    if (round.deferMs !== undefined) this.queue.addAfter(key, round.deferMs);
    if (round.failures.length) throw new PartialFailure(`leftover copies not removed: ${round.failures.join('; ')}`);
  }

  /** Cascading deletion (unless orphaning), then release the federated object. */
  private async finalize(fed: KObject): Promise<void> {
    if (!(fed.metadata.finalizers ?? []).includes(FINALIZER)) return;
    const key = objectKey(fed);
    const round: Round = { key, problems: [], failures: [] };
    const orphan = this.orphaning(fed);
    const ready = this.opts.registry.ready();
    const copies = this.readCopies(ready, key);
    await Promise.all(
      ready.map(async (m) => {
        const copy = copies.get(m.name);
        if (!copy || !isManaged(copy)) return;
        try {
          if (!orphan) return await this.deleteIn(m, key, copy, round);
          if (!this.mayWrite(m, round)) return;
          await this.writes(m).release(copy);
          this.wrote(m, key, null);
        } catch (err) {
          round.failures.push(`${m.name}: ${String(err)}`);
        }
      }),
    );
    if (round.failures.length) throw new PartialFailure(`deletion incomplete: ${round.failures.join('; ')}`);
    if (round.deferMs !== undefined) return this.queue.addAfter(key, round.deferMs);
    const finalizers = (fed.metadata.finalizers ?? []).filter((f) => f !== FINALIZER && !(orphan && f === 'orphan'));
    await setFinalizers(this.opts.federation, this.kind, fed, finalizers);
  }

  /** Placement annotation and status on the federated object, when they changed. */
  private async writeBack(fed: KObject, placement: Placement, targets: readonly Member[], copies: Map<string, KObject | undefined>, round: Round): Promise<void> {
    const members = targets.map((m) => copies.get(m.name)).filter((c): c is KObject => !!c && isManaged(c));
    const status = federatedStatus(this.kind, fed, members, round.problems, this.opts.globalVIP, rfc3339());
    // A conflict: the informer was behind; look again shortly.
    if (!(await writeFederatedStatus(this.opts.federation, this.kind, fed, status))) this.queue.addAfter(round.key, 100);
    // After the status: a merge patch needs no resourceVersion, the status write did.
    await recordPlacement(this.opts.federation, this.kind, fed, placementAnnotations(placement.clusters, PLACEMENT_PREFIX));
  }

  private problem(round: Round, reason: string, message: string, cluster = ''): void {
    round.problems.push({ reason, message, cluster });
  }

  private about(fed: KObject): KObject {
    return { ...fed, apiVersion: fed.apiVersion ?? this.kind.apiVersion, kind: this.kind.kind };
  }
}
