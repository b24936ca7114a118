import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { CLI } from '../../helpers/proxy-process.js';
import { freePort, TestRedis } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { generatedName, get, render, workload, type Container, type K8sObject, type Probe, type Workload } from './kustomize.js';

/**
 * The controller and proxy containers of deploy/base, run as the kubelet would run them — their
 * args, their env (Secret and ConfigMap keys, the downward API, `$(VAR)` expansion), their mounted
 * files — against the sandbox's federation and a redis-server of the test's own, probed the way
 * their probes say. Only what a user replaces is replaced: the Redis URL and the federation
 * kubeconfig (Secrets), and the ports, which must be free on this machine.
 */

interface Pod {
  name: string;
  child: ChildProcessWithoutNullStreams;
  /** containerPort → the port it really got here. */
  ports: Map<number, number>;
  logs(): string;
}

let dir: Awaited<ReturnType<typeof tempDir>>;
let sb: Sandbox;
let redis: TestRedis;
let objects: K8sObject[];
const pods: Pod[] = [];

/** What the user's overlay puts in the two Secrets: this sandbox and this Redis. */
let secretOverrides: Map<string, Record<string, string>>;

function valueOf(kind: 'Secret' | 'ConfigMap', name: string, key: string): string {
  const override = secretOverrides.get(generatedName(name))?.[key];
  if (kind === 'Secret' && override !== undefined) return override;
  const o = get(objects, kind, name);
  const v = (o.data as Record<string, string>)[key]!;
  return kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
}

/** Starts a workload's first container as a pod would, with its mounts under `dir`. */
async function runPod(w: Workload, podName: string): Promise<Pod> {
  const c = w.pod.containers[0]!;
  const ports = new Map<number, number>();
  for (const p of c.ports ?? []) ports.set(p.containerPort, await freePort());
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const from = e.valueFrom;
    if (from?.secretKeyRef) env[e.name] = valueOf('Secret', from.secretKeyRef.name, from.secretKeyRef.key);
    else if (from?.configMapKeyRef) env[e.name] = valueOf('ConfigMap', from.configMapKeyRef.name, from.configMapKeyRef.key);
    else if (from?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
    else if (e.value !== undefined) env[e.name] = e.value;
    else throw new Error(`env ${e.name}: not emulated`);
  }
  // Mounted Secrets and ConfigMaps, each key a file.
  const root = join(dir.path, podName);
  const mounts = new Map<string, string>();
  for (const m of c.volumeMounts ?? []) {
    const v = w.pod.volumes!.find((x) => x.name === m.name)!;
    const target = join(root, m.name);
    await mkdir(target, { recursive: true });
    const source = v.secret ? { kind: 'Secret' as const, name: v.secret.secretName } : { kind: 'ConfigMap' as const, name: v.configMap!.name };
    for (const key of Object.keys((get(objects, source.kind, source.name).data as object) ?? {})) {
      let content = valueOf(source.kind, source.name, key);
      if (source.kind === 'ConfigMap' && key.endsWith('.yaml')) content = withPorts(content, ports);
      await writeFile(join(target, key), content);
    }
    mounts.set(m.mountPath, target);
  }
  const args = (c.args ?? []).map((a) => {
    let out = a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
    for (const [from, to] of mounts) out = out.replace(`=${from}/`, `=${to}/`);
    for (const [from, to] of ports) out = out.replace(new RegExp(`:${from}$`), `:${to}`);
    return out;
  });
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  let logs = '';
  child.stdout.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr.on('data', (d: Buffer) => (logs += d.toString()));
  const pod = { name: podName, child, ports, logs: () => logs };
  pods.push(pod);
  return pod;
}

/** A config file's `port:` values moved to the ports this machine gave the container's ports. */
function withPorts(yaml: string, ports: Map<number, number>): string {
  const move = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(move);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'port' && typeof x === 'number' ? (ports.get(x) ?? x) : move(x)]));
    return v;
  };
  return stringify(move(parse(yaml)));
}

/** An HTTP probe as the kubelet runs it against the pod: its status code, or 0 when refused. */
async function probe(pod: Pod, c: Container, p: Probe | undefined): Promise<number> {
  const get = p?.httpGet;
  if (!get) throw new Error('not an HTTP probe');
  const containerPort = typeof get.port === 'number' ? get.port : c.ports!.find((x) => x.name === get.port)!.containerPort;
  try {
    const res = await fetch(`http://127.0.0.1:${pod.ports.get(containerPort)}${get.path}`);
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function stop(pod: Pod): Promise<number | null> {
  if (pod.child.exitCode !== null || pod.child.signalCode !== null) return pod.child.exitCode;
  const exited = new Promise<number | null>((r) => pod.child.once('exit', (code) => r(code)));
  pod.child.kill('SIGTERM');
  const timer = setTimeout(() => pod.child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

beforeAll(async () => {
  dir = await tempDir('meridian-pods-');
  objects = (await render('deploy/base')).objects;
  redis = await TestRedis.start();
  sb = await startSandbox({ kubeconfigPath: join(dir.path, 'kubeconfig'), clusters: '2', nodeShape: { nodes: 1 } });
  secretOverrides = new Map<string, Record<string, string>>([
    ['meridian-redis', { url: redis.url }],
    // A dedicated federation API: the sandbox's, whose kubeconfig names its context federation-cluster.
    ['meridian-federation-kubeconfig', { kubeconfig: await readFile(sb.kubeconfigPath, 'utf8') }],
  ]);
}, 120_000);

afterAll(async () => {
  for (const p of pods) await stop(p);
  await sb?.stop();
  await redis?.stop();
  await dir?.remove();
});

describe("deploy/base's containers, run as the kubelet runs them", () => {
  it('the controller leads, serves its probes and publishes; the proxy follows its table, turns ready and serves the federated Ingress', async () => {
    const cw = workload(objects, 'Deployment', 'meridian-controller');
    const pw = workload(objects, 'Deployment', 'meridian-proxy');
    const cc = cw.pod.containers[0]!;
    const pc = pw.pod.containers[0]!;

    const controller = await runPod(cw, 'meridian-controller-7d9f-abcde');
    await waitFor(async () => (await probe(controller, cc, cc.readinessProbe)) === 200, { what: `controller readiness probe; logs: ${controller.logs()}`, timeoutMs: 20_000 });
    expect(await probe(controller, cc, cc.livenessProbe)).toBe(200);
    const lease = () => sb.federation.store.get({ group: 'coordination.k8s.io', resource: 'leases' }, 'federation-system', 'meridian-controller');
    await waitFor(() => (lease()?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, { what: 'the controller holding its Lease' });

    const proxy = await runPod(pw, 'meridian-proxy-5c8b-fghij');
    await waitFor(() => proxy.logs().includes('listening') || proxy.child.exitCode !== null, { what: 'proxy listening', timeoutMs: 20_000 });
    expect(proxy.child.exitCode, proxy.logs()).toBeNull();
    expect(await probe(proxy, pc, pc.livenessProbe)).toBe(200);
    // Ready once the controller's table arrived through Redis.
    await waitFor(async () => (await probe(proxy, pc, pc.readinessProbe)) === 200, { what: `proxy readiness probe; logs: ${proxy.logs()}`, timeoutMs: 20_000 });
    const admin = pc.ports!.find((p) => p.name === 'admin')!.containerPort;
    const debug = (await (await fetch(`http://127.0.0.1:${proxy.ports.get(admin)}/debug/table`)).json()) as { proxy?: string };
    expect(debug.proxy).toBe('meridian-proxy-5c8b-fghij'); // MERIDIAN_PROXY_ID from the downward API

    // The seed's objects in the federation API: the VIP serves them from a member's pods.
    const k = new Kubectl(pathKubectl(), sb.kubeconfigPath, join(dir.path, 'cache'));
    for (const f of ['examples/configmaps/zonefetch.yaml', 'examples/services/nginx.yaml', 'examples/ingress/ingress.yaml', 'examples/replicasets/nginx-rs.yaml']) {
      await k.ok(['--context', 'federation-cluster', 'create', '-f', f]);
    }
    const http = pc.ports!.find((p) => p.name === 'http')!.containerPort;
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${proxy.ports.get(http)}/`);
        return res.status === 200 && (await res.text()).includes('served from');
      },
      { what: 'the VIP serving the federated Ingress', timeoutMs: 30_000 },
    );

    // SIGTERM, as the kubelet stops a pod (after preStop): both exit cleanly.
    expect(await stop(proxy)).toBe(0);
    expect(await stop(controller)).toBe(0);
  });
});
