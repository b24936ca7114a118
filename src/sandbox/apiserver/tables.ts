import type { ResourceInfo } from './kinds.js';
import type { KubeObject } from './store.js';

/** Server-side printing for `kubectl get`: the columns real kube-apiserver prints for each kind. */

export interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

type Cell = string | number | boolean | null;
type Row = (o: KubeObject, now: number) => Cell[];

const col = (name: string, type = 'string', priority = 0, format = ''): Column => ({ name, type, format, description: '', priority });
const nameCol = col('Name', 'string', 0, 'name');
const ageCol = col('Age');

/** kubectl's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (y < 8) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

const age = (ts: unknown, now: number): string => (typeof ts === 'string' ? humanDuration(now - Date.parse(ts)) : '<unknown>');
const spec = (o: KubeObject) => (o.spec ?? {}) as Record<string, unknown>;
const status = (o: KubeObject) => (o.status ?? {}) as Record<string, unknown>;
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

interface Container {
  name: string;
  image?: string;
  ports?: { containerPort: number }[];
}

function containersOf(template: unknown): Container[] {
  return ((template as { spec?: { containers?: Container[] } } | undefined)?.spec?.containers ?? []) as Container[];
}

function selectorString(sel: unknown): string {
  if (!sel) return '<none>';
  const s = sel as { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  const parts = [
    ...Object.entries(s.matchLabels ?? (s.matchExpressions ? {} : (sel as Record<string, string>))).map(([k, v]) => `${k}=${v}`),
    ...(s.matchExpressions ?? []).map((e) => `${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(',')})`),
  ];
  return parts.length ? parts.join(',') : '<none>';
}

function podStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  const st = status(o);
  if (typeof st.reason === 'string' && st.reason) return st.reason;
  const waiting = ((st.containerStatuses as { state?: { waiting?: { reason?: string }; terminated?: { reason?: string } } }[] | undefined) ?? [])
    .map((c) => c.state?.waiting?.reason ?? c.state?.terminated?.reason)
    .find(Boolean);
  return waiting ?? (st.phase as string | undefined) ?? 'Pending';
}

function servicePorts(o: KubeObject): string {
  const ports = (spec(o).ports as { port: number; nodePort?: number; protocol?: string }[] | undefined) ?? [];
  if (ports.length === 0) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

function loadBalancerAddresses(o: KubeObject): string[] {
  const ingress = ((status(o).loadBalancer as { ingress?: { ip?: string; hostname?: string }[] } | undefined)?.ingress ?? []);
  return ingress.map((i) => i.ip ?? i.hostname ?? '').filter(Boolean);
}

function externalIP(o: KubeObject): string {
  const type = spec(o).type ?? 'ClusterIP';
  const external = (spec(o).externalIPs as string[] | undefined) ?? [];
  if (type === 'LoadBalancer') {
    const lb = [...loadBalancerAddresses(o), ...external];
    return lb.length ? lb.join(',') : '<pending>';
  }
  if (type === 'ExternalName') return String(spec(o).externalName ?? '<none>');
  return external.length ? external.join(',') : '<none>';
}

function ingressHosts(o: KubeObject): string {
  const hosts = ((spec(o).rules as { host?: string }[] | undefined) ?? []).map((r) => r.host).filter(Boolean);
  return hosts.length ? hosts.join(',') : '*';
}

function ingressPorts(o: KubeObject): string {
  return ((spec(o).tls as unknown[] | undefined) ?? []).length ? '80, 443' : '80';
}

function nodeReady(o: KubeObject): string {
  const ready = ((status(o).conditions as { type: string; status: string }[] | undefined) ?? []).find((c) => c.type === 'Ready');
  const base = ready?.status === 'True' ? 'Ready' : 'NotReady';
  return spec(o).unschedulable ? `${base},SchedulingDisabled` : base;
}

function endpointsString(addrs: string[]): string {
  if (addrs.length === 0) return '<none>';
  const shown = addrs.slice(0, 3).join(',');
  return addrs.length > 3 ? `${shown} + ${addrs.length - 3} more...` : shown;
}

function lastSeen(o: KubeObject, now: number): string {
  const t = (o.lastTimestamp ?? o.eventTime ?? o.firstTimestamp ?? o.metadata.creationTimestamp) as string | undefined;
  return age(t, now);
}

/** labels.FormatLabels: `k=v` pairs sorted by key, `<none>` when empty. */
function formatLabels(m: unknown): string {
  const entries = Object.entries((m as Record<string, string> | undefined) ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

/** An IntOrString as Go's String() prints it, `N/A` when unset (PodDisruptionBudget). */
const intOrString = (v: unknown): string => (v === undefined || v === null ? 'N/A' : String(v));

/** Real servers print Roles and ClusterRoles with the default table convertor: Name and Created At. */
const createdAt = { columns: [nameCol, col('Created At', 'date')], row: (o: KubeObject) => [o.metadata.name!, o.metadata.creationTimestamp ?? ''] };

/** rbac.SubjectsStrings: users, groups and `namespace/name` of service accounts, each joined by ", ". */
function bindingRow(o: KubeObject, now: number): Cell[] {
  const ref = (o.roleRef ?? {}) as { kind?: string; name?: string };
  const subjects = (o.subjects as { kind?: string; name?: string; namespace?: string }[] | undefined) ?? [];
  const names = (kind: string) => subjects.filter((s) => s.kind === kind).map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name ?? ''}` : (s.name ?? '')));
  return [o.metadata.name!, `${ref.kind ?? ''}/${ref.name ?? ''}`, age(o.metadata.creationTimestamp, now), names('User').join(', '), names('Group').join(', '), names('ServiceAccount').join(', ')];
}
const bindingColumns = [nameCol, col('Role'), ageCol, col('Users', 'string', 1), col('Groups', 'string', 1), col('ServiceAccounts', 'string', 1)];

const PRINTERS: Record<string, { columns: Column[]; row: Row }> = {
  '/pods': {
    columns: [nameCol, col('Ready'), col('Status'), col('Restarts'), ageCol, col('IP', 'string', 1), col('Node', 'string', 1), col('Nominated Node', 'string', 1), col('Readiness Gates', 'string', 1)],
    row: (o, now) => {
      const cs = (status(o).containerStatuses as { ready?: boolean; restartCount?: number }[] | undefined) ?? [];
      const total = ((spec(o).containers as unknown[] | undefined) ?? []).length;
      return [
        o.metadata.name!,
        `${cs.filter((c) => c.ready).length}/${total}`,
        podStatus(o),
        String(cs.reduce((n, c) => n + (c.restartCount ?? 0), 0)),
        age(o.metadata.creationTimestamp, now),
        (status(o).podIP as string | undefined) ?? '<none>',
        (spec(o).nodeName as string | undefined) ?? '<none>',
        (status(o).nominatedNodeName as string | undefined) ?? '<none>',
        '<none>',
      ];
    },
  },
  'apps/replicasets': {
    columns: [nameCol, col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), ageCol, col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    row: (o, now) => [
      o.metadata.name!,
      num(spec(o).replicas ?? 1),
      num(status(o).replicas),
      num(status(o).readyReplicas),
      age(o.metadata.creationTimestamp, now),
      containersOf(spec(o).template).map((c) => c.name).join(','),
      containersOf(spec(o).template).map((c) => c.image ?? '').join(','),
      selectorString(spec(o).selector),
    ],
  },
  'apps/deployments': {
    columns: [nameCol, col('Ready'), col('Up-to-date', 'integer'), col('Available', 'integer'), ageCol, col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    row: (o, now) => [
      o.metadata.name!,
      `${num(status(o).readyReplicas)}/${num(spec(o).replicas ?? 1)}`,
      num(status(o).updatedReplicas),
      num(status(o).availableReplicas),
      age(o.metadata.creationTimestamp, now),
      containersOf(spec(o).template).map((c) => c.name).join(','),
      containersOf(spec(o).template).map((c) => c.image ?? '').join(','),
      selectorString(spec(o).selector),
    ],
  },
  'apps/daemonsets': {
    columns: [
      nameCol,
      col('Desired', 'integer'),
      col('Current', 'integer'),
      col('Ready', 'integer'),
      col('Up-to-date', 'integer'),
      col('Available', 'integer'),
      col('Node Selector'),
      ageCol,
      col('Containers', 'string', 1),
      col('Images', 'string', 1),
      col('Selector', 'string', 1),
    ],
    row: (o, now) => [
      o.metadata.name!,
      num(status(o).desiredNumberScheduled),
      num(status(o).currentNumberScheduled),
      num(status(o).numberReady),
      num(status(o).updatedNumberScheduled),
      num(status(o).numberAvailable),
      formatLabels((spec(o).template as { spec?: { nodeSelector?: unknown } } | undefined)?.spec?.nodeSelector),
      age(o.metadata.creationTimestamp, now),
      containersOf(spec(o).template).map((c) => c.name).join(','),
      containersOf(spec(o).template).map((c) => c.image ?? '').join(','),
      selectorString(spec(o).selector),
    ],
  },
  'apps/statefulsets': {
    columns: [nameCol, col('Ready'), ageCol, col('Containers', 'string', 1), col('Images', 'string', 1)],
    row: (o, now) => [
      o.metadata.name!,
      `${num(status(o).readyReplicas)}/${num(spec(o).replicas ?? 1)}`,
      age(o.metadata.creationTimestamp, now),
      containersOf(spec(o).template).map((c) => c.name).join(','),
      containersOf(spec(o).template).map((c) => c.image ?? '').join(','),
    ],
  },
  'policy/poddisruptionbudgets': {
    columns: [nameCol, col('Min Available'), col('Max Unavailable'), col('Allowed Disruptions', 'integer'), ageCol],
    row: (o, now) => [o.metadata.name!, intOrString(spec(o).minAvailable), intOrString(spec(o).maxUnavailable), num(status(o).disruptionsAllowed), age(o.metadata.creationTimestamp, now)],
  },
  '/serviceaccounts': {
    columns: [nameCol, col('Secrets'), ageCol],
    row: (o, now) => [o.metadata.name!, ((o.secrets as unknown[] | undefined) ?? []).length, age(o.metadata.creationTimestamp, now)],
  },
  'rbac.authorization.k8s.io/roles': createdAt,
  'rbac.authorization.k8s.io/clusterroles': createdAt,
  'rbac.authorization.k8s.io/rolebindings': { columns: bindingColumns, row: bindingRow },
  'rbac.authorization.k8s.io/clusterrolebindings': { columns: bindingColumns, row: bindingRow },
  '/services': {
    columns: [nameCol, col('Type'), col('Cluster-IP'), col('External-IP'), col('Port(s)'), ageCol, col('Selector', 'string', 1)],
    row: (o, now) => [
      o.metadata.name!,
      (spec(o).type as string | undefined) ?? 'ClusterIP',
      (spec(o).clusterIP as string | undefined) ?? '<none>',
      externalIP(o),
      servicePorts(o),
      age(o.metadata.creationTimestamp, now),
      selectorString(spec(o).selector),
    ],
  },
  'networking.k8s.io/ingresses': {
    columns: [nameCol, col('Class'), col('Hosts'), col('Address'), col('Ports'), ageCol],
    row: (o, now) => [
      o.metadata.name!,
      (spec(o).ingressClassName as string | undefined) ?? '<none>',
      ingressHosts(o),
      loadBalancerAddresses(o).join(','),
      ingressPorts(o),
      age(o.metadata.creationTimestamp, now),
    ],
  },
  '/namespaces': {
    columns: [nameCol, col('Status'), ageCol],
    row: (o, now) => [o.metadata.name!, (status(o).phase as string | undefined) ?? 'Active', age(o.metadata.creationTimestamp, now)],
  },
  '/secrets': {
    columns: [nameCol, col('Type'), col('Data', 'integer'), ageCol],
    row: (o, now) => [o.metadata.name!, (o.type as string | undefined) ?? 'Opaque', Object.keys((o.data as object) ?? {}).length, age(o.metadata.creationTimestamp, now)],
  },
  '/configmaps': {
    columns: [nameCol, col('Data', 'integer'), ageCol],
    row: (o, now) => [o.metadata.name!, Object.keys((o.data as object) ?? {}).length + Object.keys((o.binaryData as object) ?? {}).length, age(o.metadata.creationTimestamp, now)],
  },
  '/events': {
    columns: [col('Last Seen'), col('Type'), col('Reason'), col('Object'), col('Subobject', 'string', 1), col('Source', 'string', 1), col('Message'), col('First Seen', 'string', 1), col('Count', 'integer', 1), nameCol],
    row: (o, now) => {
      const io = (o.involvedObject ?? {}) as { kind?: string; name?: string; fieldPath?: string };
      return [
        lastSeen(o, now),
        (o.type as string | undefined) ?? '',
        (o.reason as string | undefined) ?? '',
        `${(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`,
        io.fieldPath ?? '',
        ((o.source as { component?: string } | undefined)?.component ?? '') as string,
        (o.message as string | undefined) ?? '',
        age(o.firstTimestamp, now),
        num(o.count ?? 1),
        o.metadata.name!,
      ];
    },
  },
  '/nodes': {
    columns: [nameCol, col('Status'), col('Roles'), ageCol, col('Version'), col('Internal-IP', 'string', 1), col('External-IP', 'string', 1), col('OS-Image', 'string', 1), col('Kernel-Version', 'string', 1), col('Container-Runtime', 'string', 1)],
    row: (o, now) => {
      const addrs = (status(o).addresses as { type: string; address: string }[] | undefined) ?? [];
      const info = (status(o).nodeInfo ?? {}) as Record<string, string>;
      const roles = Object.keys(o.metadata.labels ?? {})
        .filter((k) => k.startsWith('node-role.kubernetes.io/'))
        .map((k) => k.slice('node-role.kubernetes.io/'.length));
      return [
        o.metadata.name!,
        nodeReady(o),
        roles.length ? roles.join(',') : '<none>',
        age(o.metadata.creationTimestamp, now),
        info.kubeletVersion ?? '',
        addrs.find((a) => a.type === 'InternalIP')?.address ?? '<none>',
        addrs.find((a) => a.type === 'ExternalIP')?.address ?? '<none>',
        info.osImage ?? '',
        info.kernelVersion ?? '',
        info.containerRuntimeVersion ?? '',
      ];
    },
  },
  '/endpoints': {
    columns: [nameCol, col('Endpoints'), ageCol],
    row: (o, now) => {
      const subsets = (o.subsets as { addresses?: { ip: string }[]; ports?: { port: number }[] }[] | undefined) ?? [];
      const addrs = subsets.flatMap((s) => (s.addresses ?? []).flatMap((a) => ((s.ports ?? []).length ? (s.ports ?? []).map((p) => `${a.ip}:${p.port}`) : [a.ip])));
      return [o.metadata.name!, endpointsString(addrs), age(o.metadata.creationTimestamp, now)];
    },
  },
  'discovery.k8s.io/endpointslices': {
    columns: [nameCol, col('AddressType'), col('Ports'), col('Endpoints'), ageCol],
    row: (o, now) => {
      const ports = ((o.ports as { port?: number }[] | undefined) ?? []).map((p) => String(p.port ?? ''));
      const addrs = ((o.endpoints as { addresses: string[] }[] | undefined) ?? []).flatMap((e) => e.addresses);
      return [o.metadata.name!, (o.addressType as string | undefined) ?? 'IPv4', ports.length ? ports.join(',') : '<unset>', endpointsString(addrs), age(o.metadata.creationTimestamp, now)];
    },
  },
  'coordination.k8s.io/leases': {
    columns: [nameCol, col('Holder'), ageCol],
    row: (o, now) => [o.metadata.name!, (spec(o).holderIdentity as string | undefined) ?? '', age(o.metadata.creationTimestamp, now)],
  },
  'apiextensions.k8s.io/customresourcedefinitions': {
    columns: [nameCol, col('Created At', 'date')],
    row: (o) => [o.metadata.name!, o.metadata.creationTimestamp ?? ''],
  },
};

/** A tiny JSONPath subset for printer columns: `.a.b`, `.a[0].b`, `.a[?(@.type=="Ready")].status`. */
export function jsonPath(obj: unknown, path: string): unknown {
  const tokens = path.replace(/^\{?\.?/, '').replace(/\}$/, '').match(/[^.[\]]+|\[[^\]]*\]/g) ?? [];
  let cur: unknown = obj;
  for (const t of tokens) {
    if (cur === undefined || cur === null) return undefined;
    if (t.startsWith('[?(')) {
      const m = /^\[\?\(@\.([\w.]+)\s*==\s*["']([^"']*)["']\)\]$/.exec(t);
      if (!m || !Array.isArray(cur)) return undefined;
      cur = cur.find((e) => jsonPath(e, m[1]!) === m[2]);
    } else if (t.startsWith('[')) {
      const i = Number(t.slice(1, -1));
      cur = Array.isArray(cur) ? cur[i] : undefined;
    } else cur = (cur as Record<string, unknown>)[t];
  }
  return cur;
}

function printerFor(info: ResourceInfo): { columns: Column[]; row: Row } {
  const builtin = PRINTERS[`${info.storage.group}/${info.storage.resource}`];
  if (builtin) return builtin;
  const extra = info.printerColumns ?? [];
  const hasAge = extra.some((c) => c.jsonPath === '.metadata.creationTimestamp');
  return {
    columns: [nameCol, ...extra.map((c) => col(c.name, c.type === 'date' ? 'string' : c.type, c.priority ?? 0, c.format ?? '')), ...(hasAge ? [] : [ageCol])],
    row: (o, now) => [
      o.metadata.name!,
      ...extra.map((c) => {
        const v = jsonPath(o, c.jsonPath);
        if (c.type === 'date') return age(v, now);
        if (v === undefined || v === null) return null;
        return typeof v === 'object' ? JSON.stringify(v) : (v as Cell);
      }),
      ...(hasAge ? [] : [age(o.metadata.creationTimestamp, now)]),
    ],
  };
}

function partial(o: KubeObject): Record<string, unknown> {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

export function toTable(
  info: ResourceInfo,
  objects: KubeObject[],
  opts: { resourceVersion?: string; continueToken?: string; remaining?: number; includeObject?: string; noHeaders?: boolean },
): Record<string, unknown> {
  const printer = printerFor(info);
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {
      ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}),
      ...(opts.continueToken ? { continue: opts.continueToken } : {}),
      ...(opts.remaining ? { remainingItemCount: opts.remaining } : {}),
    },
    ...(opts.noHeaders ? {} : { columnDefinitions: printer.columns }),
    rows: objects.map((o) => ({ cells: printer.row(o, now), object: opts.includeObject === 'Object' ? o : opts.includeObject === 'None' ? null : partial(o) })),
  };
}
