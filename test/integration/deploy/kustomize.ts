import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Every kustomization under deploy/, as a user applies it (`kubectl apply -k <dir>`). */
export const KUSTOMIZATIONS = ['deploy/base', 'deploy/overlays/daemonset', 'deploy/overlays/try-it', 'deploy/member', 'deploy/crds'] as const;
export type Kustomization = (typeof KUSTOMIZATIONS)[number];

export const IMAGE = 'ghcr.io/meridian/meridian:0.1.0';
export const NAMESPACE = 'federation-system';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

export interface Rendered {
  dir: Kustomization;
  text: string;
  objects: K8sObject[];
}

/**
 * `kubectl kustomize <dir>` with the given kubectl. No server is involved; KUBECONFIG points at
 * nothing so the PATH dispatcher does not ask some cluster's /version which kubectl to run.
 */
export function kustomize(dir: string, binary = 'kubectl'): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['kustomize', isAbsolute(dir) ? dir : join(process.cwd(), dir)], { env: { ...process.env, KUBECONFIG: '/dev/null' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl kustomize ${dir} exited ${code}: ${err}`))));
  });
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

export async function render(dir: Kustomization, binary?: string): Promise<Rendered> {
  const text = await kustomize(dir, binary);
  return { dir, text, objects: parseObjects(text) };
}

/** A bundled kubectl of another minor beside the PATH dispatcher (Google Cloud SDK), if present. */
export function bundledKubectl(minor: string): string | undefined {
  try {
    const candidate = join(dirname(realpathSync('/usr/bin/kubectl')), `kubectl.1.${minor}`);
    return existsSync(candidate) ? candidate : undefined;
  } catch {
    return undefined;
  }
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && (o.metadata.name === name || generatedName(o.metadata.name) === name));
}

export function get(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = find(objects, kind, name);
  if (!o) throw new Error(`no ${kind} ${name} in the rendering: ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

/** kustomize's generators append `-<10-char hash>` to ConfigMap and Secret names. */
export function generatedName(name: string): string {
  return name.replace(/-[a-z0-9]{10}$/, '');
}

export interface Container {
  name: string;
  image?: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number; hostPort?: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  lifecycle?: unknown;
}

export interface Probe {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
}

export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  dnsPolicy?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; secret?: { secretName: string }; configMap?: { name: string }; emptyDir?: unknown }[];
  topologySpreadConstraints?: { topologyKey: string; maxSkew: number; labelSelector?: { matchLabels?: Record<string, string> } }[];
}

export interface Workload {
  object: K8sObject;
  replicas?: number;
  selector: Record<string, string>;
  labels: Record<string, string>;
  pod: PodSpec;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

export function workloads(objects: K8sObject[]): Workload[] {
  return objects
    .filter((o) => WORKLOAD_KINDS.has(o.kind))
    .map((o) => {
      const spec = o.spec as { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
      return { object: o, ...(spec.replicas !== undefined ? { replicas: spec.replicas } : {}), selector: spec.selector.matchLabels, labels: spec.template.metadata.labels, pod: spec.template.spec };
    });
}

export function workload(objects: K8sObject[], kind: string, name: string): Workload {
  const w = workloads(objects).find((x) => x.object.kind === kind && x.object.metadata.name === name);
  if (!w) throw new Error(`no ${kind} ${name}`);
  return w;
}

/** Does a matchLabels selector select these labels? */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** `--flag=value` of a container's args. */
export function flag(c: Container, name: string): string | undefined {
  const prefix = `--${name}=`;
  return c.args?.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

export function port(c: Container, name: string): number {
  const p = c.ports?.find((x) => x.name === name);
  if (!p) throw new Error(`container ${c.name} has no port named ${name}`);
  return p.containerPort;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}

/** A role's rules flattened to `group/resource:verb[@name]` (and `url:verb` for non-resource URLs). */
export function permissions(role: K8sObject): Set<string> {
  const out = new Set<string>();
  for (const r of (role.rules as PolicyRule[] | undefined) ?? []) {
    for (const verb of r.verbs) {
      for (const url of r.nonResourceURLs ?? []) out.add(`${url}:${verb}`);
      for (const group of r.apiGroups ?? []) {
        for (const resource of r.resources ?? []) {
          if (r.resourceNames?.length) for (const n of r.resourceNames) out.add(`${group}/${resource}:${verb}@${n}`);
          else out.add(`${group}/${resource}:${verb}`);
        }
      }
    }
  }
  return out;
}

export function secretData(objects: K8sObject[], name: string, key: string): string {
  const s = get(objects, 'Secret', name);
  const data = (s.data ?? {}) as Record<string, string>;
  const string = (s.stringData ?? {}) as Record<string, string>;
  if (data[key] !== undefined) return Buffer.from(data[key], 'base64').toString('utf8');
  if (string[key] !== undefined) return string[key];
  throw new Error(`Secret ${name} has no key ${key}`);
}
