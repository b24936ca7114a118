import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../../src/sandbox/apiserver/store.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { R } from '../../../src/sandbox/cluster/store-port.js';


function httpGet(host: string, port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function replicaSet(name: string, replicas: number, cpu?: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }], ...(cpu ? { resources: { requests: { cpu } } } : {}) }] },
      },
    },
  };
}

const podsOf = (sb: Sandbox, cluster: string, app: string) =>
  sb.members.get(cluster)!.store.list(R.pods, 'default').items.filter((p) => p.metadata.labels?.app === app);
const phase = (p: KubeObject) => (p.status as { phase?: string }).phase;
const podIP = (p: KubeObject) => (p.status as { podIP?: string }).podIP;

describe('simulated member clusters', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let sb: Sandbox;
  let k: Kubectl;

  beforeAll(async () => {
    dir = await tempDir();
    // Small nodes so capacity runs out quickly: 2 nodes × 1 CPU per cluster.
    sb = await startSandbox({ kubeconfigPath: join(dir.path, 'kubeconfig'), nodeShape: { nodes: 2, nodeCPUMillis: 1000 } });
    k = new Kubectl(pathKubectl(), sb.kubeconfigPath, join(dir.path, 'cache'));
  });

  afterAll(async () => {
    await sb?.stop();
    await dir?.remove();
  });

  it('registers every member in the federation API with its kubeconfig Secret', async () => {
    const fed = sb.federation.store;
    const clusters = fed.list(R.clusters).items;
    expect(clusters.map((c) => c.metadata.name)).toEqual([...sb.members.keys()].sort());
    const asia = clusters.find((c) => c.metadata.name === 'gce-asia-east1-a')!;
    expect(asia.spec).toMatchObject({ region: 'asia-east1', zones: ['asia-east1-a'], clientCIDRs: ['127.16.0.0/16'], secretRef: { name: 'gce-asia-east1-a-kubeconfig' } });
    const secret = fed.get(R.secrets, 'federation-system', 'gce-asia-east1-a-kubeconfig')!;
    const kubeconfig = Buffer.from((secret.data as { kubeconfig: string }).kubeconfig, 'base64').toString();
    expect(kubeconfig).toContain(sb.members.get('gce-asia-east1-a')!.url);
    const nodes = await k.ok(['--context', 'gce-europe-west1-c', 'get', 'nodes', '-L', 'topology.kubernetes.io/zone']);
    expect(nodes).toMatch(/^gce-europe-west1-c-node-1\s+Ready\s+<none>\s+\S+\s+v1\.33\.0\s+europe-west1-c$/m);
  });

  it('runs the seed ReplicaSet: pods Running 2/2 on their own pod IPs, serving the zone page', async () => {
    const out = await k.ok(['--context', 'gce-asia-east1-b', 'create', '-f', 'examples/services/nginx.yaml', '-f', 'examples/replicasets/nginx-rs.yaml']);
    expect(out).toContain('service/nginx created');
    await waitFor(async () => /^nginx\s+9\s+9\s+9\s/m.test(await k.ok(['--context', 'gce-asia-east1-b', 'get', 'rs'])), { what: 'nginx 9/9/9' });
    const pods = await k.ok(['--context', 'gce-asia-east1-b', 'get', 'pods', '-o', 'wide']);
    expect(pods).toMatch(/^nginx-[a-z0-9]{5}\s+2\/2\s+Running\s+0\s+\S+\s+127\.17\.\d+\.\d+\s+gce-asia-east1-b-node-\d/m);

    // Endpoints name the real address and port; the page names the zone, as in the seed.
    const ep = await waitFor(() => {
      const e = sb.members.get('gce-asia-east1-b')!.store.get(R.endpoints, 'default', 'nginx');
      const subsets = (e?.subsets as { addresses?: { ip: string }[]; ports: { port: number }[] }[] | undefined) ?? [];
      return subsets[0]?.addresses?.length === 9 ? subsets[0] : undefined;
    }, { what: '9 ready endpoints' });
    const page = await httpGet(ep.addresses![0]!.ip, ep.ports[0]!.port);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<h1>Welcome to the global site! You are being served from asia-east1-b</h1>');
    const slices = sb.members.get('gce-asia-east1-b')!.store.list(R.endpointSlices, 'default').items;
    expect(slices[0]!.endpoints).toHaveLength(9);
    expect((slices[0]!.endpoints as { zone: string }[])[0]!.zone).toBe('asia-east1-b');

    // The LoadBalancer Service has an address and node port, as `describe` shows.
    const describe = await k.ok(['--context', 'gce-asia-east1-b', 'describe', 'service', 'nginx']);
    expect(describe).toMatch(/^LoadBalancer Ingress:\s+203\.0\.113\.\d+/m);
    expect(describe).toMatch(/^NodePort:\s+http\s+3\d{4}\/TCP$/m);
  });

  it('leaves pods Pending and Unschedulable past the cluster capacity', async () => {
    const store = sb.members.get('gce-europe-west1-b')!.store;
    store.create(R.replicaSets, replicaSet('big', 5, '400m')); // 2 nodes × 1000m fit 4 pods of 400m
    await waitFor(() => podsOf(sb, 'gce-europe-west1-b', 'big').filter((p) => phase(p) === 'Running').length === 4, { what: '4 running' });
    const pending = await waitFor(() => {
      const p = podsOf(sb, 'gce-europe-west1-b', 'big').find((x) => ((x.status as { conditions?: { reason?: string }[] }).conditions ?? []).some((c) => c.reason === 'Unschedulable'));
      return p;
    }, { what: 'an Unschedulable pod' });
    expect(phase(pending)).toBe('Pending');
    const cond = (pending.status as { conditions: { type: string; status: string; message: string }[] }).conditions.find((c) => c.type === 'PodScheduled')!;
    expect(cond).toMatchObject({ status: 'False', message: '0/2 nodes are available: 2 Insufficient cpu.' });
    const listing = await k.ok(['--context', 'gce-europe-west1-b', 'get', 'pods', '-l', 'app=big']);
    expect(listing.match(/\bPending\b/g)).toHaveLength(1);
    const described = await k.ok(['--context', 'gce-europe-west1-b', 'describe', 'pod', pending.metadata.name!]);
    expect(described).toMatch(/FailedScheduling\s+.*0\/2 nodes are available: 2 Insufficient cpu\./);

    // Scaling down frees room; the pending pod is the first to go.
    const rs = store.get(R.replicaSets, 'default', 'big')!;
    store.update(R.replicaSets, { ...rs, spec: { ...(rs.spec as object), replicas: 4 } });
    await waitFor(() => {
      const pods = podsOf(sb, 'gce-europe-west1-b', 'big');
      return pods.length === 4 && pods.every((p) => phase(p) === 'Running');
    }, { what: 'scale down to 4 running' });
  });

  it('rolls a Deployment onto a ReplicaSet and collects garbage when it goes', async () => {
    const store = sb.members.get('gce-us-central1-a')!.store;
    const rs = replicaSet('app', 2);
    store.create(R.deployments, { ...rs, kind: 'Deployment' });
    await waitFor(() => {
      const d = store.get(R.deployments, 'default', 'app');
      return (d?.status as { availableReplicas?: number } | undefined)?.availableReplicas === 2;
    }, { what: 'deployment available' });
    const out = await k.ok(['--context', 'gce-us-central1-a', 'get', 'deploy,rs']);
    expect(out).toMatch(/^deployment\.apps\/app\s+2\/2\s+2\s+2\s/m);
    expect(out).toMatch(/^replicaset\.apps\/app-[a-z0-9]{10}\s+2\s+2\s+2\s/m);
    expect(await k.ok(['--context', 'gce-us-central1-a', 'delete', 'deployment', 'app'])).toContain('deployment.apps "app" deleted');
    await waitFor(() => store.list(R.replicaSets, 'default').items.length === 0 && podsOf(sb, 'gce-us-central1-a', 'app').length === 0, { what: 'RS and pods collected' });
  });

  it('orphans dependents on request', async () => {
    const store = sb.members.get('gce-us-central1-b')!.store;
    store.create(R.replicaSets, replicaSet('keep', 1));
    await waitFor(() => podsOf(sb, 'gce-us-central1-b', 'keep').some((p) => phase(p) === 'Running'), { what: 'running pod' });
    await k.ok(['--context', 'gce-us-central1-b', 'delete', 'rs', 'keep', '--cascade=orphan']);
    await waitFor(() => !store.get(R.replicaSets, 'default', 'keep'), { what: 'rs gone' });
    const orphan = podsOf(sb, 'gce-us-central1-b', 'keep');
    expect(orphan).toHaveLength(1);
    expect(orphan[0]!.metadata.ownerReferences ?? []).toEqual([]);
  });

  it('injects and undoes faults: pod kill, readiness failure, API outage, zone outage', async () => {
    const cluster = 'gce-asia-east1-c';
    const member = sb.members.get(cluster)!;
    member.store.create(R.replicaSets, replicaSet('f', 2));
    member.store.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'f', namespace: 'default' }, spec: { selector: { app: 'f' }, ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] } });
    await waitFor(() => podsOf(sb, cluster, 'f').filter((p) => phase(p) === 'Running').length === 2, { what: '2 running' });
    const [victim, other] = podsOf(sb, cluster, 'f');

    // Kill: the pod's server stops, it goes Failed and its ReplicaSet replaces it.
    const victimIP = podIP(victim!)!;
    let res = await fetch(`${sb.controlUrl}/faults/clusters/${cluster}/pods/default/${victim!.metadata.name}/kill`, { method: 'POST' });
    expect(res.status).toBe(200);
    await expect(httpGet(victimIP, 80)).rejects.toThrow(/ECONNREFUSED/);
    await waitFor(() => {
      const pods = podsOf(sb, cluster, 'f');
      return pods.length === 2 && pods.every((p) => phase(p) === 'Running') && !pods.some((p) => p.metadata.name === victim!.metadata.name);
    }, { what: 'replacement pod' });

    // Readiness failure: 503 from the pod and Ready=False, so it leaves the ready endpoints.
    res = await fetch(`${sb.controlUrl}/faults/clusters/${cluster}/pods/default/${other!.metadata.name}/fail?failing=true`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect((await httpGet(podIP(other!)!, 80)).status).toBe(503);
    await waitFor(() => {
      const e = member.store.get(R.endpoints, 'default', 'f');
      return ((e?.subsets as { notReadyAddresses?: { ip: string }[] }[] | undefined) ?? []).some((s) => s.notReadyAddresses?.some((a) => a.ip === podIP(other!)));
    }, { what: 'not-ready address' });
    await fetch(`${sb.controlUrl}/faults/clusters/${cluster}/pods/default/${other!.metadata.name}/fail?failing=false`, { method: 'POST' });
    expect((await httpGet(podIP(other!)!, 80)).status).toBe(200);

    // API outage: connection refused, then back on the same address.
    res = await fetch(`${sb.controlUrl}/faults/clusters/${cluster}/api?mode=refuse`, { method: 'POST' });
    expect(await res.json()).toEqual({ cluster, api: 'refuse' });
    await expect(fetch(`${member.url}/version`)).rejects.toThrow();
    await fetch(`${sb.controlUrl}/faults/clusters/${cluster}/api?mode=hang`, { method: 'POST' });
    await expect(fetch(`${member.url}/version`, { signal: AbortSignal.timeout(300) })).rejects.toThrow();
    await fetch(`${sb.controlUrl}/faults/clusters/${cluster}/api?mode=up`, { method: 'POST' });
    expect((await fetch(`${member.url}/version`)).status).toBe(200);

    // Zone outage: every pod of the zone stops answering; restore brings them back on the same address.
    const ip = podIP(podsOf(sb, cluster, 'f')[0]!)!;
    res = await fetch(`${sb.controlUrl}/faults/zones/asia-east1-c/pods?down=true`, { method: 'POST' });
    expect(await res.json()).toMatchObject({ zone: 'asia-east1-c', down: true, clusters: [cluster] });
    await expect(httpGet(ip, 80)).rejects.toThrow(/ECONNREFUSED/);
    await fetch(`${sb.controlUrl}/faults/regions/asia-east1/pods?down=false`, { method: 'POST' });
    expect((await httpGet(ip, 80)).status).toBe(200);

    // Bad requests get a stable code.
    res = await fetch(`${sb.controlUrl}/faults/clusters/nope/api?mode=refuse`, { method: 'POST' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'E_SANDBOX_NO_SUCH_CLUSTER' });
  });
});
