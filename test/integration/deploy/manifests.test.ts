import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FEDERATED_KINDS } from '../../../src/federation/kinds.js';
import { followsStore, ProxyConfigSchema, withOverrides } from '../../../src/proxy/config.js';
import { tempDir } from '../../helpers/tmp.js';
import {
  bundledKubectl,
  kustomize,
  flag,
  generatedName,
  get,
  IMAGE,
  KUSTOMIZATIONS,
  NAMESPACE,
  parseObjects,
  permissions,
  port,
  render,
  secretData,
  selects,
  workload,
  workloads,
  type Container,
  type K8sObject,
  type Kustomization,
  type PolicyRule,
  type Rendered,
} from './kustomize.js';

/**
 * deploy/ rendered by the real `kubectl kustomize`, checked for what the manifests promise:
 * hardening, probes on the ports the processes really bind, least-privilege RBAC derived from what
 * the controller does, references that resolve (generated names included), the overlays' changes.
 */

const rendered = new Map<Kustomization, Rendered>();
const objectsOf = (dir: Kustomization) => rendered.get(dir)!.objects;

beforeAll(async () => {
  for (const dir of KUSTOMIZATIONS) rendered.set(dir, await render(dir));
}, 60_000);

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');
const containersOf = (dir: Kustomization) => workloads(objectsOf(dir)).flatMap((w) => [...w.pod.containers, ...(w.pod.initContainers ?? [])]);

describe('every kustomization', () => {
  it.each(KUSTOMIZATIONS)('%s renders, and its namespaced objects live in federation-system', (dir) => {
    const objects = objectsOf(dir);
    expect(objects.length).toBeGreaterThan(0);
    const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding']);
    for (const o of objects) {
      if (clusterScoped.has(o.kind)) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBeUndefined();
      else expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NAMESPACE);
    }
  });

  it.each(KUSTOMIZATIONS)('%s: every Meridian container runs the documented image', (dir) => {
    for (const c of containersOf(dir)) {
      if (c.name === 'redis') expect(c.image).toBe('redis:7');
      else expect(c.image, c.name).toBe(IMAGE);
    }
  });

  it.each(KUSTOMIZATIONS)('%s: every pod is hardened (non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp) and sized', (dir) => {
    for (const w of workloads(objectsOf(dir))) {
      const where = `${w.object.kind}/${w.object.metadata.name}`;
      expect(w.pod.securityContext?.runAsNonRoot, where).toBe(true);
      expect(w.pod.securityContext?.runAsUser, where).toBeGreaterThan(0);
      expect(w.pod.hostPID ?? false, where).toBe(false);
      expect(w.pod.hostIPC ?? false, where).toBe(false);
      for (const c of [...w.pod.containers, ...(w.pod.initContainers ?? [])]) {
        const sc = c.securityContext ?? {};
        expect(sc.allowPrivilegeEscalation, `${where} ${c.name}`).toBe(false);
        expect(sc.readOnlyRootFilesystem, `${where} ${c.name}`).toBe(true);
        expect(sc.privileged ?? false, `${where} ${c.name}`).toBe(false);
        expect(sc.capabilities?.drop, `${where} ${c.name}`).toEqual(['ALL']);
        expect(sc.capabilities?.add ?? [], `${where} ${c.name}`).toEqual([]);
        expect(sc.seccompProfile?.type ?? w.pod.securityContext?.seccompProfile?.type, `${where} ${c.name}`).toBe('RuntimeDefault');
        for (const k of ['cpu', 'memory']) {
          expect(c.resources?.requests?.[k], `${where} ${c.name} requests.${k}`).toBeDefined();
          expect(c.resources?.limits?.[k], `${where} ${c.name} limits.${k}`).toBeDefined();
        }
        expect(c.readinessProbe, `${where} ${c.name}`).toBeDefined();
        expect(c.livenessProbe, `${where} ${c.name}`).toBeDefined();
      }
    }
  });

  it.each(KUSTOMIZATIONS)('%s: every name a pod refers to exists in the rendering (Secrets and ConfigMaps with their generated names, keys included)', (dir) => {
    const objects = objectsOf(dir);
    const exact = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);
    for (const w of workloads(objects)) {
      const where = `${w.object.kind}/${w.object.metadata.name}`;
      if (w.pod.serviceAccountName) expect(exact('ServiceAccount', w.pod.serviceAccountName), `${where} serviceAccountName`).toBeDefined();
      for (const v of w.pod.volumes ?? []) {
        if (v.secret) expect(exact('Secret', v.secret.secretName), `${where} volume ${v.name}`).toBeDefined();
        if (v.configMap) expect(exact('ConfigMap', v.configMap.name), `${where} volume ${v.name}`).toBeDefined();
      }
      for (const c of w.pod.containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
          if (!ref) continue;
          const target = exact(e.valueFrom?.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name);
          expect(target, `${where} env ${e.name}`).toBeDefined();
          expect(Object.keys({ ...((target?.data as object) ?? {}), ...((target?.stringData as object) ?? {}) }), `${where} env ${e.name}`).toContain(ref.key);
        }
        for (const m of c.volumeMounts ?? []) expect(w.pod.volumes?.map((v) => v.name), `${where} mount ${m.mountPath}`).toContain(m.name);
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          const p = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
          if (typeof p === 'string') expect(c.ports?.map((x) => x.name), `${where} probe port`).toContain(p);
        }
      }
    }
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      const spec = svc.spec as { selector: Record<string, string>; ports: { targetPort: string | number }[] };
      const backing = workloads(objects).filter((w) => selects(spec.selector, w.labels));
      expect(backing.length, `Service ${svc.metadata.name} selects one workload`).toBe(1);
      for (const p of spec.ports) if (typeof p.targetPort === 'string') expect(backing[0]!.pod.containers.flatMap((c) => c.ports ?? []).map((x) => x.name)).toContain(p.targetPort);
    }
    for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
      const sel = (pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      expect(workloads(objects).filter((w) => selects(sel, w.labels)).map((w) => w.object.metadata.name), `PDB ${pdb.metadata.name}`).toEqual([pdb.metadata.name]);
    }
    for (const w of workloads(objects)) expect(selects(w.selector, w.labels), `${w.object.kind}/${w.object.metadata.name} selects its own pods`).toBe(true);
  });

  it.each(KUSTOMIZATIONS)('%s: pods meet the Pod Security level their namespace enforces', (dir) => {
    const ns = objectsOf(dir).find((o) => o.kind === 'Namespace' && o.metadata.name === NAMESPACE);
    const level = ns?.metadata.labels?.['pod-security.kubernetes.io/enforce'];
    if (workloads(objectsOf(dir)).length) expect(level, 'a workload namespace enforces a level').toBeDefined();
    const hostNetworked = workloads(objectsOf(dir)).some((w) => w.pod.hostNetwork);
    expect(level).toBe(hostNetworked ? 'privileged' : dir === 'deploy/crds' ? undefined : 'restricted');
    if (level !== 'restricted') return;
    const allowedVolumes = new Set(['name', 'configMap', 'secret', 'emptyDir', 'projected', 'downwardAPI', 'csi', 'ephemeral', 'persistentVolumeClaim']);
    for (const w of workloads(objectsOf(dir))) {
      expect(w.pod.hostNetwork ?? false).toBe(false);
      for (const v of w.pod.volumes ?? []) for (const k of Object.keys(v)) expect(allowedVolumes.has(k), `${w.object.metadata.name} volume ${v.name}: ${k}`).toBe(true);
      for (const c of w.pod.containers) for (const p of c.ports ?? []) expect(p.hostPort, `${w.object.metadata.name} ${c.name}`).toBeUndefined();
    }
  });

  it.each(KUSTOMIZATIONS)('%s: RBAC has no wildcards and nothing that grants more RBAC', (dir) => {
    for (const role of objectsOf(dir).filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
      for (const r of role.rules as PolicyRule[]) {
        for (const list of [r.apiGroups, r.resources, r.verbs, r.resourceNames, r.nonResourceURLs]) expect(list ?? [], `${role.kind}/${role.metadata.name}`).not.toContain('*');
        expect(r.verbs.filter((v) => ['escalate', 'bind', 'impersonate', 'deletecollection', 'patch'].includes(v))).toEqual([]);
        expect(r.apiGroups ?? []).not.toContain('rbac.authorization.k8s.io');
      }
    }
  });
});

describe('deploy/base', () => {
  const base = () => objectsOf('deploy/base');

  it('holds the Namespace and the same Cluster CRD the sandbox serves', async () => {
    expect(get(base(), 'Namespace', NAMESPACE)).toBeDefined();
    const crd = get(base(), 'CustomResourceDefinition', 'clusters.federation.meridian.dev');
    const file = parse(await readFile('deploy/crds/clusters.federation.meridian.dev.yaml', 'utf8')) as K8sObject;
    expect({ ...crd, metadata: { ...crd.metadata, labels: undefined } }).toEqual({ ...file, metadata: { ...file.metadata, labels: undefined } });
  });

  it('runs 2 controller replicas with /healthz probes on the port --metrics-addr binds on every address', () => {
    const w = workload(base(), 'Deployment', 'meridian-controller');
    expect(w.replicas).toBe(2);
    const c = w.pod.containers[0]!;
    expect(c.args?.[0]).toBe('controller');
    const [host, p] = flag(c, 'metrics-addr')!.split(':');
    expect(host).toBe('0.0.0.0');
    expect(Number(p)).toBe(9902);
    expect(port(c, 'metrics')).toBe(9902);
    for (const probe of [c.readinessProbe, c.livenessProbe]) expect(probe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
  });

  it('gives the controller the federation kubeconfig as a file from a Secret, whose context is the one it asks for', () => {
    const w = workload(base(), 'Deployment', 'meridian-controller');
    const c = w.pod.containers[0]!;
    const path = flag(c, 'kubeconfig')!;
    const mount = c.volumeMounts!.find((m) => path.startsWith(`${m.mountPath}/`))!;
    expect(mount.readOnly).toBe(true);
    const volume = w.pod.volumes!.find((v) => v.name === mount.name)!;
    expect(generatedName(volume.secret!.secretName)).toBe('meridian-federation-kubeconfig');
    const kubeconfig = parse(secretData(base(), volume.secret!.secretName, path.slice(mount.mountPath.length + 1))) as {
      contexts: { name: string }[];
      users: { user: Record<string, string> }[];
    };
    expect(kubeconfig.contexts.map((x) => x.name)).toContain(flag(c, 'federation-context'));
    // By default, this cluster as the controller's ServiceAccount (whose token is mounted).
    expect(kubeconfig.users[0]!.user['token-file']).toBe('/var/run/secrets/kubernetes.io/serviceaccount/token');
    expect(w.pod.automountServiceAccountToken).toBe(true);
    expect(w.pod.serviceAccountName).toBe('meridian-controller');
  });

  it('hands the Redis URL to both parts from one Secret, as REDIS_URL, never in a ConfigMap', () => {
    for (const name of ['meridian-controller', 'meridian-proxy']) {
      const c = workload(base(), 'Deployment', name).pod.containers[0]!;
      const ref = c.env!.find((e) => e.name === 'REDIS_URL')!.valueFrom!.secretKeyRef!;
      expect(generatedName(ref.name)).toBe('meridian-redis');
      expect(ref.key).toBe('url');
    }
    expect(secretData(base(), get(base(), 'Secret', 'meridian-redis').metadata.name, 'url')).toMatch(/^redis:\/\//);
    for (const cm of base().filter((o) => o.kind === 'ConfigMap')) expect(JSON.stringify(cm.data)).not.toMatch(/redis:\/\//);
  });

  it('runs 3 proxies spread over zones, ready on /readyz and alive on /healthz of the admin port the config binds on 0.0.0.0', () => {
    const w = workload(base(), 'Deployment', 'meridian-proxy');
    expect(w.replicas).toBe(3);
    expect(w.pod.topologySpreadConstraints?.map((t) => t.topologyKey)).toContain('topology.kubernetes.io/zone');
    for (const t of w.pod.topologySpreadConstraints ?? []) expect(selects(t.labelSelector?.matchLabels, w.labels)).toBe(true);
    const c = w.pod.containers[0]!;
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    const configPath = flag(c, 'config')!;
    const mount = c.volumeMounts!.find((m) => configPath.startsWith(`${m.mountPath}/`))!;
    const cmName = w.pod.volumes!.find((v) => v.name === mount.name)!.configMap!.name;
    const raw = parse((get(base(), 'ConfigMap', cmName).data as Record<string, string>)[configPath.slice(mount.mountPath.length + 1)]!) as Record<string, unknown>;
    // Valid for the proxy itself, with REDIS_URL set as the pod sets it.
    const config = ProxyConfigSchema.parse(withOverrides(raw, {}, { REDIS_URL: 'redis://redis.example:6379' }));
    expect(followsStore(config)).toBe(true);
    expect(config.store?.redis).toBe('redis://redis.example:6379');
    expect(config.admin).toEqual({ host: '0.0.0.0', port: port(c, 'admin'), allowedHosts: [] });
    expect(config.listen).toEqual([{ host: '0.0.0.0', port: port(c, 'http'), tls: false }]);
  });

  it('gives the proxies no Kubernetes credentials: no token, no binding names their ServiceAccount', () => {
    const w = workload(base(), 'Deployment', 'meridian-proxy');
    expect(w.pod.serviceAccountName).toBe('meridian-proxy');
    expect(w.pod.automountServiceAccountToken).toBe(false);
    expect(get(base(), 'ServiceAccount', 'meridian-proxy').automountServiceAccountToken).toBe(false);
    for (const b of base().filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
      expect((b.subjects as { name: string }[]).map((s) => s.name)).not.toContain('meridian-proxy');
    }
  });

  it('exposes the VIP as a LoadBalancer that keeps client addresses, and the admin port inside the cluster', () => {
    const vip = get(base(), 'Service', 'meridian-vip').spec as { type: string; externalTrafficPolicy: string; ports: { port: number; targetPort: string }[] };
    expect(vip.type).toBe('LoadBalancer');
    expect(vip.externalTrafficPolicy).toBe('Local');
    expect(vip.ports).toEqual([expect.objectContaining({ port: 80, targetPort: 'http' })]);
    const admin = get(base(), 'Service', 'meridian-proxy-admin').spec as { type: string; ports: { targetPort: string }[] };
    expect(admin.type).toBe('ClusterIP');
    expect(admin.ports[0]!.targetPort).toBe('admin');
  });

  it('keeps a controller and all proxies but one through voluntary disruptions', () => {
    expect(get(base(), 'PodDisruptionBudget', 'meridian-controller').spec).toMatchObject({ minAvailable: 1 });
    expect(get(base(), 'PodDisruptionBudget', 'meridian-proxy').spec).toMatchObject({ maxUnavailable: 1 });
  });

  it("grants the controller exactly what it calls in the federation API: each federated kind's list, watch and update (and status), Clusters, Events, its Lease", () => {
    const cluster = new Set<string>();
    for (const k of FEDERATED_KINDS) {
      for (const verb of ['list', 'watch', 'update']) cluster.add(`${groupOf(k.apiVersion)}/${k.plural}:${verb}`);
      if (k.hasStatus) cluster.add(`${groupOf(k.apiVersion)}/${k.plural}/status:update`);
    }
    for (const p of ['/namespaces:get@federation-system', 'federation.meridian.dev/clusters:list', 'federation.meridian.dev/clusters:watch', 'federation.meridian.dev/clusters/status:update', '/events:create']) cluster.add(p);
    expect(permissions(get(base(), 'ClusterRole', 'meridian-controller'))).toEqual(cluster);
    // In federation-system only: the Lease `meridian-controller` (src/federation/controller/controller.ts) and the members' kubeconfig Secrets.
    expect(permissions(get(base(), 'Role', 'meridian-controller'))).toEqual(
      new Set(['coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get@meridian-controller', 'coordination.k8s.io/leases:update@meridian-controller', '/secrets:get']),
    );
    for (const [kind, name] of [
      ['ClusterRoleBinding', 'meridian-controller'],
      ['RoleBinding', 'meridian-controller'],
    ] as const) {
      const b = get(base(), kind, name);
      expect(b.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: kind === 'RoleBinding' ? 'Role' : 'ClusterRole', name: 'meridian-controller' });
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'meridian-controller', namespace: NAMESPACE }]);
    }
  });
});

describe('deploy/overlays/daemonset', () => {
  const ds = () => objectsOf('deploy/overlays/daemonset');

  it('replaces the proxy Deployment, its LoadBalancer Service and its budget with a DaemonSet on the host network', () => {
    expect(ds().find((o) => o.kind === 'Deployment' && o.metadata.name === 'meridian-proxy')).toBeUndefined();
    expect(ds().filter((o) => o.kind === 'Service' && (o.spec as { type?: string }).type === 'LoadBalancer')).toEqual([]);
    expect(ds().find((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'meridian-proxy')).toBeUndefined();
    const w = workload(ds(), 'DaemonSet', 'meridian-proxy');
    expect(w.pod.hostNetwork).toBe(true);
    expect(w.pod.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(w.pod.automountServiceAccountToken).toBe(false);
    // The controller is the base's, unchanged.
    expect(workload(ds(), 'Deployment', 'meridian-controller').object).toEqual(workload(objectsOf('deploy/base'), 'Deployment', 'meridian-controller').object);
  });

  it("runs the base proxy's container, but for host ports and the proxy id (the node)", () => {
    const strip = (c: Container) => ({
      ...c,
      ports: c.ports?.map(({ hostPort: _h, ...p }) => p),
      env: c.env?.filter((e) => e.name !== 'MERIDIAN_PROXY_ID'),
    });
    const daemon = workload(ds(), 'DaemonSet', 'meridian-proxy').pod.containers[0]!;
    const deployment = workload(objectsOf('deploy/base'), 'Deployment', 'meridian-proxy').pod.containers[0]!;
    expect(strip(daemon)).toEqual(strip(deployment));
    expect(daemon.ports?.map((p) => p.hostPort)).toEqual(daemon.ports?.map((p) => p.containerPort));
    expect(daemon.env?.find((e) => e.name === 'MERIDIAN_PROXY_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
  });
});

describe('deploy/overlays/try-it', () => {
  const tryIt = () => objectsOf('deploy/overlays/try-it');

  it('runs redis:7 as a StatefulSet behind a headless Service, and points the Redis Secret at it', () => {
    const w = workload(tryIt(), 'StatefulSet', 'meridian-redis');
    expect(w.replicas).toBe(1);
    const svc = get(tryIt(), 'Service', (w.object.spec as { serviceName: string }).serviceName);
    const spec = svc.spec as { clusterIP: string; ports: { port: number }[] };
    expect(spec.clusterIP).toBe('None');
    const url = new URL(secretData(tryIt(), get(tryIt(), 'Secret', 'meridian-redis').metadata.name, 'url'));
    expect(url.hostname).toBe(`${svc.metadata.name}.${NAMESPACE}.svc`);
    expect(Number(url.port)).toBe(spec.ports[0]!.port);
    // The workloads use the replaced Secret: exactly one meridian-redis Secret is rendered.
    expect(tryIt().filter((o) => o.kind === 'Secret' && generatedName(o.metadata.name) === 'meridian-redis')).toHaveLength(1);
  });
});

describe('deploy/member', () => {
  it("grants the controller, in a member, exactly what it does there: the federated kinds' copies, Ingress status, Services and Endpoints, Pods and Nodes read, health", () => {
    const objects = objectsOf('deploy/member');
    const expected = new Set<string>();
    for (const k of FEDERATED_KINDS) for (const verb of ['get', 'list', 'watch', 'create', 'update', 'delete']) expected.add(`${groupOf(k.apiVersion)}/${k.plural}:${verb}`);
    for (const p of ['networking.k8s.io/ingresses/status:update', '/endpoints:list', '/endpoints:watch', '/pods:list', '/nodes:list', '/readyz:get', '/healthz:get']) expected.add(p);
    expect(permissions(get(objects, 'ClusterRole', 'meridian-member'))).toEqual(expected);
    // The same Namespace as deploy/base's: applying either to one cluster changes nothing of the other's.
    expect(get(objects, 'Namespace', NAMESPACE)).toEqual(get(objectsOf('deploy/base'), 'Namespace', NAMESPACE));
    const token = get(objects, 'Secret', 'meridian-member-token');
    expect(token.type).toBe('kubernetes.io/service-account-token');
    expect(token.metadata.annotations?.['kubernetes.io/service-account.name']).toBe('meridian-member');
    expect(get(objects, 'ClusterRoleBinding', 'meridian-member').subjects).toEqual([{ kind: 'ServiceAccount', name: 'meridian-member', namespace: NAMESPACE }]);
  });
});

describe('older kubectl', () => {
  const kubectl127 = bundledKubectl('27');
  it.skipIf(!kubectl127).each(KUSTOMIZATIONS)('kubectl 1.27 renders %s exactly as the PATH kubectl does', async (dir) => {
    expect((await render(dir, kubectl127)).text).toBe(rendered.get(dir)!.text);
  });
});

describe("the README's own overlay", () => {
  it('renders on top of deploy/base: the image, both Secrets and the global VIP replaced, every reference following', async () => {
    const readme = await readFile('README.md', 'utf8');
    const block = /cat > my-meridian\/kustomization\.yaml <<'END'\n([\s\S]*?)\nEND\n/.exec(readme)?.[1];
    expect(block, 'the overlay in "Run it on real clusters"').toBeDefined();
    const work = await tempDir('meridian-overlay-');
    try {
      // my-meridian/ beside deploy/, as in a checkout.
      await symlink(join(process.cwd(), 'deploy'), join(work.path, 'deploy'), 'dir');
      await mkdir(join(work.path, 'my-meridian'));
      const vip = 'configMapGenerator: [{ name: meridian-controller-settings, behavior: merge, literals: ["global-vip=203.0.113.7"] }]';
      expect(readme).toContain(vip.replace('203.0.113.7', '<the address>'));
      await writeFile(join(work.path, 'my-meridian', 'kustomization.yaml'), `${block}\n${vip}\n`);
      await writeFile(join(work.path, 'my-meridian', 'federation.kubeconfig'), 'apiVersion: v1\nkind: Config\ncurrent-context: federation-cluster\n');
      const objects = parseObjects(await kustomize(join(work.path, 'my-meridian')));
      for (const w of workloads(objects)) for (const c of w.pod.containers) expect(c.image).toBe('registry.example.com/meridian:0.1.0');
      expect(secretData(objects, get(objects, 'Secret', 'meridian-redis').metadata.name, 'url')).toBe('rediss://:PASSWORD@redis.example.net:6379');
      expect(secretData(objects, get(objects, 'Secret', 'meridian-federation-kubeconfig').metadata.name, 'kubeconfig')).toContain('current-context: federation-cluster');
      expect((get(objects, 'ConfigMap', 'meridian-controller-settings').data as Record<string, string>)['global-vip']).toBe('203.0.113.7');
      const c = workload(objects, 'Deployment', 'meridian-controller').pod.containers[0]!;
      expect(c.env?.find((e) => e.name === 'REDIS_URL')?.valueFrom?.secretKeyRef?.name).toBe(get(objects, 'Secret', 'meridian-redis').metadata.name);
      expect(objects.filter((o) => o.kind === 'Secret')).toHaveLength(2);
    } finally {
      await work.remove();
    }
  });
});
