import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../src/sandbox/apiserver/server.js';
import { ClusterStore } from '../../../src/sandbox/apiserver/store.js';
import { renderKubeconfig } from '../../../src/sandbox/kubeconfig.js';
import { debianKubectl120, Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * Real kubectl against the emulated API server: the PATH dispatcher at two minor versions (chosen
 * by `/version`) and Debian's kubectl 1.20. Each client gets a server of its own.
 */
const CLIENTS = [
  { label: 'kubectl 1.33 (PATH)', minor: '33', binary: async () => pathKubectl() },
  { label: 'kubectl 1.28 (PATH)', minor: '28', binary: async () => pathKubectl() },
  { label: 'kubectl 1.20 (Debian)', minor: '20', binary: debianKubectl120 },
];

const EXTRAS = `
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: team-a
stringData:
  password: hunter2
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team-a
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: leader
  namespace: team-a
spec:
  holderIdentity: replica-1
`;

describe.each(CLIENTS)('$label against the emulated API server', ({ minor, binary }) => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: ApiServer;
  let store: ClusterStore;
  let k: Kubectl;

  beforeAll(async () => {
    dir = await tempDir();
    store = new ClusterStore();
    server = await startApiServer({ store, versionMinor: minor, name: 'test' });
    const kubeconfig = join(dir.path, 'kubeconfig');
    await writeFile(kubeconfig, renderKubeconfig([{ name: 'test', server: server.url }], 'test'));
    k = new Kubectl(await binary(), kubeconfig, join(dir.path, 'cache'));
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await dir?.remove();
  });

  it('creates the seed manifests in their extensions/v1beta1 form, with real output', async () => {
    const out = await k.run(['create', '-f', 'examples/services/nginx.yaml', '-f', 'examples/ingress/ingress.yaml', '-f', 'examples/replicasets/nginx-rs.yaml', '-f', 'examples/configmaps/zonefetch.yaml']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^service\/nginx created$/m);
    expect(out.stdout).toMatch(/^ingress\.(extensions|networking\.k8s\.io)\/nginx created$/m);
    expect(out.stdout).toMatch(/^replicaset\.(extensions|apps)\/nginx created$/m);
    expect(out.stdout).toMatch(/^configmap\/zone-fetch created$/m);
    expect(out.stderr).toContain('extensions/v1beta1 Ingress is deprecated');

    // Stored once, served in both versions: the seed's backend became a v1 defaultBackend.
    const v1 = JSON.parse(await k.ok(['get', 'ingresses.v1.networking.k8s.io', 'nginx', '-o', 'json'])) as { spec: unknown };
    expect(v1.spec).toEqual({ defaultBackend: { service: { name: 'nginx', port: { number: 80 } } } });
    const rs = JSON.parse(await k.ok(['get', 'rs', 'nginx', '-o', 'json'])) as { apiVersion: string; spec: { selector: unknown; replicas: number } };
    expect(rs.apiVersion).toBe('apps/v1');
    expect(rs.spec.selector).toEqual({ matchLabels: { app: 'nginx' } });
  });

  it('prints tables with the columns a real server sends', async () => {
    const rs = await k.ok(['get', 'rs']);
    expect(rs.split('\n')[0]).toMatch(/^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE$/);
    expect(rs).toMatch(/^nginx\s+9\s+0\s+0\s+\d+s$/m);
    const svc = await k.ok(['get', 'svc', '-o', 'wide']);
    expect(svc.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$/);
    expect(svc).toMatch(/^nginx\s+LoadBalancer\s+10\.96\.\d+\.\d+\s+<pending>\s+80\/TCP\s+\d+s\s+app=nginx$/m);
    const ing = await k.ok(['get', 'ingress']);
    expect(ing).toMatch(/^nginx\s+<none>\s+\*\s+80\s+\d+s$/m);
    const cm = await k.ok(['get', 'cm', 'zone-fetch']);
    expect(cm).toMatch(/^zone-fetch\s+1\s+\d+s$/m);
    const ns = await k.ok(['get', 'ns']);
    expect(ns).toMatch(/^default\s+Active\s+\d+s$/m);
    expect(ns).toMatch(/^kube-system\s+Active/m);
  });

  it('applies client-side and server-side, and creates from stdin across kinds', async () => {
    const created = await k.ok(['apply', '-f', '-'], EXTRAS);
    expect(created).toContain('namespace/team-a created');
    expect(created).toContain('secret/creds created');
    expect(created).toContain('deployment.apps/web created');
    expect(created).toContain('lease.coordination.k8s.io/leader created');
    expect(await k.ok(['apply', '-f', '-'], EXTRAS)).toContain('deployment.apps/web unchanged');
    expect(await k.ok(['apply', '-f', '-'], EXTRAS.replace('replicas: 2', 'replicas: 3'))).toContain('deployment.apps/web configured');
    const dep = JSON.parse(await k.ok(['-n', 'team-a', 'get', 'deploy', 'web', '-o', 'json'])) as { spec: { replicas: number }; metadata: { generation: number } };
    expect(dep.spec.replicas).toBe(3);
    expect(dep.metadata.generation).toBe(2);
    const secret = await k.ok(['-n', 'team-a', 'get', 'secret', 'creds', '-o', 'jsonpath={.data.password}']);
    expect(Buffer.from(secret, 'base64').toString()).toBe('hunter2');
    expect(await k.ok(['-n', 'team-a', 'get', 'secrets'])).toMatch(/^creds\s+Opaque\s+1\s+\d+s$/m);
    expect(await k.ok(['-n', 'team-a', 'get', 'lease'])).toMatch(/^leader\s+replica-1\s+\d+s$/m);

    const ssa = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: "1"\n  b: "2"\n`;
    expect(await k.ok(['apply', '--server-side', '-f', '-'], ssa)).toContain('configmap/ssa serverside-applied');
    expect(await k.ok(['apply', '--server-side', '-f', '-'], ssa.replace('  b: "2"\n', ''))).toContain('serverside-applied');
    const data = JSON.parse(await k.ok(['get', 'cm', 'ssa', '-o', 'jsonpath={.data}'])) as Record<string, string>;
    expect(data).toEqual({ a: '1' }); // a field the manager stopped applying is removed
    const conflict = await k.run(['apply', '--server-side', '--field-manager=other', '-f', '-'], ssa.replace('a: "1"', 'a: "9"'));
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('conflict with "kubectl"');
  });

  it('describes a Service with its events and endpoints', async () => {
    const out = await k.ok(['describe', 'service', 'nginx']);
    expect(out).toMatch(/^Name:\s+nginx$/m);
    expect(out).toMatch(/^Selector:\s+app=nginx$/m);
    expect(out).toMatch(/^Type:\s+LoadBalancer$/m);
    expect(out).toMatch(/^Port:\s+http\s+80\/TCP$/m);
  });

  it('answers errors with the Status messages kubectl prints', async () => {
    const missing = await k.run(['get', 'rs', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('Error from server (NotFound): replicasets.apps "nope" not found');
    const again = await k.run(['create', '-f', 'examples/services/nginx.yaml']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('Error from server (AlreadyExists): error when creating "examples/services/nginx.yaml": services "nginx" already exists');
    const invalid = await k.run(['create', '-f', '-'], 'apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  selector: {a: b}\n');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('The Service "bad" is invalid: spec.ports: Required value');
    const noNs = await k.run(['-n', 'ghost', 'create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n');
    expect(noNs.code).toBe(1);
    expect(noNs.stderr).toContain('namespaces "ghost" not found');
    const badSelector = await k.run(['get', 'pods', '--field-selector', 'spec.foo=1']);
    expect(badSelector.code).toBe(1);
    expect(badSelector.stderr).toContain('field label not supported: spec.foo');
  });

  it('validates unknown fields on the server: Strict rejects (≥1.27), the default warns (1.20)', async () => {
    const out = await k.run(['create', '-f', '-'], 'apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: strict\nspec:\n  foo: 1\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: i}]}\n');
    if (minor === '20') {
      // kubectl 1.20 validates client-side only and sends no fieldValidation: the server warns.
      expect(out.code, out.stderr).toBe(0);
      expect(out.stderr).toContain('Warning: unknown field "spec.foo"');
    } else {
      expect(out.code).toBe(1);
      expect(out.stderr).toMatch(/strict decoding error: unknown field "spec\.foo"/);
    }
  });

  it('installs a CRD and serves its custom resources with printer columns', async () => {
    expect(await k.ok(['apply', '-f', 'deploy/crds/clusters.federation.meridian.dev.yaml'])).toContain('customresourcedefinition.apiextensions.k8s.io/clusters.federation.meridian.dev created');
    await waitFor(async () => (await k.run(['get', 'clusters'])).code === 0, { what: 'clusters resource in discovery' });
    await k.ok(['create', '-f', '-'], 'apiVersion: federation.meridian.dev/v1beta1\nkind: Cluster\nmetadata:\n  name: gce-asia-east1-a\nspec:\n  region: asia-east1\n');
    store.update({ group: 'federation.meridian.dev', resource: 'clusters' }, { ...store.get({ group: 'federation.meridian.dev', resource: 'clusters' }, undefined, 'gce-asia-east1-a')!, status: { state: 'Ready', region: 'asia-east1' } }, { subresource: 'status' });
    const out = await k.ok(['get', 'clusters']);
    expect(out.split('\n')[0]).toMatch(/^NAME\s+STATUS\s+REGION\s+AGE$/);
    expect(out).toMatch(/^gce-asia-east1-a\s+Ready\s+asia-east1\s+\d+s$/m);
  });

  it('streams changes to `get -w`', async () => {
    const child = k.spawn(['get', 'configmaps', '-w']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => out.includes('zone-fetch'), { what: 'initial rows' });
      await k.ok(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\ndata:\n  k: v\n');
      await waitFor(() => /^watched\s+1\s+\d+s$/m.test(out), { what: 'watched configmap row', timeoutMs: 10_000 });
    } finally {
      child.kill();
    }
  });

  it('patches with merge, JSON and strategic-merge patches', async () => {
    expect(await k.ok(['patch', 'configmap', 'zone-fetch', '--type', 'merge', '-p', '{"data":{"extra":"1"}}'])).toContain('configmap/zone-fetch patched');
    expect(await k.ok(['get', 'cm', 'zone-fetch', '-o', 'jsonpath={.data.extra}'])).toBe('1');
    await k.ok(['patch', 'configmap', 'zone-fetch', '--type', 'json', '-p', '[{"op":"remove","path":"/data/extra"}]']);
    expect(await k.ok(['get', 'cm', 'zone-fetch', '-o', 'jsonpath={.data.extra}'])).toBe('');
    await k.ok(['patch', 'service', 'nginx', '-p', '{"spec":{"ports":[{"port":80,"name":"web"}]}}']);
    const ports = JSON.parse(await k.ok(['get', 'svc', 'nginx', '-o', 'jsonpath={.spec.ports}'])) as { port: number; name: string; protocol: string }[];
    expect(ports).toHaveLength(1); // merged by port, not appended
    expect(ports[0]).toMatchObject({ port: 80, name: 'web', protocol: 'TCP' });
  });

  it('creates with kubectl\'s imperative generators (protobuf bodies from kubectl ≥ 1.33)', async () => {
    expect(await k.ok(['create', 'namespace', 'imperative'])).toContain('namespace/imperative created');
    const ns = ['-n', 'imperative'];
    expect(await k.ok([...ns, 'create', 'configmap', 'settings', '--from-literal=mode=fast', '--from-literal=zone=asia'])).toContain('configmap/settings created');
    expect(await k.ok([...ns, 'create', 'secret', 'generic', 'token', '--from-literal=value=s3cret'])).toContain('secret/token created');
    expect(await k.ok([...ns, 'create', 'deployment', 'api', '--image=nginx', '--replicas=3'])).toContain('deployment.apps/api created');
    expect(await k.ok([...ns, 'create', 'service', 'clusterip', 'api', '--tcp=80:8080'])).toContain('service/api created');
    expect(JSON.parse(await k.ok([...ns, 'get', 'configmap', 'settings', '-o', 'jsonpath={.data}']))).toEqual({ mode: 'fast', zone: 'asia' });
    expect(await k.ok([...ns, 'get', 'secret', 'token', '-o', 'jsonpath={.data.value}'])).toBe(Buffer.from('s3cret').toString('base64'));
    expect(await k.ok([...ns, 'get', 'deployment', 'api', '-o', 'jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.selector.matchLabels.app}'])).toBe('3 nginx api');
    expect(await k.ok([...ns, 'get', 'service', 'api', '-o', 'jsonpath={.spec.ports[0].port}:{.spec.ports[0].targetPort}'])).toBe('80:8080');
  });

  it('scales ReplicaSets and Deployments through their scale subresource, preconditions included', async () => {
    expect(await k.ok(['scale', 'rs', 'nginx', '--replicas=5'])).toMatch(/replicaset\.(apps|extensions)\/nginx scaled/);
    expect(await k.ok(['get', 'rs', 'nginx', '-o', 'jsonpath={.spec.replicas}'])).toBe('5');
    expect(await k.ok(['-n', 'team-a', 'scale', 'deployment', 'web', '--replicas=3'])).toContain('deployment.apps/web scaled');
    const stale = await k.run(['-n', 'team-a', 'scale', 'deployment', 'web', '--replicas=4', '--current-replicas=2']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('Expected replicas to be 2, was 3');
    const scale = JSON.parse(await k.ok(['get', '--raw', '/apis/apps/v1/namespaces/team-a/deployments/web/scale'])) as unknown;
    expect(scale).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'web', namespace: 'team-a' }, spec: { replicas: 3 }, status: { selector: 'app=web' } });
  });

  it('answers a malformed body with a 400 Status, never a crash', async () => {
    const res = await fetch(`${server.url}/api/v1/namespaces/default/configmaps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind": "ConfigMap", ' });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 });
    expect((await fetch(`${server.url}/version`)).status).toBe(200);
  });

  it('forbids new content in a terminating namespace', async () => {
    await k.ok(['create', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: closing\n');
    await k.ok(['-n', 'closing', 'create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n');
    await k.run(['delete', 'namespace', 'closing', '--wait=false']);
    await waitFor(async () => (await k.ok(['get', 'ns', 'closing'])).includes('Terminating'), { what: 'Terminating' });
    const r = await k.run(['-n', 'closing', 'create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unable to create new content in namespace closing because it is being terminated');
    await k.ok(['-n', 'closing', 'patch', 'configmap', 'held', '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']);
    await waitFor(async () => (await k.run(['get', 'ns', 'closing'])).code === 1, { what: 'namespace gone once the finalizer is released' });
  });

  it('deletes, waiting for finalizers like a real server', async () => {
    expect(await k.ok(['delete', 'configmap', 'watched'])).toContain('configmap "watched" deleted');
    const gone = await k.run(['delete', 'configmap', 'watched']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('Error from server (NotFound): configmaps "watched" not found');
    expect(await k.ok(['delete', 'namespace', 'team-a'])).toContain('namespace "team-a" deleted');
    expect((await k.run(['-n', 'team-a', 'get', 'deploy', 'web'])).code).toBe(1);
  });
});
