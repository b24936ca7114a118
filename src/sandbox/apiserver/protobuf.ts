import { ApiError } from './errors.js';

/**
 * Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
 * kubectl ≥ 1.33 sends from its typed clients — `kubectl create namespace|configmap|secret|
 * deployment|service|ingress|serviceaccount|role|clusterrole|rolebinding|clusterrolebinding|pdb`.
 * Decoded into the JSON form the rest of the server speaks, for the kinds and fields those
 * generators write; anything else is refused with a 415 naming what could not be read, never
 * dropped silently.
 *
 * The envelope is the 4-byte magic `k8s\0` and a runtime.Unknown {typeMeta, raw}; `raw` is the
 * object's message. Field numbers are those of k8s.io/api's generated.proto. Go's encoding writes
 * every non-pointer field, zero or not, so zero values of non-pointer fields are left out here, as
 * `omitempty` leaves them out of JSON; pointer fields (`ptr`) keep whatever was written.
 */

type Scalar = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'quantity' | 'intOrString';
type Field =
  | { n: string; t: Scalar; rep?: true; ptr?: true }
  | { n: string; t: 'msg'; s: () => Schema; rep?: true; ptr?: true; inline?: true }
  | { n: string; t: 'map'; v: 'string' | 'bytes' | 'quantity' };
interface Schema {
  name: string;
  fields: Record<number, Field>;
}

const schema = (name: string, fields: Record<number, Field>): Schema => ({ name, fields });

const Quantity = schema('Quantity', { 1: { n: 'string', t: 'string' } });
const Time = schema('Time', { 1: { n: 'seconds', t: 'int' }, 2: { n: 'nanos', t: 'int' } });
const IntOrString = schema('IntOrString', { 1: { n: 'type', t: 'int' }, 2: { n: 'intVal', t: 'int' }, 3: { n: 'strVal', t: 'string' } });
const TypeMeta = schema('TypeMeta', { 1: { n: 'apiVersion', t: 'string' }, 2: { n: 'kind', t: 'string' } });
const Unknown = schema('Unknown', {
  1: { n: 'typeMeta', t: 'msg', s: () => TypeMeta },
  2: { n: 'raw', t: 'bytes' },
  3: { n: 'contentEncoding', t: 'string' },
  4: { n: 'contentType', t: 'string' },
});

const OwnerReference = schema('OwnerReference', {
  1: { n: 'kind', t: 'string' },
  3: { n: 'name', t: 'string' },
  4: { n: 'uid', t: 'string' },
  5: { n: 'apiVersion', t: 'string' },
  6: { n: 'controller', t: 'bool', ptr: true },
  7: { n: 'blockOwnerDeletion', t: 'bool', ptr: true },
});
const ObjectMeta = schema('ObjectMeta', {
  1: { n: 'name', t: 'string' },
  2: { n: 'generateName', t: 'string' },
  3: { n: 'namespace', t: 'string' },
  4: { n: 'selfLink', t: 'string' },
  5: { n: 'uid', t: 'string' },
  6: { n: 'resourceVersion', t: 'string' },
  7: { n: 'generation', t: 'int' },
  8: { n: 'creationTimestamp', t: 'time' },
  9: { n: 'deletionTimestamp', t: 'time', ptr: true },
  10: { n: 'deletionGracePeriodSeconds', t: 'int', ptr: true },
  11: { n: 'labels', t: 'map', v: 'string' },
  12: { n: 'annotations', t: 'map', v: 'string' },
  13: { n: 'ownerReferences', t: 'msg', s: () => OwnerReference, rep: true },
  14: { n: 'finalizers', t: 'string', rep: true },
});
const LabelSelectorRequirement = schema('LabelSelectorRequirement', { 1: { n: 'key', t: 'string' }, 2: { n: 'operator', t: 'string' }, 3: { n: 'values', t: 'string', rep: true } });
const LabelSelector = schema('LabelSelector', { 1: { n: 'matchLabels', t: 'map', v: 'string' }, 2: { n: 'matchExpressions', t: 'msg', s: () => LabelSelectorRequirement, rep: true } });

const Namespace = schema('Namespace', {
  1: { n: 'metadata', t: 'msg', s: () => ObjectMeta },
  2: { n: 'spec', t: 'msg', s: () => schema('NamespaceSpec', { 1: { n: 'finalizers', t: 'string', rep: true } }) },
  3: { n: 'status', t: 'msg', s: () => schema('NamespaceStatus', { 1: { n: 'phase', t: 'string' } }) },
});
const ConfigMap = schema('ConfigMap', {
  1: { n: 'metadata', t: 'msg', s: () => ObjectMeta },
  2: { n: 'data', t: 'map', v: 'string' },
  3: { n: 'binaryData', t: 'map', v: 'bytes' },
  4: { n: 'immutable', t: 'bool', ptr: true },
});
const Secret = schema('Secret', {
  1: { n: 'metadata', t: 'msg', s: () => ObjectMeta },
  2: { n: 'data', t: 'map', v: 'bytes' },
  3: { n: 'type', t: 'string' },
  4: { n: 'stringData', t: 'map', v: 'string' },
  5: { n: 'immutable', t: 'bool', ptr: true },
});

const ContainerPort = schema('ContainerPort', { 1: { n: 'name', t: 'string' }, 2: { n: 'hostPort', t: 'int' }, 3: { n: 'containerPort', t: 'int' }, 4: { n: 'protocol', t: 'string' }, 5: { n: 'hostIP', t: 'string' } });
const EnvVar = schema('EnvVar', { 1: { n: 'name', t: 'string' }, 2: { n: 'value', t: 'string' } });
const ResourceRequirements = schema('ResourceRequirements', { 1: { n: 'limits', t: 'map', v: 'quantity' }, 2: { n: 'requests', t: 'map', v: 'quantity' } });
const Container = schema('Container', {
  1: { n: 'name', t: 'string' },
  2: { n: 'image', t: 'string' },
  3: { n: 'command', t: 'string', rep: true },
  4: { n: 'args', t: 'string', rep: true },
  5: { n: 'workingDir', t: 'string' },
  6: { n: 'ports', t: 'msg', s: () => ContainerPort, rep: true },
  7: { n: 'env', t: 'msg', s: () => EnvVar, rep: true },
  8: { n: 'resources', t: 'msg', s: () => ResourceRequirements },
  13: { n: 'terminationMessagePath', t: 'string' },
  14: { n: 'imagePullPolicy', t: 'string' },
  16: { n: 'stdin', t: 'bool' },
  17: { n: 'stdinOnce', t: 'bool' },
  18: { n: 'tty', t: 'bool' },
  20: { n: 'terminationMessagePolicy', t: 'string' },
});
const PodSpec = schema('PodSpec', {
  2: { n: 'containers', t: 'msg', s: () => Container, rep: true },
  3: { n: 'restartPolicy', t: 'string' },
  4: { n: 'terminationGracePeriodSeconds', t: 'int', ptr: true },
  5: { n: 'activeDeadlineSeconds', t: 'int', ptr: true },
  6: { n: 'dnsPolicy', t: 'string' },
  7: { n: 'nodeSelector', t: 'map', v: 'string' },
  8: { n: 'serviceAccountName', t: 'string' },
  9: { n: 'serviceAccount', t: 'string' },
  10: { n: 'nodeName', t: 'string' },
  11: { n: 'hostNetwork', t: 'bool' },
  12: { n: 'hostPID', t: 'bool' },
  13: { n: 'hostIPC', t: 'bool' },
  16: { n: 'hostname', t: 'string' },
  17: { n: 'subdomain', t: 'string' },
  19: { n: 'schedulerName', t: 'string' },
  20: { n: 'initContainers', t: 'msg', s: () => Container, rep: true },
  24: { n: 'priorityClassName', t: 'string' },
});
const PodTemplateSpec = schema('PodTemplateSpec', { 1: { n: 'metadata', t: 'msg', s: () => ObjectMeta }, 2: { n: 'spec', t: 'msg', s: () => PodSpec } });
const RollingUpdateDeployment = schema('RollingUpdateDeployment', { 1: { n: 'maxUnavailable', t: 'intOrString', ptr: true }, 2: { n: 'maxSurge', t: 'intOrString', ptr: true } });
const Deployment = schema('Deployment', {
  1: { n: 'metadata', t: 'msg', s: () => ObjectMeta },
  2: {
    n: 'spec',
    t: 'msg',
    s: () =>
      schema('DeploymentSpec', {
        1: { n: 'replicas', t: 'int', ptr: true },
        2: { n: 'selector', t: 'msg', s: () => LabelSelector, ptr: true },
        3: { n: 'template', t: 'msg', s: () => PodTemplateSpec },
        4: { n: 'strategy', t: 'msg', s: () => schema('DeploymentStrategy', { 1: { n: 'type', t: 'string' }, 2: { n: 'rollingUpdate', t: 'msg', s: () => RollingUpdateDeployment, ptr: true } }) },
        5: { n: 'minReadySeconds', t: 'int' },
        6: { n: 'revisionHistoryLimit', t: 'int', ptr: true },
        7: { n: 'paused', t: 'bool' },
        9: { n: 'progressDeadlineSeconds', t: 'int', ptr: true },
      }),
  },
  3: {
    n: 'status',
    t: 'msg',
    s: () =>
      schema('DeploymentStatus', {
        1: { n: 'observedGeneration', t: 'int' },
        2: { n: 'replicas', t: 'int' },
        3: { n: 'updatedReplicas', t: 'int' },
        4: { n: 'availableReplicas', t: 'int' },
        5: { n: 'unavailableReplicas', t: 'int' },
        7: { n: 'readyReplicas', t: 'int' },
      }),
  },
});

const ServicePort = schema('ServicePort', {
  1: { n: 'name', t: 'string' },
  2: { n: 'protocol', t: 'string' },
  3: { n: 'port', t: 'int' },
  4: { n: 'targetPort', t: 'intOrString' },
  5: { n: 'nodePort', t: 'int' },
  6: { n: 'appProtocol', t: 'string', ptr: true },
});
const Service = schema('Service', {
  1: { n: 'metadata', t: 'msg', s: () => ObjectMeta },
  2: {
    n: 'spec',
    t: 'msg',
    s: () =>
      schema('ServiceSpec', {
        1: { n: 'ports', t: 'msg', s: () => ServicePort, rep: true },
        2: { n: 'selector', t: 'map', v: 'string' },
        3: { n: 'clusterIP', t: 'string' },
        4: { n: 'type', t: 'string' },
        5: { n: 'externalIPs', t: 'string', rep: true },
        7: { n: 'sessionAffinity', t: 'string' },
        8: { n: 'loadBalancerIP', t: 'string' },
        9: { n: 'loadBalancerSourceRanges', t: 'string', rep: true },
        10: { n: 'externalName', t: 'string' },
        11: { n: 'externalTrafficPolicy', t: 'string' },
        12: { n: 'healthCheckNodePort', t: 'int' },
        13: { n: 'publishNotReadyAddresses', t: 'bool' },
        17: { n: 'ipFamilyPolicy', t: 'string', ptr: true },
        18: { n: 'clusterIPs', t: 'string', rep: true },
        19: { n: 'ipFamilies', t: 'string', rep: true },
        20: { n: 'allocateLoadBalancerNodePorts', t: 'bool', ptr: true },
        21: { n: 'loadBalancerClass', t: 'string', ptr: true },
        22: { n: 'internalTrafficPolicy', t: 'string', ptr: true },
      }),
  },
  3: { n: 'status', t: 'msg', s: () => schema('ServiceStatus', { 1: { n: 'loadBalancer', t: 'msg', s: () => schema('LoadBalancerStatus', {}) } }) },
});

const IngressBackend: Schema = schema('IngressBackend', {
  4: {
    n: 'service',
    t: 'msg',
    ptr: true,
    s: () => schema('IngressServiceBackend', { 1: { n: 'name', t: 'string' }, 2: { n: 'port', t: 'msg', s: () => schema('ServiceBackendPort', { 1: { n: 'name', t: 'string' }, 2: { n: 'number', t: 'int' } }) } }),
  },
});
const HTTPIngressPath = schema('HTTPIngressPath', { 1: { n: 'path', t: 'string' }, 2: { n: 'backend', t: 'msg', s: () => IngressBackend }, 3: { n: 'pathType', t: 'string', ptr: true } });
const IngressRule = schema('IngressRule', {
  1: { n: 'host', t: 'string' },
  // IngressRuleValue is inlined in JSON: `http` sits on the rule itself.
  2: { n: 'ingressRuleValue', t: 'msg', inline: true, s: () => schema('IngressRuleValue', { 1: { n: 'http', t: 'msg', ptr: true, s: () => schema('HTTPIngressRuleValue', { 1: { n: 'paths', t: 'msg', s: () => HTTPIngressPath, rep: true } }) } }) },
});
const Ingress = schema('Ingress', {
  1: { n: 'metadata', t: 'msg', s: () => ObjectMeta },
  2: {
    n: 'spec',
    t: 'msg',
    s: () =>
      schema('IngressSpec', {
        1: { n: 'defaultBackend', t: 'msg', s: () => IngressBackend, ptr: true },
        2: { n: 'tls', t: 'msg', rep: true, s: () => schema('IngressTLS', { 1: { n: 'hosts', t: 'string', rep: true }, 2: { n: 'secretName', t: 'string' } }) },
        3: { n: 'rules', t: 'msg', s: () => IngressRule, rep: true },
        4: { n: 'ingressClassName', t: 'string', ptr: true },
      }),
  },
  3: { n: 'status', t: 'msg', s: () => schema('IngressStatus', { 1: { n: 'loadBalancer', t: 'msg', s: () => schema('IngressLoadBalancerStatus', {}) } }) },
});

// `kubectl create serviceaccount|role|clusterrole|rolebinding|clusterrolebinding|poddisruptionbudget`.
const ServiceAccount = schema('ServiceAccount', {
  1: { n: 'metadata', t: 'msg', s: () => ObjectMeta },
  2: {
    n: 'secrets',
    t: 'msg',
    rep: true,
    s: () =>
      schema('ObjectReference', {
        1: { n: 'kind', t: 'string' },
        2: { n: 'namespace', t: 'string' },
        3: { n: 'name', t: 'string' },
        4: { n: 'uid', t: 'string' },
        5: { n: 'apiVersion', t: 'string' },
        6: { n: 'resourceVersion', t: 'string' },
        7: { n: 'fieldPath', t: 'string' },
      }),
  },
  3: { n: 'imagePullSecrets', t: 'msg', rep: true, s: () => schema('LocalObjectReference', { 1: { n: 'name', t: 'string' } }) },
  4: { n: 'automountServiceAccountToken', t: 'bool', ptr: true },
});
const PolicyRule = schema('PolicyRule', {
  1: { n: 'verbs', t: 'string', rep: true },
  2: { n: 'apiGroups', t: 'string', rep: true },
  3: { n: 'resources', t: 'string', rep: true },
  4: { n: 'resourceNames', t: 'string', rep: true },
  5: { n: 'nonResourceURLs', t: 'string', rep: true },
});
const Role = schema('Role', { 1: { n: 'metadata', t: 'msg', s: () => ObjectMeta }, 2: { n: 'rules', t: 'msg', s: () => PolicyRule, rep: true } });
const ClusterRole = schema('ClusterRole', {
  1: { n: 'metadata', t: 'msg', s: () => ObjectMeta },
  2: { n: 'rules', t: 'msg', s: () => PolicyRule, rep: true },
  3: { n: 'aggregationRule', t: 'msg', ptr: true, s: () => schema('AggregationRule', { 1: { n: 'clusterRoleSelectors', t: 'msg', s: () => LabelSelector, rep: true } }) },
});
const Subject = schema('Subject', { 1: { n: 'kind', t: 'string' }, 2: { n: 'apiGroup', t: 'string' }, 3: { n: 'name', t: 'string' }, 4: { n: 'namespace', t: 'string' } });
const RoleRef = schema('RoleRef', { 1: { n: 'apiGroup', t: 'string' }, 2: { n: 'kind', t: 'string' }, 3: { n: 'name', t: 'string' } });
const binding = (name: string) =>
  schema(name, { 1: { n: 'metadata', t: 'msg', s: () => ObjectMeta }, 2: { n: 'subjects', t: 'msg', s: () => Subject, rep: true }, 3: { n: 'roleRef', t: 'msg', s: () => RoleRef } });
const PodDisruptionBudget = schema('PodDisruptionBudget', {
  1: { n: 'metadata', t: 'msg', s: () => ObjectMeta },
  2: {
    n: 'spec',
    t: 'msg',
    s: () =>
      schema('PodDisruptionBudgetSpec', {
        1: { n: 'minAvailable', t: 'intOrString', ptr: true },
        2: { n: 'selector', t: 'msg', s: () => LabelSelector, ptr: true },
        3: { n: 'maxUnavailable', t: 'intOrString', ptr: true },
        4: { n: 'unhealthyPodEvictionPolicy', t: 'string', ptr: true },
      }),
  },
  3: {
    n: 'status',
    t: 'msg',
    s: () =>
      schema('PodDisruptionBudgetStatus', {
        1: { n: 'observedGeneration', t: 'int' },
        3: { n: 'disruptionsAllowed', t: 'int' },
        4: { n: 'currentHealthy', t: 'int' },
        5: { n: 'desiredHealthy', t: 'int' },
        6: { n: 'expectedPods', t: 'int' },
      }),
  },
});

/** The kinds whose protobuf form is understood, by `apiVersion/kind`. */
const KINDS: Record<string, Schema> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'networking.k8s.io/v1/Ingress': Ingress,
  'v1/ServiceAccount': ServiceAccount,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/RoleBinding': binding('RoleBinding'),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': binding('ClusterRoleBinding'),
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const HINT = 'send JSON instead: `kubectl create ... --dry-run=client -o yaml | kubectl create -f -`';

function unsupported(what: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - the Meridian sandbox cannot decode ${what} from protobuf; ${HINT}`);
}

class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly where: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length || shift > 63n) throw new ApiError(400, 'BadRequest', `the body of the request was in an unknown format: truncated protobuf in ${this.where}`);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  bytes(): Buffer {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new ApiError(400, 'BadRequest', `the body of the request was in an unknown format: truncated protobuf in ${this.where}`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
}

function rfc3339(seconds: number, nanos: number): string {
  const iso = new Date(seconds * 1000 + Math.floor(nanos / 1e6)).toISOString();
  return nanos ? iso : iso.replace(/\.\d{3}Z$/, 'Z');
}

function scalar(t: Scalar, wire: number, r: Reader, where: string): unknown {
  if (t === 'int' || t === 'bool') {
    if (wire !== 0) throw unsupported(`${where} (wire type ${wire})`);
    const v = r.varint();
    return t === 'bool' ? v !== 0n : Number(BigInt.asIntN(64, v));
  }
  if (wire !== 2) throw unsupported(`${where} (wire type ${wire})`);
  const raw = r.bytes();
  if (t === 'string') return raw.toString('utf8');
  if (t === 'bytes') return raw.toString('base64');
  // The small wrapper messages, through the same decoder (zero values come back absent).
  if (t === 'quantity') return (decodeMessage(raw, Quantity).string as string | undefined) ?? '';
  if (t === 'time') {
    const time = decodeMessage(raw, Time) as { seconds?: number; nanos?: number };
    return time.seconds || time.nanos ? rfc3339(time.seconds ?? 0, time.nanos ?? 0) : undefined;
  }
  const v = decodeMessage(raw, IntOrString) as { type?: number; intVal?: number; strVal?: string };
  return v.type === 1 ? (v.strVal ?? '') : (v.intVal ?? 0);
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === '' || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && v !== null && Object.keys(v).length === 0;
}

function decodeMessage(buf: Buffer, s: Schema): Record<string, unknown> {
  const r = new Reader(buf, s.name);
  const out: Record<string, unknown> = {};
  const keep = new Set<string>();
  while (!r.done) {
    const tag = Number(r.varint());
    const no = tag >>> 3;
    const wire = tag & 7;
    const f = s.fields[no];
    if (!f) throw unsupported(`field ${no} of ${s.name}`);
    const where = `${s.name}.${f.n}`;
    let value: unknown;
    if (f.t === 'map') {
      if (wire !== 2) throw unsupported(`${where} (wire type ${wire})`);
      const entry = new Reader(r.bytes(), where);
      let key = '';
      let val: unknown = f.v === 'bytes' || f.v === 'string' || f.v === 'quantity' ? '' : undefined;
      while (!entry.done) {
        const t = Number(entry.varint());
        if (t >>> 3 === 1) key = scalar('string', t & 7, entry, `${where} key`) as string;
        else if (t >>> 3 === 2) val = scalar(f.v, t & 7, entry, `${where}[${key}]`);
        else throw unsupported(`${where} entry field ${t >>> 3}`);
      }
      const m = (out[f.n] ??= {}) as Record<string, unknown>;
      m[key] = val;
      continue;
    }
    if (f.t === 'msg') {
      if (wire !== 2) throw unsupported(`${where} (wire type ${wire})`);
      value = decodeMessage(r.bytes(), f.s());
    } else value = scalar(f.t, wire, r, where);
    if (f.rep) {
      ((out[f.n] ??= []) as unknown[]).push(value);
      continue;
    }
    out[f.n] = value;
    if (f.ptr) keep.add(f.n);
  }
  // Zero values of non-pointer fields are what Go wrote for "unset": leave them out, as JSON does.
  for (const f of Object.values(s.fields)) {
    if (!(f.n in out)) continue;
    if (f.t === 'msg' && f.inline && !f.rep) {
      const inner = out[f.n] as Record<string, unknown>;
      delete out[f.n];
      for (const [k, v] of Object.entries(inner)) out[k] = v;
      continue;
    }
    if (!keep.has(f.n) && isEmpty(out[f.n])) delete out[f.n];
    else if (keep.has(f.n) && out[f.n] === undefined) delete out[f.n];
  }
  return out;
}

/** Whether a body is in Kubernetes' protobuf envelope. */
export function isKubernetesProtobuf(contentType: string): boolean {
  return contentType.startsWith('application/vnd.kubernetes.protobuf');
}

/** The JSON form of a protobuf request body, or a 415/400 Status saying why it cannot be read. */
export function decodeKubernetesProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw new ApiError(400, 'BadRequest', 'the body of the request was in an unknown format: protobuf body without the k8s envelope');
  const unknown = decodeMessage(body.subarray(4), Unknown);
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  if (unknown.contentEncoding) throw unsupported(`content encoding ${String(unknown.contentEncoding)}`);
  const key = `${typeMeta.apiVersion ?? ''}/${typeMeta.kind ?? ''}`;
  const s = KINDS[key];
  if (!s) throw unsupported(`a ${typeMeta.kind ?? 'body'} (${typeMeta.apiVersion ?? 'no apiVersion'})`);
  const raw = Buffer.from(String(unknown.raw ?? ''), 'base64');
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...decodeMessage(raw, s) };
}
