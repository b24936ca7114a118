import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../../src/federation/controller/metrics.js';
import { ProblemLedger } from '../../../src/federation/controller/problems.js';
import type { ClusterState } from '../../../src/federation/registry/health.js';

const lines = async (m: ControllerMetrics, prefix: string) => (await m.registry.metrics()).split('\n').filter((l) => l.startsWith(prefix));

describe('ControllerMetrics', () => {
  it("reports each Cluster's state as one of three, and a Cluster deleted from the federation not at all", async () => {
    const m = new ControllerMetrics();
    let clusters: { name: string; state: ClusterState }[] = [
      { name: 'a', state: 'Ready' },
      { name: 'b', state: 'Offline' },
    ];
    m.watch({ clusters: () => clusters, kinds: () => [] });
    expect(await lines(m, 'meridian_controller_cluster_state{')).toEqual([
      'meridian_controller_cluster_state{cluster="a",state="Ready"} 1',
      'meridian_controller_cluster_state{cluster="a",state="NotReady"} 0',
      'meridian_controller_cluster_state{cluster="a",state="Offline"} 0',
      'meridian_controller_cluster_state{cluster="b",state="Ready"} 0',
      'meridian_controller_cluster_state{cluster="b",state="NotReady"} 0',
      'meridian_controller_cluster_state{cluster="b",state="Offline"} 1',
    ]);
    expect(await lines(m, 'meridian_controller_cluster_ready{')).toEqual(['meridian_controller_cluster_ready{cluster="a"} 1', 'meridian_controller_cluster_ready{cluster="b"} 0']);
    clusters = [{ name: 'a', state: 'NotReady' }];
    const text = await m.registry.metrics();
    expect(text).not.toContain('cluster="b"');
    expect(text).toContain('meridian_controller_cluster_state{cluster="a",state="NotReady"} 1');
    expect(text).toContain('meridian_controller_cluster_ready{cluster="a"} 0');
  });

  it('reports objects with problems by reason, zero for the reasons none has, and the oldest change waiting', async () => {
    const m = new ControllerMetrics();
    const ledger = new ProblemLedger();
    ledger.settle('default/web', [
      { reason: 'ConflictResolution', message: 'exists in a', cluster: 'a' },
      { reason: 'ConflictResolution', message: 'exists in b', cluster: 'b' },
    ]);
    ledger.settle('default/api', [{ reason: 'ConflictResolution', message: 'exists in a', cluster: 'a' }]);
    m.watch({ clusters: () => [], kinds: () => [{ kind: 'ConfigMap', depth: 4, problems: ledger.objectsByReason(), oldestPendingSeconds: 12.5 }] });
    expect(await lines(m, 'meridian_controller_object_problems{')).toEqual([
      'meridian_controller_object_problems{kind="ConfigMap",reason="ConflictResolution"} 2',
      'meridian_controller_object_problems{kind="ConfigMap",reason="InvalidPreferences"} 0',
      'meridian_controller_object_problems{kind="ConfigMap",reason="UnknownCluster"} 0',
      'meridian_controller_object_problems{kind="ConfigMap",reason="InvalidClusterSelector"} 0',
    ]);
    expect(await lines(m, 'meridian_controller_queue_depth{')).toEqual(['meridian_controller_queue_depth{kind="ConfigMap"} 4']);
    expect(await lines(m, 'meridian_controller_pending_change_age_seconds{')).toEqual(['meridian_controller_pending_change_age_seconds{kind="ConfigMap"} 12.5']);
    ledger.settle('default/web', []);
    ledger.forget('default/api');
    expect(await lines(m, 'meridian_controller_object_problems{kind="ConfigMap",reason="ConflictResolution"}')).toEqual(['meridian_controller_object_problems{kind="ConfigMap",reason="ConflictResolution"} 0']);
  });

  it('starts a Ready member\'s drift and throttle counters at zero, so their rate exists before the first event', async () => {
    const m = new ControllerMetrics();
    m.memberReady('a', ['ConfigMap', 'Secret']);
    expect(await lines(m, 'meridian_controller_drift_repairs_total{')).toEqual([
      'meridian_controller_drift_repairs_total{kind="ConfigMap",cluster="a"} 0',
      'meridian_controller_drift_repairs_total{kind="Secret",cluster="a"} 0',
    ]);
    m.drift('ConfigMap', 'a');
    expect(await lines(m, 'meridian_controller_drift_repairs_total{kind="ConfigMap"')).toEqual(['meridian_controller_drift_repairs_total{kind="ConfigMap",cluster="a"} 1']);
  });
});
