import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type RunningController } from '../../../src/federation/controller/controller.js';
import { PLACEMENT_PREFIX } from '../../../src/federation/sync/desired.js';
import { R } from '../../../src/sandbox/cluster/store-port.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

// Issue 13: the controller reads from its caches, repairs drift from its informers (the resync is
// an hour here, so nothing in this file happens because of it), keeps no per-key state past an
// object's life, retries failed member deletes, rate-limits member writes and says where each
// object went and why.
describe('federation controller at rest: reads from caches, bounded state, placement you can read', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let sb: Sandbox;
  let controller: RunningController;
  let k: Kubectl;
  /** The controller's warnings (JSON lines): a failed reconcile logs one. */
  let warnings = '';
  const names = () => [...sb.members.keys()];
  const member = (name: string) => sb.members.get(name)!;
  const api = async (method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const res = await fetch(sb.federation.url + path, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': contentType } } : {}) });
    const text = await res.text();
    if (!res.ok && res.status !== 404) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return res.status === 404 ? undefined : (JSON.parse(text) as { metadata: { annotations?: Record<string, string> } });
  };
  const configMap = (name: string, data: Record<string, string>, annotations: Record<string, string> = {}) =>
    api('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, annotations }, data });
  const copyIn = (cluster: string, name: string) => member(cluster).store.get(R.configMaps, 'default', name);
  const everywhere = (name: string, check: (data: Record<string, string>) => boolean = () => true) =>
    names().every((c) => {
      const o = copyIn(c, name);
      return o !== undefined && check((o.data ?? {}) as Record<string, string>);
    });
  /** Requests the members served since the last reset, summed, by `verb resource`. */
  const memberRequests = () => {
    const sum: Record<string, number> = {};
    for (const c of names()) for (const [k2, n] of Object.entries(member(c).server.requestCounts())) sum[k2] = (sum[k2] ?? 0) + n;
    return sum;
  };
  const resetCounts = () => {
    for (const c of names()) member(c).server.resetRequestCounts();
  };
  const resync = () => {
    for (const c of controller.syncControllers) c.enqueueAll();
  };
  const idleQueues = () => controller.syncControllers.every((c) => c.queue.depth === 0 && !c.queue.busy);

  beforeAll(async () => {
    dir = await tempDir();
    sb = await startSandbox({ clusters: '3', kubeconfigPath: join(dir.path, 'kubeconfig') });
    controller = await startController({
      kubeconfigText: await readFile(sb.kubeconfigPath, 'utf8'),
      federationContext: 'federation-cluster',
      probeIntervalMs: 200,
      resyncMs: 3_600_000,
      memberTimeoutMs: 1_000,
      memberWriteRate: { qps: 40, burst: 10 },
      logger: pino({ level: 'warn' }, { write: (line: string) => void (warnings += line) }),
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

  it('resyncs with warm caches without a single member read or write', async () => {
    for (let i = 0; i < 10; i++) await configMap(`quiet-${i}`, { n: String(i) });
    await waitFor(() => Array.from({ length: 10 }, (_, i) => `quiet-${i}`).every((n) => everywhere(n)), { what: 'ten ConfigMaps in every member' });
    await waitFor(idleQueues, { what: 'queues drained' });
    resetCounts();
    for (let round = 0; round < 3; round++) {
      resync();
      await waitFor(idleQueues, { what: 'resync done' });
    }
    const seen = memberRequests();
    // Only long-lived watches may be (re)opened; no get, list, create, update, patch or delete.
    expect(Object.keys(seen).filter((r) => !r.startsWith('watch '))).toEqual([]);
    const metrics = await (await fetch(`${controller.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^meridian_controller_api_requests_total\{cluster="gce-[^"]+",verb="watch"\} \d+/m);
    expect(metrics).toMatch(/^meridian_controller_queue_depth\{kind="ConfigMap"\} 0$/m);
  });

  it('repairs a drifted member copy at once, from its informer, with no resync', async () => {
    const c = names()[1]!;
    const copy = copyIn(c, 'quiet-3')!;
    member(c).store.update(R.configMaps, { ...copy, data: { n: 'tampered' } });
    await waitFor(() => (copyIn(c, 'quiet-3')?.data as Record<string, string> | undefined)?.n === '3', { what: 'drift repaired', timeoutMs: 5_000 });
    const metrics = await (await fetch(`${controller.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^meridian_controller_drift_repairs_total\\{kind="ConfigMap",cluster="${c}"\\} 1$`, 'm'));
  });

  it('propagates an annotation added to a federated object with a generation as a change, not as drift', async () => {
    const ingressIn = (c: string) => member(c).store.get(R.ingresses, 'default', 'annotated');
    await api('POST', '/apis/networking.k8s.io/v1/namespaces/default/ingresses', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'annotated' }, spec: { defaultBackend: { service: { name: 'annotated', port: { number: 80 } } } } });
    await waitFor(() => names().every(ingressIn), { what: 'the Ingress everywhere' });
    await waitFor(idleQueues, { what: 'queues drained' });
    // Metadata only: the generation stays where it was.
    await k.ok(['--context', 'federation-cluster', 'annotate', 'ingress', 'annotated', 'team=web']);
    await waitFor(() => names().every((c) => ingressIn(c)?.metadata.annotations?.team === 'web'), { what: 'the annotation everywhere' });
    await waitFor(idleQueues, { what: 'queues drained' });
    const metrics = await (await fetch(`${controller.metricsUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/^meridian_controller_drift_repairs_total\{kind="Ingress",[^}]*\} [1-9]/m);
  });

  it('keeps nothing about a deleted object in any per-key map', async () => {
    await configMap('short-lived', { a: '1' });
    await waitFor(() => everywhere('short-lived'), { what: 'short-lived everywhere' });
    await api('DELETE', '/api/v1/namespaces/default/configmaps/short-lived');
    await waitFor(async () => !(await api('GET', '/api/v1/namespaces/default/configmaps/short-lived')) && names().every((n) => !copyIn(n, 'short-lived')), { what: 'deleted everywhere' });
    await waitFor(idleQueues, { what: 'queues drained' });
    const held = () => controller.syncControllers.flatMap((s) => s.heldState('default/short-lived').map((h) => `${s.kind.kind}: ${h}`));
    await waitFor(() => held().length === 0, { what: `no per-key state (${held().join(', ')})`, timeoutMs: 3_000 }).catch(() => expect(held()).toEqual([]));
  });

  it('brings a deleted and re-created object, or a copy deleted in a member, back everywhere without a failed write', async () => {
    const secret = (name: string, value: string) => api('POST', '/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { v: Buffer.from(value).toString('base64') } });
    const holds = (cluster: string, ref: typeof R.configMaps | typeof R.secrets, name: string, value: string) => {
      const data = member(cluster).store.get(ref, 'default', name)?.data as Record<string, string> | undefined;
      return data?.v === (ref === R.secrets ? Buffer.from(value).toString('base64') : value);
    };
    const everywhereHolds = (value: string) => names().every((c) => holds(c, R.configMaps, 'reborn', value) && holds(c, R.secrets, 'reborn', value));
    await configMap('reborn', { v: 'first' });
    await secret('reborn', 'first');
    await waitFor(() => everywhereHolds('first'), { what: 'both kinds everywhere' });
    await waitFor(idleQueues, { what: 'queues drained' });
    warnings = '';
    // As reported: `kubectl delete` (which returns once the object is gone), then `kubectl create`.
    const fed = (args: string[]) => k.ok(['--context', 'federation-cluster', ...args]);
    for (const kind of ['configmap', 'secret']) {
      await fed(['delete', kind, 'reborn']);
      await fed(['create', ...(kind === 'secret' ? ['secret', 'generic'] : ['configmap']), 'reborn', '--from-literal=v=second']);
    }
    await waitFor(() => everywhereHolds('second'), { what: 'the re-created objects everywhere' });
    // Deleted in a member behind the federation's back: put back from the member's informer.
    const c = names()[1]!;
    member(c).store.delete(R.configMaps, 'default', 'reborn');
    member(c).store.delete(R.secrets, 'default', 'reborn');
    await waitFor(() => everywhereHolds('second'), { what: `the copies deleted in ${c} put back`, timeoutMs: 5_000 });
    await waitFor(idleQueues, { what: 'queues drained' });
    expect(warnings.split('\n').filter((line) => line.includes('reconcile failed'))).toEqual([]);
  });

  it('retries a member delete that fails until it succeeds', async () => {
    await configMap('stubborn', { a: '1' });
    await waitFor(() => everywhere('stubborn'), { what: 'stubborn everywhere' });
    const c = names()[2]!;
    member(c).server.resetRequestCounts();
    member(c).server.failRequests('delete configmaps', 500, 3);
    await api('DELETE', '/api/v1/namespaces/default/configmaps/stubborn');
    await waitFor(() => !copyIn(c, 'stubborn'), { what: `stubborn removed from ${c} after the injected failures`, timeoutMs: 10_000 });
    expect(member(c).server.requestCounts()['delete configmaps']).toBe(4);
    // The federated object is released only once every copy is gone.
    await waitFor(async () => !(await api('GET', '/api/v1/namespaces/default/configmaps/stubborn')), { what: 'federated object finalized' });
    expect(names().filter((n) => copyIn(n, 'stubborn'))).toEqual([]);
  });

  it('removes a copy whose federated object went away while its member was unreachable', async () => {
    await configMap('while-away', { a: '1' });
    await waitFor(() => everywhere('while-away'), { what: 'while-away everywhere' });
    const c = names()[0]!;
    await member(c).server.setAvailability('refuse');
    await waitFor(() => !controller.registry.ready().some((m) => m.name === c), { what: `${c} not Ready` });
    await api('DELETE', '/api/v1/namespaces/default/configmaps/while-away');
    await waitFor(async () => !(await api('GET', '/api/v1/namespaces/default/configmaps/while-away')), { what: 'federated object gone' });
    expect(copyIn(c, 'while-away')).toBeDefined();
    member(c).server.resetRequestCounts();
    await member(c).server.setAvailability('up');
    await waitFor(() => !copyIn(c, 'while-away'), { what: `leftover removed from ${c}`, timeoutMs: 10_000 });
    // Back, it is reconciled from one list per kind, never read object by object.
    expect(member(c).server.requestCounts()['get configmaps'] ?? 0).toBe(0);
  });

  it('keeps a member Ready through a probe or two that fail, and takes it out at the third', async () => {
    const c = names()[1]!;
    const changes: string[] = [];
    controller.registry.onStateChange((m, previous) => {
      if (m.name === c) changes.push(`${previous} → ${m.state}`);
    });
    // Probes every 200 ms: refused for 250 ms, one or two fail.
    await member(c).server.setAvailability('refuse');
    await new Promise((r) => setTimeout(r, 250));
    await member(c).server.setAvailability('up');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(changes).toEqual([]);
    expect(controller.registry.ready().some((m) => m.name === c)).toBe(true);
    // Refused for good: out after three failed probes, back at the first success.
    await member(c).server.setAvailability('refuse');
    await waitFor(() => changes.length === 1, { what: `${c} taken out` });
    expect(changes[0]).toMatch(/^Ready → (Offline|NotReady)$/);
    await member(c).server.setAvailability('up');
    await waitFor(() => controller.registry.ready().some((m) => m.name === c), { what: `${c} Ready again` });
  });

  it('spreads a mass change over time at the member write rate', async () => {
    const c = names()[0]!;
    member(c).server.resetRequestCounts();
    const started = performance.now();
    // Straight into the federation's store, all at once: through the API a slow machine would
    // create them slower than the bucket refills, and nothing would be throttled.
    for (let i = 0; i < 60; i++) sb.federation.store.create(R.configMaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `mass-${i}`, namespace: 'default' }, data: { i: String(i) } });
    // 40/s with bursts of 10: however fast the machine, no more than that reaches one member.
    let peak = 0;
    while (!Array.from({ length: 60 }, (_, i) => `mass-${i}`).every((n) => everywhere(n))) {
      const creates = member(c).server.requestCounts()['create configmaps'] ?? 0;
      const allowed = 10 + 40 * ((performance.now() - started) / 1000) + 1;
      peak = Math.max(peak, creates / allowed);
      expect(creates).toBeLessThanOrEqual(allowed);
      await new Promise((r) => setTimeout(r, 20));
      if (performance.now() - started > 20_000) throw new Error('mass change did not land in 20 s');
    }
    expect(member(c).server.requestCounts()['create configmaps']).toBe(60);
    const metrics = await (await fetch(`${controller.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^meridian_controller_member_writes_throttled_total\\{kind="ConfigMap",cluster="${c}"\\} [1-9]`, 'm'));
  });

  it('records each cluster\'s placement and reason on the object, shown by kubectl describe, and follows relabelled clusters', async () => {
    const [a, b, c] = names() as [string, string, string];
    const placementOf = async () =>
      Object.entries((await api('GET', '/api/v1/namespaces/default/configmaps/placed'))?.metadata.annotations ?? {})
        .filter(([key]) => key.startsWith(PLACEMENT_PREFIX))
        .map(([key, reason]) => `${key.slice(PLACEMENT_PREFIX.length)}: ${reason}`)
        .sort()
        .join('; ');
    await member(b).server.setAvailability('refuse');
    await waitFor(() => !controller.registry.ready().some((m) => m.name === b), { what: `${b} not Ready` });
    try {
      await configMap('placed', { a: '1' }, { 'federation.alpha.kubernetes.io/cluster-selector': '[{"key":"tier","operator":"in","values":["gold"]}]' });
      const none = [`${a}: excluded by cluster-selector`, `${b}: not Ready`, `${c}: excluded by cluster-selector`].sort().join('; ');
      await waitFor(async () => (await placementOf()) === none, { what: `placement "${none}"` });
      expect(names().filter((n) => copyIn(n, 'placed'))).toEqual([]);
      // Labelling clusters re-places at once (the resync is an hour away).
      await k.ok(['--context', 'federation-cluster', 'label', 'cluster', a, 'tier=gold']);
      await k.ok(['--context', 'federation-cluster', 'label', 'cluster', b, 'tier=gold']);
      const want = [`${a}: selected`, `${b}: not Ready`, `${c}: excluded by cluster-selector`].sort().join('; ');
      await waitFor(async () => (await placementOf()) === want, { what: `placement "${want}"` });
      await waitFor(() => copyIn(a, 'placed'), { what: `a copy in ${a}` });
      expect(copyIn(c, 'placed')).toBeUndefined();
      // The annotations describe the federated object only; they are not copied to members.
      expect(Object.keys(copyIn(a, 'placed')?.metadata.annotations ?? {}).filter((key) => key.startsWith(PLACEMENT_PREFIX))).toEqual([]);
      const described = await k.ok(['--context', 'federation-cluster', 'describe', 'configmap', 'placed']);
      for (const line of [`${a}: selected`, `${b}: not Ready`, `${c}: excluded by cluster-selector`]) expect(described).toContain(`${PLACEMENT_PREFIX}${line}\n`);
    } finally {
      await member(b).server.setAvailability('up');
    }
  });
});
