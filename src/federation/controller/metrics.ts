import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SyncMetrics } from './sync-controller.js';

/** The controller's Prometheus metrics (prom-client), on their own registry. */
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
  private queues: () => Iterable<{ kind: string; depth: number }> = () => [];
  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'meridian_controller_' });
    const queues = () => this.queues();
    new Gauge({
      name: 'meridian_controller_queue_depth',
      help: 'Keys waiting in the work queue, read when scraped',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        for (const q of queues()) this.set({ kind: q.kind }, q.depth);
      },
    });
  }

  /** Where the live queue depths come from. */
  watchQueues(queues: () => Iterable<{ kind: string; depth: number }>): void {
    this.queues = queues;
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

  readonly clusterReady = new Gauge({ name: 'meridian_controller_cluster_ready', help: '1 when the member cluster is Ready', labelNames: ['cluster'], registers: [this.registry] });

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
