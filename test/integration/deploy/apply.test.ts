import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { tempDir } from '../../helpers/tmp.js';
import { NAMESPACE, render, type Kustomization, type Rendered } from './kustomize.js';

/**
 * What deploy/ renders to, applied with the real kubectl to the sandbox's federation API and to a
 * member, as a user would apply it to a real cluster: server-side dry runs first, then for real,
 * then `kubectl get` of what was stored.
 */

const FEDERATION: Kustomization[] = ['deploy/crds', 'deploy/base', 'deploy/overlays/daemonset', 'deploy/overlays/try-it'];

let dir: Awaited<ReturnType<typeof tempDir>>;
let sb: Sandbox;
let k: Kubectl;
const rendered = new Map<Kustomization, Rendered>();

/** kubectl against one of the sandbox's contexts. */
const on = (context: string) => ({
  run: (args: string[], input?: string) => k.run(['--context', context, ...args], input),
  ok: (args: string[], input?: string) => k.ok(['--context', context, ...args], input),
});
const fed = on('federation-cluster');
const text = (d: Kustomization) => rendered.get(d)!.text;
const stored = (group: string, resource: string) => sb.federation.store.list({ group, resource }, NAMESPACE).items.map((o) => o.metadata.name);

/** Output lines as `kind/name verdict`, whitespace collapsed. */
const lines = (out: string) => out.trim().split('\n').filter(Boolean);

beforeAll(async () => {
  dir = await tempDir('meridian-deploy-');
  for (const d of [...FEDERATION, 'deploy/member' as const]) rendered.set(d, await render(d));
  sb = await startSandbox({ kubeconfigPath: join(dir.path, 'kubeconfig'), clusters: '1', nodeShape: { nodes: 1 } });
  k = new Kubectl(pathKubectl(), sb.kubeconfigPath, join(dir.path, 'cache'));
}, 120_000);

afterAll(async () => {
  await sb?.stop();
  await dir?.remove();
});

describe('deploy/ against the sandbox with real kubectl', () => {
  it.each(FEDERATION)('`kubectl apply --dry-run=server` accepts %s in the federation API and stores nothing', async (d) => {
    const out = await fed.run(['apply', '--dry-run=server', '-f', '-'], text(d));
    expect(out.code, out.stderr).toBe(0);
    const result = lines(out.stdout);
    expect(result).toHaveLength(rendered.get(d)!.objects.length);
    for (const l of result) expect(l).toMatch(/ (created|configured|unchanged) \(server dry run\)$/);
    expect(stored('apps', 'deployments')).toEqual([]);
    expect(stored('', 'serviceaccounts')).toEqual([]);
  });

  it.each(FEDERATION)('`kubectl apply --server-side --dry-run=server` accepts %s', async (d) => {
    const out = await fed.run(['apply', '--server-side', '--dry-run=server', '-f', '-'], text(d));
    expect(out.code, out.stderr).toBe(0);
    for (const l of lines(out.stdout)) expect(l).toMatch(/ serverside-applied \(server dry run\)$/);
    expect(stored('apps', 'deployments')).toEqual([]);
  });

  it('refuses deploy/member in a member whose federation-system does not exist yet, as a real server does, and accepts it once it does', async () => {
    const member = on([...sb.members.keys()][0]!);
    const first = await member.run(['apply', '--dry-run=server', '-f', '-'], text('deploy/member'));
    // The Namespace is only dry-run created, so its contents have nowhere to go.
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('namespace/federation-system created (server dry run)');
    expect(first.stderr).toContain('namespaces "federation-system" not found');
    await member.ok(['create', 'namespace', NAMESPACE]);
    const second = await member.run(['apply', '--dry-run=server', '-f', '-'], text('deploy/member'));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('clusterrole.rbac.authorization.k8s.io/meridian-member created (server dry run)');
    expect(second.stdout).toContain('secret/meridian-member-token created (server dry run)');
  });

  it('applies deploy/overlays/try-it for real, and again with nothing to change', async () => {
    const out = await fed.ok(['apply', '-f', '-'], text('deploy/overlays/try-it'));
    expect(out).toContain('deployment.apps/meridian-controller created');
    expect(out).toContain('statefulset.apps/meridian-redis created');
    expect(out).toContain('poddisruptionbudget.policy/meridian-proxy created');
    expect(out).toContain('clusterrolebinding.rbac.authorization.k8s.io/meridian-controller created');
    expect(stored('apps', 'deployments')).toEqual(['meridian-controller', 'meridian-proxy']);
    const pdbVersions = () => sb.federation.store.list({ group: 'policy', resource: 'poddisruptionbudgets' }, NAMESPACE).items.map((o) => o.metadata.resourceVersion);
    const before = pdbVersions();

    const again = lines(await fed.ok(['apply', '-f', '-'], text('deploy/overlays/try-it')));
    // kubectl always sends a PodDisruptionBudget's selector (its patch strategy is "replace"), so
    // it says "configured" on real clusters too; the patch changes nothing and stores nothing.
    expect(again.filter((l) => !l.endsWith(' unchanged'))).toEqual(['poddisruptionbudget.policy/meridian-controller configured', 'poddisruptionbudget.policy/meridian-proxy configured']);
    expect(pdbVersions()).toEqual(before);
  });

  it('prints the new kinds with the columns a real server sends', async () => {
    const ns = ['-n', NAMESPACE];
    const sa = await fed.ok([...ns, 'get', 'serviceaccounts']);
    expect(sa.split('\n')[0]).toMatch(/^NAME\s+SECRETS\s+AGE$/);
    expect(sa).toMatch(/^meridian-proxy\s+0\s+\d+s$/m);
    const pdb = await fed.ok([...ns, 'get', 'pdb']);
    expect(pdb.split('\n')[0]).toMatch(/^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE$/);
    expect(pdb).toMatch(/^meridian-controller\s+1\s+N\/A\s+0\s+\d+s$/m);
    expect(pdb).toMatch(/^meridian-proxy\s+N\/A\s+1\s+0\s+\d+s$/m);
    const sts = await fed.ok([...ns, 'get', 'statefulsets', '-o', 'wide']);
    expect(sts.split('\n')[0]).toMatch(/^NAME\s+READY\s+AGE\s+CONTAINERS\s+IMAGES$/);
    expect(sts).toMatch(/^meridian-redis\s+0\/1\s+\d+s\s+redis\s+redis:7$/m);
    const role = await fed.ok([...ns, 'get', 'roles']);
    expect(role.split('\n')[0]).toMatch(/^NAME\s+CREATED AT$/);
    expect(role).toMatch(/^meridian-controller\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    expect(await fed.ok(['get', 'clusterroles'])).toMatch(/^meridian-controller\s+\d{4}-\d\d-\d\dT/m);
    const rb = await fed.ok([...ns, 'get', 'rolebindings', '-o', 'wide']);
    expect(rb.split('\n')[0]).toMatch(/^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS$/);
    expect(rb).toMatch(/^meridian-controller\s+Role\/meridian-controller\s+\d+s\s+federation-system\/meridian-controller$/m);
    expect(await fed.ok(['get', 'clusterrolebindings'])).toMatch(/^meridian-controller\s+ClusterRole\/meridian-controller\s+\d+s$/m);

    await fed.ok(['apply', '-f', '-'], text('deploy/overlays/daemonset'));
    const ds = await fed.ok([...ns, 'get', 'daemonsets']);
    expect(ds.split('\n')[0]).toMatch(/^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE$/);
    expect(ds).toMatch(/^meridian-proxy\s+0\s+0\s+0\s+0\s+0\s+<none>\s+\d+s$/m);
    // Short names and the `all` category come from discovery.
    const all = await fed.ok([...ns, 'get', 'all']);
    expect(all).toContain('daemonset.apps/meridian-proxy');
    expect(all).toContain('statefulset.apps/meridian-redis');
    expect(await fed.ok([...ns, 'get', 'ds,sts,pdb,sa', '-o', 'name'])).toContain('poddisruptionbudget.policy/meridian-proxy');
  });

  it('stores the defaults a real server fills in, and scales a StatefulSet', async () => {
    const ns = ['-n', NAMESPACE];
    const ds = JSON.parse(await fed.ok([...ns, 'get', 'ds', 'meridian-proxy', '-o', 'json'])) as { spec: { updateStrategy: unknown; revisionHistoryLimit: number }; status: unknown; metadata: { generation: number } };
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    expect(ds.spec.revisionHistoryLimit).toBe(10);
    expect(ds.metadata.generation).toBe(1);
    expect(ds.status).toEqual({ currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 });
    const sts = JSON.parse(await fed.ok([...ns, 'get', 'sts', 'meridian-redis', '-o', 'json'])) as { spec: Record<string, unknown> };
    expect(sts.spec).toMatchObject({ podManagementPolicy: 'OrderedReady', updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } }, persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' } });
    expect(await fed.ok([...ns, 'scale', 'statefulset', 'meridian-redis', '--replicas=2'])).toContain('statefulset.apps/meridian-redis scaled');
    expect(await fed.ok([...ns, 'get', 'sts', 'meridian-redis', '-o', 'jsonpath={.spec.replicas}'])).toBe('2');
  });

  it('refuses what a real server refuses in these kinds', async () => {
    const ns = ['-n', NAMESPACE];
    const rebind = await fed.run([...ns, 'apply', '-f', '-'], 'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: meridian-controller\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: meridian-controller\nsubjects: []\n');
    expect(rebind.code).toBe(1);
    expect(rebind.stderr).toContain('roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"meridian-controller"}: cannot change roleRef');
    const crb = await fed.run(['create', '-f', '-'], 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: bad\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: x\nsubjects:\n- kind: ServiceAccount\n  name: x\n');
    expect(crb.code).toBe(1);
    expect(crb.stderr).toContain('roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"');
    expect(crb.stderr).toContain('subjects[0].namespace: Required value');
    // RBAC names are path segments, not DNS names.
    await fed.ok(['create', '-f', '-'], 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: system:meridian:viewer\nrules: []\n');
    const pdb = await fed.run([...ns, 'create', '-f', '-'], 'apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: both\nspec:\n  minAvailable: 1\n  maxUnavailable: 1\n  selector: {matchLabels: {a: b}}\n');
    expect(pdb.code).toBe(1);
    expect(pdb.stderr).toContain('minAvailable and maxUnavailable cannot be both set');
    const ds = 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: bad\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: c}}\n    spec: {containers: [{name: c, image: i}]}\n';
    const mismatch = await fed.run([...ns, 'create', '-f', '-'], ds);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain('`selector` does not match template `labels`');
    const unknown = await fed.run([...ns, 'create', '-f', '-'], ds.replace('spec:\n  selector', 'spec:\n  replicas: 2\n  selector'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('strict decoding error: unknown field "spec.replicas"');
  });
});
