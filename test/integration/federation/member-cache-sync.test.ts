import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type RunningController } from '../../../src/federation/controller/controller.js';
import { R } from '../../../src/sandbox/cluster/store-port.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

interface EventItem {
  type: string;
  reason: string;
  message: string;
  involvedObject: { kind?: string; name?: string };
}

interface LogLine {
  level: number;
  msg: string;
  cluster?: string;
  kind?: string;
}

// A member whose API server refuses list/watch of one kind never fills the controller's cache of
// it, and reconciles leave such a member out: without a report it would silently get no copies.
describe('federation controller: a member cache that never lists is reported; a deleted member leaves no series', () => {
  const SYNC_TIMEOUT_MS = 1_500;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let sb: Sandbox;
  let controller: RunningController;
  let k: Kubectl;
  const logs: LogLine[] = [];
  let forbidden: string;
  let others: string[];
  const member = (name: string) => sb.members.get(name)!;
  const copyIn = (cluster: string, name: string) => member(cluster).store.get(R.configMaps, 'default', name);
  const fed = (args: string[]) => k.ok(['--context', 'federation-cluster', ...args]);
  const metrics = async () => (await fetch(`${controller.metricsUrl}/metrics`)).text();
  const clusterEvents = async (cluster: string, reason: string) => {
    const list = JSON.parse(await fed(['get', 'events', '-n', 'default', '-o', 'json'])) as { items: EventItem[] };
    return list.items.filter((e) => e.involvedObject.kind === 'Cluster' && e.involvedObject.name === cluster && e.reason === reason);
  };
  const setConfigMapsForbidden = (cluster: string, on: boolean) => {
    for (const verb of ['list', 'watch']) member(cluster).server.failRequests(`${verb} configmaps`, 403, on ? undefined : 0);
  };

  beforeAll(async () => {
    dir = await tempDir();
    sb = await startSandbox({ clusters: '3', kubeconfigPath: join(dir.path, 'kubeconfig') });
    [forbidden, ...others] = [...sb.members.keys()] as [string, ...string[]];
    // Before the controller's first list: its cache of ConfigMaps in this member never fills.
    setConfigMapsForbidden(forbidden, true);
    controller = await startController({
      kubeconfigText: await readFile(sb.kubeconfigPath, 'utf8'),
      federationContext: 'federation-cluster',
      probeIntervalMs: 200,
      resyncMs: 3_600_000,
      memberTimeoutMs: 1_000,
      memberCacheSyncTimeoutMs: SYNC_TIMEOUT_MS,
      // Short, so a repeat shows within the test; the first report is never repeated sooner.
      eventRepeat: { firstRepeatMs: 1_000, maxRepeatMs: 60_000 },
      logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) }),
    });
    await controller.leading;
    k = new Kubectl(pathKubectl(), sb.kubeconfigPath, join(dir.path, 'cache'));
    await waitFor(() => controller.registry.ready().length === 3, { what: '3 Ready members' });
  });

  afterAll(async () => {
    await controller?.stop();
    await sb?.stop();
    await dir?.remove();
  });

  it('says on the Cluster, in the metrics and once in the log that a member forbidding the list of ConfigMaps gets none; the others get theirs', async () => {
    await fed(['create', 'configmap', 'while-forbidden', '--from-literal=a=1']);
    await waitFor(() => others.every((c) => copyIn(c, 'while-forbidden')), { what: 'the ConfigMap in the other members' });

    const warned = await waitFor(async () => (await clusterEvents(forbidden, 'MemberCacheNotSynced'))[0], { what: `a MemberCacheNotSynced Event on Cluster ${forbidden}`, timeoutMs: SYNC_TIMEOUT_MS + 10_000 });
    expect(warned.type).toBe('Warning');
    expect(warned.message).toMatch(/^E_MEMBER_CACHE_NOT_SYNCED: the controller has not been able to list configmaps in cluster \S+ for \d+s, so the cluster gets no federated ConfigMap copies; last list\/watch error: 403 Forbidden: .*configmaps is forbidden.*; grant list and watch on configmaps \(the core API group \(""\)\) to the federation's credentials in that cluster/);
    expect(warned.message).toContain(forbidden);
    for (const c of others) expect(await clusterEvents(c, 'MemberCacheNotSynced')).toEqual([]);
    expect(copyIn(forbidden, 'while-forbidden')).toBeUndefined();
    // The member answers as RBAC does, to kubectl too.
    const refused = await k.run(['--context', forbidden, 'get', 'configmaps', '--all-namespaces']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Error from server \(Forbidden\): configmaps is forbidden: User "[^"]+" cannot list resource "configmaps" in API group "" at the cluster scope/);

    const text = await metrics();
    expect(text).toContain(`meridian_controller_member_cache_synced{cluster="${forbidden}",kind="ConfigMap"} 0`);
    expect(text).toContain(`meridian_controller_member_cache_synced{cluster="${forbidden}",kind="Secret"} 1`);
    for (const c of others) expect(text).toContain(`meridian_controller_member_cache_synced{cluster="${c}",kind="ConfigMap"} 1`);

    // A standing problem is evented again after the repeat back-off, and logged only once.
    await waitFor(async () => (await clusterEvents(forbidden, 'MemberCacheNotSynced')).length >= 2, { what: 'the repeated Event', timeoutMs: 10_000 });
    const warnings = logs.filter((l) => l.level === 40 && l.msg.startsWith('E_MEMBER_CACHE_NOT_SYNCED'));
    expect(warnings.map((l) => `${l.cluster} ${l.kind}`)).toEqual([`${forbidden} ConfigMap`]);
  });

  it('delivers the copy, turns the gauge to 1 and logs the recovery once the member allows the list again', async () => {
    setConfigMapsForbidden(forbidden, false);
    await waitFor(() => copyIn(forbidden, 'while-forbidden'), { what: `the ConfigMap in ${forbidden}` });
    await waitFor(async () => (await metrics()).includes(`meridian_controller_member_cache_synced{cluster="${forbidden}",kind="ConfigMap"} 1`), { what: 'the gauge at 1' });
    const recovered = () => logs.filter((l) => l.level === 30 && l.cluster === forbidden && l.kind === 'ConfigMap' && l.msg.startsWith('member cache listed'));
    await waitFor(() => recovered().length === 1, { what: 'the recovery log line' });
    await waitFor(async () => (await clusterEvents(forbidden, 'MemberCacheSynced')).length === 1, { what: 'a MemberCacheSynced Event' });
    // Cleared: no further warning comes.
    const evented = (await clusterEvents(forbidden, 'MemberCacheNotSynced')).length;
    await fed(['create', 'configmap', 'after-recovery', '--from-literal=a=1']);
    await waitFor(() => [forbidden, ...others].every((c) => copyIn(c, 'after-recovery')), { what: 'a new ConfigMap everywhere' });
    expect((await clusterEvents(forbidden, 'MemberCacheNotSynced')).length).toBe(evented);
    expect(recovered()).toHaveLength(1);
  });

  it("drops a deleted member's series from /metrics and keeps the other members'", async () => {
    const [gone, kept] = others as [string, string];
    const before = await metrics();
    for (const series of ['api_requests_total', 'member_writes_total', 'propagation_seconds_bucket', 'drift_repairs_total', 'member_writes_throttled_total', 'member_cache_synced', 'cluster_state']) {
      expect(before, series).toMatch(new RegExp(`^meridian_controller_${series}\\{[^}]*cluster="${gone}"`, 'm'));
    }
    await fed(['delete', 'clusters.federation.meridian.dev', gone]);
    await waitFor(async () => !(await metrics()).includes(`cluster="${gone}"`), { what: `no series of ${gone}` });

    // The forgotten member's informers are stopped: nothing brings its series back.
    await fed(['create', 'configmap', 'after-removal', '--from-literal=a=1']);
    await waitFor(() => [forbidden, kept].every((c) => copyIn(c, 'after-removal')), { what: 'a new ConfigMap in the remaining members' });
    const after = await metrics();
    expect(after).not.toContain(`cluster="${gone}"`);
    expect(copyIn(gone, 'after-removal')).toBeUndefined();
    for (const c of [forbidden, kept]) {
      expect(after).toMatch(new RegExp(`^meridian_controller_api_requests_total\\{cluster="${c}",verb="watch"\\} \\d+`, 'm'));
      expect(after).toMatch(new RegExp(`^meridian_controller_member_writes_total\\{kind="ConfigMap",cluster="${c}",op="create"\\} [1-9]`, 'm'));
    }
  });
});
