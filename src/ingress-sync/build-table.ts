import type { KObject } from '../kube/rest.js';
import { hstsProblem } from '../routing/https-policy.js';
import type { HttpsPolicy, RoutingTable } from '../routing/table.js';

/** A member cluster as the table builder sees it. */
export interface ClusterFacts {
  name: string;
  region: string;
  zones: string[];
  clientCIDRs: string[];
  location?: { lat: number; lon: number };
}

/** Objects looked up by `namespace/name`. */
export interface ObjectsByKey {
  get(key: string): KObject | undefined;
}

export interface TableInputs {
  version: string;
  /** Federated Ingresses (networking.k8s.io/v1 form). */
  ingresses: readonly KObject[];
  /** Ready members only. */
  clusters: readonly ClusterFacts[];
  /** Per cluster, its Services and Endpoints by `namespace/name` (a Map, or an informer's cache). */
  services: ReadonlyMap<string, ObjectsByKey>;
  endpoints: ReadonlyMap<string, ObjectsByKey>;
  /** Federated ReplicaSets and Deployments: where a backend's readiness probe path is found. */
  workloads?: readonly KObject[];
  /** Told of each annotation that is ignored because it is malformed. */
  onProblem?: (problem: AnnotationProblem) => void;
}

/** The stable code of a malformed Ingress annotation (the Event's message starts with it). */
export const INVALID_ANNOTATION_CODE = 'E_INGRESS_ANNOTATION_INVALID';

/** One malformed annotation of one Ingress: ignored in the table, and told on the Ingress. */
export interface AnnotationProblem {
  /** The Ingress, `namespace/name`. */
  ingress: string;
  annotation: string;
  /** `E_INGRESS_ANNOTATION_INVALID: ` the annotation, what is wrong with its value, what is done instead, what to write. */
  message: string;
}

/** A user's value, quoted and escaped as JSON, and cut short: it goes into Events and logs. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

/** The message every malformed annotation gets: code, name, what is wrong, what is done instead, what to write. */
function invalid(annotation: string, wrong: string, instead: string, write: string): string {
  return `${INVALID_ANNOTATION_CODE}: ${annotation}: ${wrong}; ignored, ${instead}. Write ${write}`;
}

export const MAX_RATE_ANNOTATION = 'meridian.dev/max-rate-per-endpoint';
/** Ingress annotation: the path the proxies probe on its backends (default: the pods' readiness probe, else `/`). */
export const HEALTH_CHECK_PATH_ANNOTATION = 'meridian.dev/health-check-path';
/** Ingress annotation, `"true"`: plain-HTTP requests for its rules get 308 to the same URL over HTTPS (ingress-nginx's ssl-redirect). */
export const SSL_REDIRECT_ANNOTATION = 'meridian.dev/ssl-redirect';
/** Ingress annotation: the Strict-Transport-Security value its rules' HTTPS answers carry (e.g. `max-age=31536000; includeSubDomains`). */
export const HSTS_ANNOTATION = 'meridian.dev/hsts';
/** Ingress annotation of GCE and Federation v1, `"false"`: no plain HTTP for its rules (421 E_HTTPS_ONLY). */
export const ALLOW_HTTP_ANNOTATION = 'kubernetes.io/ingress.allow-http';

/**
 * An Ingress's HTTPS policy from its annotations, or undefined when it has none. A malformed one
 * is ignored and told (`problem`): a typo in a boolean or an HSTS value must not silently look
 * like a policy in force. `allow-http: "false"` wins over a redirect: it says no plain HTTP at all.
 */
export function httpsPolicy(annotations: Record<string, string> | undefined, problem: (annotation: string, message: string) => void): HttpsPolicy | undefined {
  if (!annotations) return undefined;
  const flag = (name: string, instead: string): boolean | undefined => {
    const v = annotations[name];
    if (v === undefined) return undefined;
    if (v === 'true' || v === 'false') return v === 'true';
    problem(name, invalid(name, `${quoted(v)} is not "true" or "false"`, instead, '"true" or "false" (quoted in YAML), in lower case'));
    return undefined;
  };
  const redirect = flag(SSL_REDIRECT_ANNOTATION, 'plain HTTP is not redirected');
  const allowHttp = flag(ALLOW_HTTP_ANNOTATION, 'plain HTTP is served');
  let hsts = annotations[HSTS_ANNOTATION]?.trim();
  if (hsts !== undefined) {
    const why = hstsProblem(hsts);
    if (why) {
      problem(HSTS_ANNOTATION, invalid(HSTS_ANNOTATION, `not a Strict-Transport-Security value (${why})`, 'no Strict-Transport-Security header is sent', 'e.g. "max-age=31536000; includeSubDomains"'));
      hsts = undefined;
    }
  }
  const plainHttp = allowHttp === false ? 'refuse' : redirect ? 'redirect' : 'serve';
  if (plainHttp === 'serve' && hsts === undefined) return undefined;
  return { plainHttp, ...(hsts !== undefined ? { hsts } : {}) };
}

/** The per-endpoint rate limit an Ingress asks for (requests per second); a malformed one is ignored and told. */
function maxRateAnnotation(value: string | undefined, problem: (annotation: string, message: string) => void): number | undefined {
  if (value === undefined) return undefined;
  const rate = value.trim() === '' ? NaN : Number(value);
  if (Number.isFinite(rate) && rate > 0) return rate;
  problem(MAX_RATE_ANNOTATION, invalid(MAX_RATE_ANNOTATION, `${quoted(value)} is not a positive number of requests per second`, 'its endpoints get no rate limit', 'a number above 0, e.g. "100"'));
  return undefined;
}

/** The path an Ingress asks its backends to be probed on; a malformed one is ignored and told. */
function healthCheckPathAnnotation(value: string | undefined, problem: (annotation: string, message: string) => void): string | undefined {
  if (value === undefined) return undefined;
  if (value.startsWith('/')) return value;
  problem(HEALTH_CHECK_PATH_ANNOTATION, invalid(HEALTH_CHECK_PATH_ANNOTATION, `${quoted(value)} is not a path (it must start with "/")`, 'its backends are probed on their pods\' readiness probe path, else "/"', 'the path to probe, e.g. "/healthz"'));
  return undefined;
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
}

/** The port of a Service an Ingress backend names (by number or name; the first when it names none). */
function servicePort(service: KObject, portKey: number | string | undefined): ServicePort | undefined {
  const ports = ((service.spec ?? {}) as { ports?: ServicePort[] }).ports ?? [];
  return ports.find((p) => p.port === portKey || p.name === portKey) ?? (portKey === undefined ? ports[0] : undefined);
}

interface ContainerSpec {
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path?: string; port?: number | string } };
}

/**
 * The path of the readiness probe of the pods behind a Service port, from the federated workload
 * whose pod template the Service selects: the probe of the container serving the target port,
 * when it is an HTTP probe on that same port.
 */
export function readinessProbePath(service: KObject, portKey: number | string | undefined, workloads: readonly KObject[]): string | undefined {
  const selector = ((service.spec ?? {}) as { selector?: Record<string, string> }).selector;
  if (!selector || Object.keys(selector).length === 0) return undefined;
  const svcPort = servicePort(service, portKey);
  if (!svcPort) return undefined;
  const target = svcPort.targetPort ?? svcPort.port;
  for (const w of workloads) {
    if (w.metadata.namespace !== service.metadata.namespace) continue;
    const template = ((w.spec ?? {}) as { template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: ContainerSpec[] } } }).template;
    const labels = template?.metadata?.labels ?? {};
    if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue;
    for (const c of template?.spec?.containers ?? []) {
      const port = (c.ports ?? []).find((p) => p.containerPort === target || (p.name !== undefined && p.name === target));
      const probe = c.readinessProbe?.httpGet;
      if (!port || !probe?.path) continue;
      const probePort = probe.port ?? port.containerPort;
      if (probePort === port.containerPort || probePort === port.name) return probe.path;
    }
  }
  return undefined;
}

interface V1Backend {
  service?: { name: string; port?: { number?: number; name?: string } };
}

/** `namespace/service:port` — the routing table's backend key. */
function backendKey(namespace: string, b: V1Backend): string | undefined {
  if (!b.service?.name) return undefined;
  const port = b.service.port?.number ?? b.service.port?.name ?? '';
  return `${namespace}/${b.service.name}:${port}`;
}

/**
 * The routing table the proxies serve, from the federation's Ingresses and what each Ready
 * member runs: one backend per Ingress backend Service port, one shard per cluster holding ready
 * endpoints of that Service (addresses and the ports pods really serve on). Pure.
 */
export function buildRoutingTable(input: TableInputs): RoutingTable {
  const routes: RoutingTable['routes'] = [];
  const backends: RoutingTable['backends'] = {};
  let defaultBackend: string | undefined;
  let defaultHttps: HttpsPolicy | undefined;
  const wanted = new Map<string, { namespace: string; service: string; port: number | string | undefined; maxRate?: number; healthCheckPath?: string }>();

  const sorted = [...input.ingresses].sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  for (const ing of sorted) {
    const ns = ing.metadata.namespace ?? 'default';
    const spec = (ing.spec ?? {}) as { defaultBackend?: V1Backend; rules?: { host?: string; http?: { paths: { path?: string; pathType?: string; backend: V1Backend }[] } }[] };
    const problem = (annotation: string, message: string) => input.onProblem?.({ ingress: `${ns}/${ing.metadata.name}`, annotation, message });
    const maxRate = maxRateAnnotation(ing.metadata.annotations?.[MAX_RATE_ANNOTATION], problem);
    const healthCheckPath = healthCheckPathAnnotation(ing.metadata.annotations?.[HEALTH_CHECK_PATH_ANNOTATION], problem);
    const https = httpsPolicy(ing.metadata.annotations, problem);
    const want = (b: V1Backend) => {
      const key = backendKey(ns, b);
      if (key && !wanted.has(key)) wanted.set(key, { namespace: ns, service: b.service!.name, port: b.service!.port?.number ?? b.service!.port?.name, ...(maxRate ? { maxRate } : {}), ...(healthCheckPath ? { healthCheckPath } : {}) });
      return key;
    };
    if (spec.defaultBackend) {
      const key = want(spec.defaultBackend);
      if (key && defaultBackend === undefined) {
        defaultBackend = key;
        defaultHttps = https;
      }
    }
    for (const rule of spec.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        const key = want(p.backend);
        if (!key) continue;
        const pathType = p.pathType === 'Exact' ? 'Exact' : 'Prefix';
        routes.push({ ...(rule.host ? { host: rule.host } : {}), path: p.path ?? '/', pathType, backend: key, ...(https ? { https } : {}) });
      }
    }
  }

  for (const [key, w] of wanted) {
    const shards: RoutingTable['backends'][string]['shards'] = [];
    let probePath = w.healthCheckPath;
    for (const c of input.clusters) {
      const svc = input.services.get(c.name)?.get(`${w.namespace}/${w.service}`);
      if (svc && probePath === undefined) probePath = readinessProbePath(svc, w.port, input.workloads ?? []);
      const ep = input.endpoints.get(c.name)?.get(`${w.namespace}/${w.service}`);
      if (!svc || !ep) continue;
      const svcPort = servicePort(svc, w.port);
      if (!svcPort) continue;
      const endpoints: { address: string; port: number; name?: string }[] = [];
      for (const subset of (ep.subsets as { addresses?: { ip: string; targetRef?: { name?: string } }[]; ports?: { name?: string; port: number }[] }[] | undefined) ?? []) {
        const ports = subset.ports ?? [];
        const port = ports.length === 1 ? ports[0] : ports.find((p) => p.name === svcPort.name);
        if (!port) continue;
        for (const a of subset.addresses ?? []) endpoints.push({ address: a.ip, port: port.port, ...(a.targetRef?.name ? { name: a.targetRef.name } : {}) });
      }
      endpoints.sort((a, b) => `${a.address}:${a.port}`.localeCompare(`${b.address}:${b.port}`));
      shards.push({
        cluster: c.name,
        region: c.region,
        ...(c.zones.length === 1 ? { zone: c.zones[0]! } : {}),
        ...(c.location ? { location: c.location } : {}),
        endpoints,
        ...(w.maxRate ? { maxRatePerEndpoint: w.maxRate } : {}),
        capacityScaler: 1,
      });
    }
    backends[key] = { shards, ...(probePath ? { healthCheckPath: probePath } : {}) };
  }

  return {
    version: input.version,
    routes,
    ...(defaultBackend ? { defaultBackend } : {}),
    ...(defaultBackend && defaultHttps ? { defaultHttps } : {}),
    backends,
    clusters: Object.fromEntries(input.clusters.map((c) => [c.name, { region: c.region, clientCIDRs: c.clientCIDRs, ...(c.location ? { location: c.location } : {}) }])),
  };
}
