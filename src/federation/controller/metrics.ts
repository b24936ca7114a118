import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SyncMetrics } from './sync-controller.js';

/** The controller's Prometheus metrics (prom-client), on their own registry. */
export class ControllerMetrics implements SyncMetrics {
  readonly registry = new Registry();
  private readonly reconciles = new Counter({ name: 'meridian_controller_reconciles_total', help: 'Reconciles by kind and result', labelNames: ['kind', 'result'], registers: [this.registry] });
  private readonly writes = new Counter({ name: 'meridian_controller_member_writes_total', help: 'Writes to member clusters', labelNames: ['kind', 'cluster', 'op'], registers: [this.registry] });
  private readonly drifts = new Counter({ name: 'meridian_controller_drift_repairs_total', help: 'Member copies changed behind the federation and repaired', labelNames: ['kind', 'cluster'], registers: [this.registry] });
  private readonly depth = new Gauge({ name: 'meridian_controller_queue_depth', help: 'Keys waiting in the work queue', labelNames: ['kind'], registers: [this.registry] });
  private readonly latency = new Histogram({
    name: 'meridian_controller_propagation_seconds',
    help: 'Federated object creation to member creation',
    labelNames: ['kind', 'cluster'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'meridian_controller_' });
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

  queueDepth(kind: string, depth: number): void {
    this.depth.set({ kind }, depth);
  }
}
