import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClusterState } from '../registry/health.js';
import { CERTIFICATE_PROBLEM_REASONS } from '../../ingress-sync/build-certificates.js';
import { PROBLEM_REASONS } from './problems.js';
import type { SyncMetrics } from './sync-controller.js';

const CLUSTER_STATES: readonly ClusterState[] = ['Ready', 'NotReady', 'Offline'];

/** What the controller's scrape-time gauges read: kept by the registry and the sync loops, never copied. */
export interface ControllerSources {
  /** Every Cluster and its state (a Cluster deleted from the federation is gone). */
  clusters(): Iterable<{ name: string; state: ClusterState }>;
  /** Per kind: keys queued, objects with a standing problem by reason, the oldest change not yet everywhere (s). */
  kinds(): Iterable<{ kind: string; depth: number; problems: Map<string, number>; oldestPendingSeconds: number }>;
  /** Each Ready member's cache of each kind, and whether it has listed. */
  memberCaches?(): Iterable<{ cluster: string; kind: string; synced: boolean }>;
}

/**
 * The controller's Prometheus metrics (prom-client), on their own registry. Counters count events;
 * the gauges are read from the controller's own state when scraped (so a removed cluster's
 * series goes with it, and a value is never stale).
 */
export class ControllerMetrics implements SyncMetrics {
  readonly registry = new Registry();
  private readonly reconciles = new Counter({ name: 'meridian_controller_reconciles_total', help: 'Reconciles by kind and result', labelNames: ['kind', 'result'], registers: [this.registry] });
  private readonly writes = new Counter({ name: 'meridian_controller_member_writes_total', help: 'Writes to member clusters', labelNames: ['kind', 'cluster', 'op'], registers: [this.registry] });
  private readonly drifts = new Counter({ name: 'meridian_controller_drift_repairs_total', help: 'Member copies changed behind the federation and repaired', labelNames: ['kind', 'cluster'], registers: [this.registry] });
  private readonly throttles = new Counter({
    name: 'meridian_controller_member_writes_throttled_total',
    help: 'Member writes deferred by the per-member write rate limit (--member-write-qps/--member-write-burst)',
    labelNames: ['kind', 'cluster'],
    registers: [this.registry],
  });
  private readonly memberRequests = new Counter({
    name: 'meridian_controller_api_requests_total',
    help: 'Requests the controller sent to member API servers, by cluster and verb (get, list, watch, create, update, patch, delete)',
    labelNames: ['cluster', 'verb'],
    registers: [this.registry],
  });
  private readonly federationRequests = new Counter({
    name: 'meridian_controller_federation_requests_total',
    help: 'Requests the controller sent to the federation API server, by verb',
    labelNames: ['verb'],
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'meridian_controller_propagation_seconds',
    help: 'From the controller seeing a federated change to a member acknowledging its write (create/update, not drift repairs)',
    labelNames: ['kind', 'cluster'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private sources: ControllerSources = { clusters: () => [], kinds: () => [] };
  private certificateProblems: () => Map<string, number> = () => new Map();
  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'meridian_controller_' });
    const sources = () => this.sources;
    const registers = [this.registry];
    new Gauge({
      name: 'meridian_controller_queue_depth',
      help: 'Keys waiting in the work queue, read when scraped',
      labelNames: ['kind'],
      registers,
      collect() {
        for (const k of sources().kinds()) this.set({ kind: k.kind }, k.depth);
      },
    });
    new Gauge({
      name: 'meridian_controller_pending_change_age_seconds',
      help: 'How long the oldest federated change not yet in every Ready member has waited (0: none waits); propagation_seconds only sees writes that land',
      labelNames: ['kind'],
      registers,
      collect() {
        for (const k of sources().kinds()) this.set({ kind: k.kind }, k.oldestPendingSeconds);
      },
    });
    new Gauge({
      name: 'meridian_controller_object_problems',
      help: 'Federated objects with a standing problem, by kind and reason (ConflictResolution: a member holds an object of that name the federation does not manage; InvalidPreferences, UnknownCluster: replica-set/deployment preferences; InvalidClusterSelector; InvalidAnnotation: an Ingress annotation of the routing table ignored as malformed)',
      labelNames: ['kind', 'reason'],
      registers,
      collect() {
        // Every kind's reasons, and those only a kind's source knows (an Ingress's InvalidAnnotation).
        for (const k of sources().kinds()) for (const reason of new Set([...PROBLEM_REASONS, ...k.problems.keys()])) this.set({ kind: k.kind, reason }, k.problems.get(reason) ?? 0);
      },
    });
    const certificateProblems = () => this.certificateProblems();
    new Gauge({
      name: 'meridian_controller_tls_certificate_problems',
      help: 'Federated Ingresses × TLS Secrets (spec.tls), and the --default-certificate Secret, with a standing problem, by reason (TLSSecretNotFound; TLSCertificateRejected: wrong type, incomplete, does not parse, key mismatch, expired, not yet valid — the last good certificate stays published; TLSHostNotCovered)',
      labelNames: ['reason'],
      registers,
      collect() {
        const counts = certificateProblems();
        for (const reason of CERTIFICATE_PROBLEM_REASONS) this.set({ reason }, counts.get(reason) ?? 0);
      },
    });
    new Gauge({
      name: 'meridian_controller_member_cache_synced',
      help: '1 when the controller has listed a Ready member\'s copies of a kind, 0 while it has not (it writes that kind there only once it has; a 0 that stays means list/watch fails there: see the Cluster\'s MemberCacheNotSynced Events)',
      labelNames: ['cluster', 'kind'],
      registers,
      collect() {
        this.reset(); // a member gone NotReady or deleted has no cache
        for (const c of sources().memberCaches?.() ?? []) this.set({ cluster: c.cluster, kind: c.kind }, c.synced ? 1 : 0);
      },
    });
    new Gauge({
      name: 'meridian_controller_cluster_ready',
      help: '1 when the member cluster is Ready',
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset(); // a Cluster deleted from the federation drops out
        for (const c of sources().clusters()) this.set({ cluster: c.name }, c.state === 'Ready' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'meridian_controller_cluster_state',
      help: 'The member cluster\'s state (Ready, NotReady, Offline): 1 for the one it is in, 0 for the others',
      labelNames: ['cluster', 'state'],
      registers,
      collect() {
        this.reset();
        for (const c of sources().clusters()) for (const state of CLUSTER_STATES) this.set({ cluster: c.name, state }, c.state === state ? 1 : 0);
      },
    });
  }

  /** Where the scrape-time gauges read from (the registry and the sync loops). */
  watch(sources: ControllerSources): void {
    this.sources = sources;
  }

  /** Where the certificate problem gauge reads from (the table publisher). */
  watchCertificates(source: () => Map<string, number>): void {
    this.certificateProblems = source;
  }

  /**
   * A member became Ready: its per-kind repair and throttle counters start at 0, so a rate over
   * them exists (and an alert on them can fire) from the first event rather than the second.
   */
  memberReady(cluster: string, kinds: readonly string[]): void {
    for (const kind of kinds) {
      this.drifts.inc({ kind, cluster }, 0);
      this.throttles.inc({ kind, cluster }, 0);
    }
  }

  /**
   * A Cluster was deleted from the federation: its counters and histograms stop being exported
   * (the scrape-time gauges follow the registry on their own). Other members' series stay.
   */
  async forgetMember(cluster: string): Promise<void> {
    const perMember = [this.writes, this.drifts, this.throttles, this.memberRequests, this.latency] as const;
    for (const metric of perMember) {
      const { values } = await metric.get();
      const labelSets = new Map<string, Record<string, string | number>>();
      for (const v of values) {
        if (v.labels.cluster !== cluster) continue;
        // A histogram's buckets add `le`; the series is the rest.
        const { le: _bucket, ...labels } = v.labels as Record<string, string | number>;
        labelSets.set(JSON.stringify(labels), labels);
      }
      for (const labels of labelSets.values()) metric.remove(labels as never);
    }
  }

  memberRequest(cluster: string, verb: string): void {
    this.memberRequests.inc({ cluster, verb });
  }

  federationRequest(verb: string): void {
    this.federationRequests.inc({ verb });
  }

  throttled(kind: string, cluster: string): void {
    this.throttles.inc({ kind, cluster });
  }

  reconciled(kind: string, result: 'ok' | 'error'): void {
    this.reconciles.inc({ kind, result });
  }

  propagated(kind: string, cluster: string, op: 'create' | 'update' | 'delete', latencySeconds?: number): void {
    this.writes.inc({ kind, cluster, op });
    if (latencySeconds !== undefined && latencySeconds >= 0) this.latency.observe({ kind, cluster }, latencySeconds);
  }

  drift(kind: string, cluster: string): void {
    this.drifts.inc({ kind, cluster });
  }
}
