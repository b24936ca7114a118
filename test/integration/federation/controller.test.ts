import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/common/log.js';
import { startController, type RunningController } from '../../../src/federation/controller/controller.js';
import type { KubeObject } from '../../../src/sandbox/apiserver/store.js';
import { startProxy } from '../../../src/proxy/main.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { R } from '../../../src/sandbox/cluster/store-port.js';

const VIP = '130.211.40.186';

describe('federation controller: the seed walkthrough and its failure cases', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let sb: Sandbox;
  let controller: RunningController;
  let k: Kubectl;
  const fed = (args: string[], input?: string) => k.ok(['--context', 'federation-cluster', ...args], input);
  const member = (name: string) => sb.members.get(name)!.store;
  const names = () => [...sb.members.keys()];
  const inAll = (ref: { group: string; resource: string }, name: string, check: (o: KubeObject) => boolean = () => true) =>
    names().every((c) => {
      const o = member(c).get(ref, 'default', name);
      return o !== undefined && check(o);
    });

  beforeAll(async () => {
    dir = await tempDir();
    sb = await startSandbox({ kubeconfigPath: join(dir.path, 'kubeconfig') });
    controller = await startController({
      kubeconfigText: await readFile(sb.kubeconfigPath, 'utf8'),
      federationContext: 'federation-cluster',
      globalVIP: VIP,
      probeIntervalMs: 200,
      resyncMs: 1_000,
      memberTimeoutMs: 1_000,
      unschedulableAfterMs: 500,
      tableOut: join(dir.path, 'routing-table.json'),
      logger: createLogger('controller-test', 'silent'),
    });
    k = new Kubectl(pathKubectl(), sb.kubeconfigPath, join(dir.path, 'cache'));
  });

  afterAll(async () => {
    await controller?.stop();
    await sb?.stop();
    await dir?.remove();
  });

  it('shows the 9 clusters Ready, as the seed does', async () => {
    await waitFor(async () => ((await fed(['get', 'clusters'])).match(/\sReady\s/g) ?? []).length === 9, { what: '9 Ready clusters' });
    const out = await fed(['get', 'clusters']);
    expect(out.split('\n')[0]).toMatch(/^NAME\s+STATUS\s+REGION\s+AGE$/);
    expect(out).toMatch(/^gce-asia-east1-a\s+Ready\s+asia-east1\s+\d+s$/m);
    expect(out).toMatch(/^gce-us-central1-c\s+Ready\s+us-central1\s+\d+s$/m);
  });

  it('propagates the seed Service, Ingress and ReplicaSet: same VIP everywhere, nginx 1/1/1 in each cluster', async () => {
    const out = await fed(['create', '-f', 'examples/services/nginx.yaml', '-f', 'examples/ingress/ingress.yaml', '-f', 'examples/replicasets/nginx-rs.yaml']);
    expect(out).toContain('service/nginx created');
    await waitFor(() => inAll(R.services, 'nginx') && inAll(R.ingresses, 'nginx', (o) => JSON.stringify(o.status).includes(VIP)), { what: 'service and ingress in all members' });
    const rsState = () => names().map((c) => {
      const rs = member(c).get(R.replicaSets, 'default', 'nginx');
      return `${c}:${(rs?.spec as { replicas?: number } | undefined)?.replicas}/${(rs?.status as { readyReplicas?: number } | undefined)?.readyReplicas}`;
    });
    await waitFor(() => rsState().every((s) => s.endsWith(':1/1')), { what: `nginx 1/1/1 in every member`, timeoutMs: 20_000 }).catch((err: Error) => {
      throw new Error(`${err.message}: ${rsState().join(' ')}`);
    });
    for (const c of names()) expect(await k.ok(['--context', c, 'get', 'rs'])).toMatch(/^nginx\s+1\s+1\s+1\s/m);
    for (const c of names()) {
      expect(await k.ok(['--context', c, 'get', 'ingress'])).toMatch(new RegExp(`^nginx\\s+<none>\\s+\\*\\s+${VIP.replace(/\./g, '\\.')}\\s+80\\s`, 'm'));
      expect(await k.ok(['--context', c, 'get', 'pods'])).toMatch(/^nginx-[a-z0-9]{5}\s+2\/2\s+Running\s/m);
    }
    // Status back in the federation: replica sums, LB union, the VIP.
    await waitFor(async () => /^nginx\s+9\s+9\s+9\s/m.test(await fed(['get', 'rs'])), { what: 'federated rs 9/9/9' });
    const described = await fed(['describe', 'services', 'nginx']);
    expect(described).toMatch(/^LoadBalancer Ingress:\s+203\.0\.113\.1, 203\.0\.113\.2, .*203\.0\.113\.9/m);
    expect(await fed(['get', 'ingress'])).toContain(VIP);
  });

  it('publishes the routing table and a proxy on it serves the seed page by place (the seed\'s curl)', async () => {
    const tablePath = join(dir.path, 'routing-table.json');
    await waitFor(async () => {
      const t = JSON.parse(await readFile(tablePath, 'utf8').catch(() => '{}')) as { backends?: Record<string, { shards: { endpoints: unknown[] }[] }> };
      const b = t.backends?.['default/nginx:80'];
      return b && b.shards.length === 9 && b.shards.every((sh) => sh.endpoints.length === 1);
    }, { what: 'a table with 9 shards of nginx', timeoutMs: 20_000 });
    await writeFile(join(dir.path, 'proxy.yaml'), `listen: [{ host: 127.0.0.1, port: 0 }]\nadmin: { host: 127.0.0.1, port: 0 }\nregion: us-central1\nhealthCheck: { intervalMs: 200, timeoutMs: 200 }\ntableFile: routing-table.json\n`);
    const proxy = await startProxy({ configPath: join(dir.path, 'proxy.yaml'), logger: createLogger('proxy-test', 'silent') });
    try {
      const port = proxy.addresses[0]!.port;
      const page = (localAddress?: string) =>
        new Promise<string>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
            let b = '';
            res.on('data', (d: Buffer) => (b += d.toString()));
            res.on('end', () => (res.statusCode === 200 ? resolve(b) : reject(new Error(`status ${res.statusCode}: ${b}`))));
          });
          req.on('error', reject);
          req.end();
        });
      // A client of unknown place is where the proxy is (us-central1); a pod is served by its own cluster.
      expect(await page()).toMatch(/You are being served from us-central1-[abc]/);
      expect(await page('127.16.0.250')).toContain('You are being served from asia-east1-a');
      // Its zone goes down: the pod's requests move to the nearest healthy shard, none fails.
      await sb.faults.setPodsDown({ zone: 'asia-east1-a' }, true);
      for (let i = 0; i < 20; i++) expect(await page('127.16.0.250')).toMatch(/You are being served from asia-east1-[bc]/);
      await sb.faults.setPodsDown({ zone: 'asia-east1-a' }, false);
    } finally {
      await proxy.drain();
    }
  });

  it('probes each backend on the readiness path of the federated workload behind it; carries the Ingress\'s HTTPS annotations to its routes', async () => {
    await fed(['create', '-f', '-'], `apiVersion: apps/v1
kind: Deployment
metadata: {name: probed}
spec:
  replicas: 9
  selector: {matchLabels: {app: probed}}
  template:
    metadata: {labels: {app: probed}}
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{containerPort: 80}]
        readinessProbe: {httpGet: {path: /ready, port: 80}}
---
apiVersion: v1
kind: Service
metadata: {name: probed}
spec:
  selector: {app: probed}
  ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: probed
  annotations: {meridian.dev/ssl-redirect: "true", meridian.dev/hsts: "max-age=600; includeSubDomains"}
spec:
  rules:
  - host: probed.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: probed, port: {number: 80}}}}]}
`);
    await waitFor(async () => {
      const t = JSON.parse(await readFile(join(dir.path, 'routing-table.json'), 'utf8')) as { backends: Record<string, { healthCheckPath?: string }> };
      return t.backends['default/probed:80']?.healthCheckPath === '/ready';
    }, { what: 'the probed backend with its readiness path', timeoutMs: 20_000 });
    const t = JSON.parse(await readFile(join(dir.path, 'routing-table.json'), 'utf8')) as { routes: { host?: string; https?: unknown }[] };
    expect(t.routes.find((r) => r.host === 'probed.test')?.https).toEqual({ plainHttp: 'redirect', hsts: 'max-age=600; includeSubDomains' });
  });

  it('tells each malformed annotation of an Ingress once, as a Warning Event on it saying what to write', async () => {
    const events = async () =>
      ((await (await fetch(`${sb.federation.url}/api/v1/namespaces/default/events`)).json()) as { items: { type: string; reason: string; message: string; involvedObject: { kind: string; name: string } }[] }).items
        .filter((e) => e.reason === 'InvalidAnnotation' && e.involvedObject.kind === 'Ingress' && e.involvedObject.name === 'typo')
        .map((e) => `${e.type}: ${e.message}`)
        .sort();
    const rule = (host: string) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'typo', port: { number: 80 } } } }] } });
    await fed(['create', '-f', '-'], JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'typo', annotations: { 'meridian.dev/ssl-redirect': 'yes', 'meridian.dev/max-rate-per-endpoint': 'fast' } }, spec: { rules: [rule('typo.test')] } }));
    const first = [
      'Warning: E_INGRESS_ANNOTATION_INVALID: meridian.dev/max-rate-per-endpoint: "fast" is not a positive number of requests per second; ignored, its endpoints get no rate limit. Write a number above 0, e.g. "100"',
      'Warning: E_INGRESS_ANNOTATION_INVALID: meridian.dev/ssl-redirect: "yes" is not "true" or "false"; ignored, plain HTTP is not redirected. Write "true" or "false" (quoted in YAML), in lower case',
    ];
    await waitFor(async () => (await events()).length === 2, { what: 'an InvalidAnnotation Event per malformed annotation' });
    expect(await events()).toEqual(first);
    // Counted once per Ingress, whatever the number of its malformed annotations.
    expect(await (await fetch(`${controller.metricsUrl}/metrics`)).text()).toMatch(/^meridian_controller_object_problems\{kind="Ingress",reason="InvalidAnnotation"\} 1$/m);
    // A rebuild of the table (the Ingress gains a host) does not tell them again.
    await fed(['patch', 'ingress', 'typo', '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/rules/-', value: rule('typo2.test') }])]);
    await waitFor(async () => (await readFile(join(dir.path, 'routing-table.json'), 'utf8')).includes('"typo2.test"'), { what: 'the table rebuilt with typo2.test' });
    expect(await events()).toEqual(first);
    // One fixed, the other wrong in a new way: only the new problem is news.
    await fed(['annotate', '--overwrite', 'ingress', 'typo', 'meridian.dev/ssl-redirect=true', 'meridian.dev/max-rate-per-endpoint=0']);
    await waitFor(async () => (await events()).length === 3, { what: 'the Event for the new value' });
    expect(await events()).toContain('Warning: E_INGRESS_ANNOTATION_INVALID: meridian.dev/max-rate-per-endpoint: "0" is not a positive number of requests per second; ignored, its endpoints get no rate limit. Write a number above 0, e.g. "100"');
  });

  it('places the preferences ReplicaSet where the seed annotation says', async () => {
    await fed(['create', '-f', 'examples/replicasets/nginx-us.yaml']);
    await waitFor(() => ['gce-us-central1-a', 'gce-us-central1-b'].every((c) => (member(c).get(R.replicaSets, 'default', 'nginx-us')?.spec as { replicas?: number } | undefined)?.replicas === 2), { what: '2+2 in us-central1-a/b' });
    for (const c of names().filter((n) => n !== 'gce-us-central1-a' && n !== 'gce-us-central1-b')) {
      expect((member(c).get(R.replicaSets, 'default', 'nginx-us')?.spec as { replicas?: number } | undefined)?.replicas ?? 0).toBe(0);
    }
    // …and says so, cluster by cluster, where `kubectl describe` shows it.
    let described = '';
    await waitFor(async () => {
      described = await fed(['describe', 'rs', 'nginx-us']);
      return ['gce-us-central1-a: selected, 2 replicas', 'gce-us-central1-b: selected, 2 replicas', 'gce-asia-east1-a: selected, 0 replicas'].every((l) => described.includes(`placement.federation.meridian.dev/${l}\n`));
    }, { what: 'the placement in describe' }).catch((err: Error) => {
      throw new Error(`${err.message}: ${described}`);
    });
  });

  it('spreads a `kubectl scale` of the federated ReplicaSet over the members', async () => {
    expect(await fed(['scale', 'rs', 'nginx', '--replicas=18'])).toContain('scaled');
    await waitFor(() => names().every((c) => (member(c).get(R.replicaSets, 'default', 'nginx')?.spec as { replicas?: number } | undefined)?.replicas === 2), { what: '2 in each of the 9 members' });
    // Down again: without `rebalance`, Federation v1 keeps replicas where they run, so the 9 stay
    // in pairs on some members rather than spreading one per member.
    await fed(['scale', 'rs', 'nginx', '--replicas=9']);
    const replicas = () => names().map((c) => (member(c).get(R.replicaSets, 'default', 'nginx')?.spec as { replicas?: number } | undefined)?.replicas ?? 0);
    await waitFor(() => replicas().reduce((a, b) => a + b, 0) === 9, { what: '9 in all' });
    expect(replicas().every((n) => n <= 2)).toBe(true);
  });

  it('catches up a cluster that was offline while a Secret changed', async () => {
    await fed(['create', '-f', '-'], 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: one\n');
    await waitFor(() => inAll(R.secrets, 'creds'), { what: 'secret everywhere' });
    await sb.faults.setClusterApi('gce-europe-west1-c', 'refuse');
    await waitFor(async () => /^gce-europe-west1-c\s+Offline/m.test(await fed(['get', 'clusters'])), { what: 'Offline' });
    await fed(['apply', '-f', '-'], 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  password: two\n');
    const two = Buffer.from('two').toString('base64');
    await waitFor(() => names().filter((c) => c !== 'gce-europe-west1-c').every((c) => (member(c).get(R.secrets, 'default', 'creds')?.data as { password?: string }).password === two), { what: 'updated on online members' });
    expect((member('gce-europe-west1-c').get(R.secrets, 'default', 'creds')!.data as { password: string }).password).toBe(Buffer.from('one').toString('base64'));
    // Its pods still serve: the routing table keeps its last-known endpoints (static stability).
    await new Promise((r) => setTimeout(r, 1500)); // a publishing round while it is Offline
    const table = JSON.parse(await readFile(join(dir.path, 'routing-table.json'), 'utf8')) as { backends: Record<string, { shards: { cluster: string; endpoints: unknown[] }[] }> };
    const kept = table.backends['default/nginx:80']!.shards.find((s) => s.cluster === 'gce-europe-west1-c');
    expect(kept?.endpoints.length ?? 0).toBe(((member('gce-europe-west1-c').get(R.replicaSets, 'default', 'nginx')?.spec as { replicas?: number } | undefined)?.replicas ?? 0));
    await sb.faults.setClusterApi('gce-europe-west1-c', 'up');
    await waitFor(() => (member('gce-europe-west1-c').get(R.secrets, 'default', 'creds')?.data as { password?: string }).password === two, { what: 'caught up after return' });
    const events = sb.federation.store.list(R.events, 'default').items.filter((e) => (e.involvedObject as { name: string }).name === 'gce-europe-west1-c');
    expect(events.map((e) => e.reason)).toEqual(expect.arrayContaining(['ClusterOffline', 'ClusterReady']));
  });

  it('repairs drift in a member', async () => {
    const store = member('gce-asia-east1-c');
    const copy = store.get(R.secrets, 'default', 'creds')!;
    store.update(R.secrets, { ...copy, data: { password: Buffer.from('tampered').toString('base64') } });
    await waitFor(() => (store.get(R.secrets, 'default', 'creds')?.data as { password?: string }).password === Buffer.from('two').toString('base64'), { what: 'drift repaired' });
    await waitFor(() => sb.federation.store.list(R.events, 'default').items.some((e) => e.reason === 'DriftRepaired' && String(e.message).includes('gce-asia-east1-c')), { what: 'DriftRepaired event' });
    // A deleted copy comes back too.
    store.delete(R.secrets, 'default', 'creds');
    await waitFor(() => store.get(R.secrets, 'default', 'creds'), { what: 'deleted copy restored' });
  });

  it('leaves a pre-existing object alone with a ConflictResolution event, and adopts it on request', async () => {
    const store = member('gce-us-central1-a');
    store.create(R.configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, data: { mine: 'yes' } });
    await fed(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n');
    await waitFor(() => names().filter((c) => c !== 'gce-us-central1-a').every((c) => member(c).get(R.configMaps, 'default', 'settings')), { what: 'propagated elsewhere' });
    await waitFor(() => sb.federation.store.list(R.events, 'default').items.some((e) => e.reason === 'ConflictResolution' && String(e.message).includes('gce-us-central1-a')), { what: 'conflict event' });
    expect(store.get(R.configMaps, 'default', 'settings')!.data).toEqual({ mine: 'yes' });
    // Events stay in the federation.
    expect(store.list(R.events, 'default').items.some((e) => e.reason === 'ConflictResolution')).toBe(false);
    await fed(['annotate', 'configmap', 'settings', 'federation.meridian.dev/adopt=true']);
    await waitFor(() => JSON.stringify(store.get(R.configMaps, 'default', 'settings')!.data) === JSON.stringify({ color: 'blue' }), { what: 'adopted' });
  });

  it('keeps serving the others while one member hangs', async () => {
    await sb.faults.setClusterApi('gce-asia-east1-b', 'hang');
    const started = Date.now();
    await fed(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: while-hanging\ndata:\n  a: "1"\n');
    await waitFor(() => names().filter((c) => c !== 'gce-asia-east1-b').every((c) => member(c).get(R.configMaps, 'default', 'while-hanging')), { what: 'propagated to the healthy members' });
    expect(Date.now() - started).toBeLessThan(10_000);
    await sb.faults.setClusterApi('gce-asia-east1-b', 'up');
    await waitFor(() => member('gce-asia-east1-b').get(R.configMaps, 'default', 'while-hanging'), { what: 'hanging member caught up' });
  });

  it('cascades deletion to members, and orphans on request', async () => {
    await fed(['delete', 'configmap', 'while-hanging']);
    await waitFor(() => names().every((c) => !member(c).get(R.configMaps, 'default', 'while-hanging')), { what: 'deleted everywhere' });
    await fed(['annotate', 'secret', 'creds', 'federation.kubernetes.io/orphan=true']);
    await fed(['delete', 'secret', 'creds']);
    await waitFor(async () => (await k.run(['--context', 'federation-cluster', 'get', 'secret', 'creds'])).code === 1, { what: 'federated secret gone' });
    expect(names().every((c) => member(c).get(R.secrets, 'default', 'creds'))).toBe(true);
    // propagationPolicy: Orphan (kubectl --cascade=orphan) works the same way.
    await fed(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep-me\n');
    await waitFor(() => inAll(R.configMaps, 'keep-me'), { what: 'keep-me everywhere' });
    await fed(['delete', 'configmap', 'keep-me', '--cascade=orphan']);
    await waitFor(async () => (await k.run(['--context', 'federation-cluster', 'get', 'configmap', 'keep-me'])).code === 1, { what: 'federated keep-me gone' });
    expect(inAll(R.configMaps, 'keep-me', (o) => o.metadata.labels?.['federation.meridian.dev/managed-by'] === undefined)).toBe(true);
  });

  it('reports a malformed preferences annotation and spreads evenly instead', async () => {
    await fed(['create', '-f', '-'], 'apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: badprefs\n  annotations:\n    federation.kubernetes.io/replica-set-preferences: "{"\nspec:\n  replicas: 9\n  selector: {matchLabels: {app: badprefs}}\n  template:\n    metadata: {labels: {app: badprefs}}\n    spec: {containers: [{name: c, image: nginx}]}\n');
    await waitFor(() => sb.federation.store.list(R.events, 'default').items.some((e) => e.reason === 'InvalidPreferences'), { what: 'InvalidPreferences event' });
    await waitFor(() => inAll(R.replicaSets, 'badprefs', (o) => (o.spec as { replicas: number }).replicas === 1), { what: 'even spread' });
    await fed(['create', '-f', '-'], 'apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: ghostprefs\n  annotations:\n    federation.kubernetes.io/replica-set-preferences: \'{"clusters": {"gce-mars-1": {"weight": 1}, "gce-asia-east1-a": {"weight": 1}}}\'\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: ghost}}\n  template:\n    metadata: {labels: {app: ghost}}\n    spec: {containers: [{name: c, image: nginx}]}\n');
    await waitFor(() => sb.federation.store.list(R.events, 'default').items.some((e) => e.reason === 'UnknownCluster' && String(e.message).includes('gce-mars-1')), { what: 'UnknownCluster event' });
    await waitFor(() => (member('gce-asia-east1-a').get(R.replicaSets, 'default', 'ghostprefs')?.spec as { replicas?: number } | undefined)?.replicas === 2, { what: 'the known cluster gets the replicas' });
    await waitFor(() => {
      const rs = sb.federation.store.get(R.replicaSets, 'default', 'badprefs');
      return ((rs?.status as { conditions?: { type: string; status: string; reason: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === 'Propagated' && c.status === 'False' && c.reason === 'InvalidPreferences');
    }, { what: 'Propagated=False condition' });
  });

  it('moves replicas away from a cluster that runs out of capacity', async () => {
    // Each 1500m pod takes a whole 2000m node: a member fits 3. Weights ask for 5 in asia-east1-a.
    const prefs = JSON.stringify({ rebalance: true, clusters: { 'gce-asia-east1-a': { weight: 10 }, 'gce-asia-east1-c': { weight: 1 } } });
    await fed(['create', '-f', '-'], `apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: heavy\n  annotations:\n    federation.kubernetes.io/replica-set-preferences: '${prefs}'\nspec:\n  replicas: 5\n  selector: {matchLabels: {app: heavy}}\n  template:\n    metadata: {labels: {app: heavy}}\n    spec: {containers: [{name: c, image: nginx, resources: {requests: {cpu: 1500m}}}]}\n`);
    const running = (c: string) => member(c).list({ group: '', resource: 'pods' }, 'default').items.filter((p) => p.metadata.labels?.app === 'heavy' && (p.status as { phase?: string }).phase === 'Running').length;
    await waitFor(() => running('gce-asia-east1-a') === 3 && running('gce-asia-east1-c') === 2, { what: '3 running in asia-east1-a, overflow 2 in asia-east1-c', timeoutMs: 20_000 });
    await waitFor(async () => /^heavy\s+5\s+\d+\s+5\s/m.test(await fed(['get', 'rs', 'heavy'])), { what: 'federated heavy ready 5' });
    const placement = (c: string) => sb.federation.store.get(R.replicaSets, 'default', 'heavy')?.metadata.annotations?.[`placement.federation.meridian.dev/${c}`];
    // v1 keeps asking the full cluster for what has no room anywhere (overflow), on top of its 3.
    await waitFor(() => placement('gce-asia-east1-a') === 'over capacity, 5 replicas (room for 3, 2 waiting for room)', { what: 'asia-east1-a over capacity' });
    expect(placement('gce-asia-east1-c')).toBe('selected, 2 replicas');
  });

  it('elects one leader through a Lease; a standby takes over when the leader steps down', async () => {
    await controller.leading;
    const standby = await startController({
      kubeconfigText: await readFile(sb.kubeconfigPath, 'utf8'),
      federationContext: 'federation-cluster',
      identity: 'standby',
      leaseTiming: { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 100 },
      logger: createLogger('standby-test', 'silent'),
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(controller.elector.isLeader).toBe(true);
      expect(standby.elector.isLeader).toBe(false);
      const lease = sb.federation.store.get({ group: 'coordination.k8s.io', resource: 'leases' }, 'federation-system', 'meridian-controller')!;
      expect((lease.spec as { holderIdentity: string }).holderIdentity).toBe(controller.elector.identity);
      await controller.stop();
      await standby.leading;
      expect(standby.elector.isLeader).toBe(true);
      // The new leader reconciles: a new object still propagates.
      await fed(['create', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after-failover\n');
      await waitFor(() => inAll(R.configMaps, 'after-failover'), { what: 'propagation by the new leader' });
    } finally {
      await standby.stop();
    }
  });
});
