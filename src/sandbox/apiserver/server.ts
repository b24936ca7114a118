import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { fromStorage, toStorage } from './convert.js';
import { Defaulter } from './defaults.js';
import {
  aggregatedDiscovery,
  legacyApiVersions,
  legacyGroup,
  legacyGroupList,
  negotiateDiscovery,
  OPENAPI_V2_CONTENT_TYPE,
  OPENAPI_V2_PROTOBUF,
  openApiV3Document,
  openApiV3Index,
  resourceList,
  versionInfo,
} from './discovery.js';
import { ApiError, badRequest, notFound, qualifiedResource } from './errors.js';
import type { ResourceInfo } from './kinds.js';
import { jsonPatch, mergePatch, recordUpdate, serverSideApply, strategicMergePatch, type ManagedFieldsEntry } from './patch.js';
import { parseResourcePath, type ResourcePath } from './paths.js';
import { decodeKubernetesProtobuf, isKubernetesProtobuf } from './protobuf.js';
import { hasScale, requestedReplicas, toScale } from './scale.js';
import { parseFieldSelector, parseLabelSelector, type Matcher } from './selectors.js';
import { rfc3339, type ClusterStore, type KubeObject, type WatchEventType } from './store.js';
import { toTable } from './tables.js';
import { strictDecodingError, unknownFields, validateObject } from './validate.js';

export type Availability = 'up' | 'refuse' | 'hang';

export interface ApiServerOptions {
  store: ClusterStore;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** What `/version` reports; the PATH kubectl dispatcher runs its bundled kubectl of this minor. */
  versionMinor?: string;
  name?: string;
  /** Interval of watch BOOKMARK events when a client allows them. */
  bookmarkIntervalMs?: number;
}

export interface ApiServer {
  url: string;
  port: number;
  name: string;
  /** 'refuse': nothing listens (ECONNREFUSED); 'hang': connections accepted, never answered; 'up'. */
  setAvailability(mode: Availability): Promise<void>;
  availability(): Availability;
  /** Ends every open watch cleanly, as a real server does when its watch timeout runs out. */
  closeWatches(): void;
  /**
   * Requests served so far, by audit verb and resource (`get configmaps`, `list pods`,
   * `watch configmaps`, `update ingresses/status`…): what a client costs this server.
   */
  requestCounts(): Record<string, number>;
  resetRequestCounts(): void;
  /**
   * Answers the next `times` requests of one audit verb and resource (`delete configmaps`) with
   * `status`, as a member with a failing etcd or admission webhook (5xx), RBAC that does not
   * grant the verb (403: `forbidden`, as the real API words it) or no such API (404) would.
   * `times` defaults to every request until lifted; 0 lifts the fault.
   */
  failRequests(request: string, status: number, times?: number): void;
  /** Whether a resource (plural, `configmaps`) of any group is served: a fault on one that is not would never fire. */
  serves(resource: string): boolean;
  close(): Promise<void>;
}

const MAX_BODY = 3 * 1024 * 1024;
const CRD_REF = { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' };

/** Starts an emulated Kubernetes API server for one cluster's store, over plain HTTP on loopback. */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const api = new ApiHandler(opts.store, opts.versionMinor ?? '33', opts.bookmarkIntervalMs ?? 5_000);
  const sockets = new Set<Socket>();
  let mode: Availability = 'up';
  const server: Server = createServer((req, res) => {
    if (mode === 'hang') return; // accepted, never answered
    api.handle(req, res, `http://${host}:${port}`);
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(opts.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  const dropConnections = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  let closed = false;

  return {
    url: `http://${host}:${port}`,
    port,
    name: opts.name ?? 'sandbox',
    availability: () => mode,
    closeWatches: () => api.stop(),
    requestCounts: () => Object.fromEntries(api.requests),
    resetRequestCounts: () => api.requests.clear(),
    failRequests: (request, status, times = Infinity) => {
      if (times > 0) api.failures.set(request, { status, times });
      else api.failures.delete(request);
    },
    serves: (resource) => opts.store.kinds.all().some((r) => r.resource === resource),
    async setAvailability(next) {
      if (next === mode || closed) return;
      const wasListening = mode !== 'refuse';
      mode = next;
      dropConnections();
      if (next === 'refuse' && wasListening) await new Promise<void>((r) => server.close(() => r()));
      if (next !== 'refuse' && !wasListening) await listen(port);
    },
    async close() {
      if (closed) return;
      closed = true;
      api.stop();
      dropConnections();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The answer a real API server gives for `status`, naming the request it refused. */
function injectedFault(status: number, request: string, verb: string, resource: string, path: ResourcePath): ApiError {
  const group = path.group;
  const scope = path.namespace ? `in the namespace "${path.namespace}"` : 'at the cluster scope';
  if (status === 403) {
    return new ApiError(403, 'Forbidden', `${qualifiedResource(group, resource)}${path.name ? ` "${path.name}"` : ''} is forbidden: User "system:serviceaccount:federation-system:meridian-controller" cannot ${verb} resource "${resource}" in API group "${group}" ${scope} (injected fault)`, {
      ...(path.name ? { name: path.name } : {}),
      group,
      kind: resource,
    });
  }
  if (status === 404) return new ApiError(404, 'NotFound', 'the server could not find the requested resource (injected fault)');
  if (status === 429) return new ApiError(429, 'TooManyRequests', `too many requests, please try again later (injected fault on ${request})`);
  return new ApiError(status, 'InternalError', `Internal error occurred: injected fault on ${request}`);
}

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  accept: string;
}

class ApiHandler {
  private readonly defaulter = new Defaulter();
  private readonly watches = new Set<() => void>();
  readonly requests = new Map<string, number>();
  readonly failures = new Map<string, { status: number; times: number }>();

  constructor(
    private readonly store: ClusterStore,
    private readonly minor: string,
    private readonly bookmarkIntervalMs: number,
  ) {}

  /** Ends every open watch. */
  stop(): void {
    for (const end of [...this.watches]) end();
    this.watches.clear();
  }

  handle(req: IncomingMessage, res: ServerResponse, selfUrl: string): void {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const r: Request = { req, res, url, accept: String(req.headers.accept ?? '') };
    this.route(r, selfUrl).catch((err: unknown) => this.fail(r, err));
  }

  private async route(r: Request, selfUrl: string): Promise<void> {
    const p = r.url.pathname.replace(/\/+$/, '') || '/';
    const kinds = this.store.kinds;
    if (r.req.method === 'GET') {
      if (p === '/version') return this.json(r, 200, versionInfo(this.minor));
      if (p === '/healthz' || p === '/readyz' || p === '/livez') return this.text(r, 200, 'ok');
      if (p === '/api' || p === '/apis') {
        const format = negotiateDiscovery(r.accept);
        if (format !== 'legacy') {
          const body = aggregatedDiscovery(kinds, p === '/api', format);
          return this.send(r, 200, JSON.stringify(body), `application/json;g=apidiscovery.k8s.io;v=${format};as=APIGroupDiscoveryList`);
        }
        return this.json(r, 200, p === '/api' ? legacyApiVersions(selfUrl) : legacyGroupList(kinds));
      }
      if (p === '/api/v1') return this.json(r, 200, resourceList(kinds, '', 'v1'));
      const gvMatch = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(p);
      if (gvMatch) {
        const body = gvMatch[2] ? resourceList(kinds, gvMatch[1]!, gvMatch[2]) : legacyGroup(kinds, gvMatch[1]!);
        if (!body) throw notFoundPath();
        return this.json(r, 200, body);
      }
      if (p === '/openapi/v2' || p === '/swagger-2.0.0.pb-v1') return this.send(r, 200, OPENAPI_V2_PROTOBUF, OPENAPI_V2_CONTENT_TYPE);
      if (p === '/openapi/v3') return this.json(r, 200, openApiV3Index(kinds));
      const v3 = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(p);
      if (v3) {
        const doc = v3[1] ? openApiV3Document(kinds, '', 'v1') : openApiV3Document(kinds, v3[2]!, v3[3]!);
        if (!doc) throw notFoundPath();
        return this.json(r, 200, doc);
      }
    }
    const path = parseResourcePath(p);
    if (!path) throw notFoundPath();
    const info = kinds.find(path.group, path.version, path.resource);
    if (!info) throw notFoundPath();
    const scale = path.subresource === 'scale' && hasScale(info) && path.name !== undefined;
    if (path.subresource && !scale && !(path.subresource === 'status' && info.hasStatus) && !(path.subresource === 'finalize' && info.resource === 'namespaces')) {
      throw notFoundPath();
    }
    if (!info.namespaced && path.namespace) throw notFoundPath();
    if (info.deprecation) r.res.setHeader('Warning', `299 - "${info.deprecation}"`);
    const method = r.req.method ?? 'GET';
    this.count(method, r.url.searchParams.get('watch'), path, info.resource);
    if (scale) return this.scale(r, info, path, method, method === 'GET' ? undefined : await readBody(r.req));
    if (method === 'GET' && !path.name) {
      return r.url.searchParams.get('watch') === 'true' || r.url.searchParams.get('watch') === '1' ? this.watch(r, info, path) : this.list(r, info, path);
    }
    if (method === 'GET') return this.get(r, info, path);
    if (method === 'POST' && !path.name) return this.create(r, info, path, await readBody(r.req));
    if (method === 'PUT' && path.name) return this.update(r, info, path, await readBody(r.req));
    if (method === 'PATCH' && path.name) return this.patch(r, info, path, await readBody(r.req));
    if (method === 'DELETE' && path.name) return this.delete(r, info, path, await readBody(r.req));
    if (method === 'DELETE') return this.deleteCollection(r, info, path);
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }

  private count(method: string, watch: string | null, path: ResourcePath, resource: string): void {
    const verb =
      method === 'GET'
        ? path.name
          ? 'get'
          : watch === 'true' || watch === '1'
            ? 'watch'
            : 'list'
        : (({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: path.name ? 'delete' : 'deletecollection' }) as Record<string, string>)[method] ?? method.toLowerCase();
    const key = `${verb} ${resource}${path.subresource ? `/${path.subresource}` : ''}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const fault = this.failures.get(key);
    if (fault && fault.times > 0) {
      if (--fault.times === 0) this.failures.delete(key);
      throw injectedFault(fault.status, key, verb, resource, path);
    }
  }

  // -- reads ----------------------------------------------------------------------------------

  private matcher(r: Request, info: ResourceInfo): Matcher {
    const labels = parseLabelSelector(r.url.searchParams.get('labelSelector'));
    const fields = parseFieldSelector(r.url.searchParams.get('fieldSelector'), info.resource);
    return (o) => labels(o) && fields(o);
  }

  private list(r: Request, info: ResourceInfo, path: ResourcePath): void {
    const match = this.matcher(r, info);
    const { items, resourceVersion } = this.store.list(info.storage, path.namespace);
    const all = items.filter(match);
    const limit = Number(r.url.searchParams.get('limit') ?? 0);
    let start = 0;
    const token = r.url.searchParams.get('continue');
    if (token) {
      try {
        const t = JSON.parse(Buffer.from(token, 'base64').toString()) as { start: number };
        start = t.start;
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data');
      }
    }
    const page = limit > 0 ? all.slice(start, start + limit) : all.slice(start);
    const next = limit > 0 && start + limit < all.length ? start + limit : undefined;
    const continueToken = next !== undefined ? Buffer.from(JSON.stringify({ rv: resourceVersion, start: next })).toString('base64') : undefined;
    const remaining = next !== undefined ? all.length - next : undefined;
    const view = page.map((o) => fromStorage(info, o));
    if (wantsTable(r.accept)) {
      return this.json(r, 200, toTable(info, view, { resourceVersion, ...(continueToken ? { continueToken } : {}), ...(remaining ? { remaining } : {}), includeObject: r.url.searchParams.get('includeObject') ?? undefined }));
    }
    this.json(r, 200, {
      kind: `${info.kind}List`,
      apiVersion: info.group ? `${info.group}/${info.version}` : info.version,
      metadata: { resourceVersion, ...(continueToken ? { continue: continueToken, remainingItemCount: remaining } : {}) },
      items: view.map((o) => ({ ...o, kind: info.kind })),
    });
  }

  private get(r: Request, info: ResourceInfo, path: ResourcePath): void {
    const obj = this.store.get(info.storage, path.namespace, path.name!);
    if (!obj) throw notFound(info.storage.group, info.resource, path.name!);
    const view = fromStorage(info, obj);
    if (wantsTable(r.accept)) return this.json(r, 200, toTable(info, [view], { resourceVersion: obj.metadata.resourceVersion!, includeObject: r.url.searchParams.get('includeObject') ?? undefined }));
    this.json(r, 200, view);
  }

  private watch(r: Request, info: ResourceInfo, path: ResourcePath): void {
    const match = this.matcher(r, info);
    const table = wantsTable(r.accept);
    const rv = r.url.searchParams.get('resourceVersion') ?? undefined;
    const res = r.res;
    const includeObject = r.url.searchParams.get('includeObject') ?? undefined;
    let headersSent = false;
    const write = (type: string, obj: KubeObject | Record<string, unknown>) => {
      if (!headersSent) {
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
        headersSent = true;
      }
      let object: unknown = obj;
      if (table && type !== 'ERROR' && type !== 'BOOKMARK') {
        object = toTable(info, [fromStorage(info, obj as KubeObject)], { resourceVersion: (obj as KubeObject).metadata.resourceVersion!, includeObject, noHeaders: sentTableHeader });
        sentTableHeader = true;
      } else if (type !== 'ERROR' && type !== 'BOOKMARK') object = fromStorage(info, obj as KubeObject);
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    let sentTableHeader = false;
    const onEvent = (type: WatchEventType, obj: KubeObject, previous?: KubeObject) => {
      const now = match(obj);
      const before = previous ? match(previous) : false;
      if (type === 'MODIFIED' && now && !before && previous) write('ADDED', obj);
      else if (type === 'MODIFIED' && !now && before) write('DELETED', obj);
      else if (now) write(type, obj);
    };
    let unsubscribe: () => void;
    try {
      if (!rv || rv === '0') {
        for (const o of this.store.list(info.storage, path.namespace).items) if (match(o)) write('ADDED', o);
        unsubscribe = this.store.watch(info.storage, path.namespace, undefined, onEvent);
      } else {
        unsubscribe = this.store.watch(info.storage, path.namespace, rv, onEvent);
      }
    } catch (err) {
      if (err instanceof ApiError && err.code === 410) {
        write('ERROR', err.toStatus());
        res.end();
        return;
      }
      throw err;
    }
    if (!headersSent) {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
      headersSent = true;
    }
    res.flushHeaders();
    const timers: NodeJS.Timeout[] = [];
    if (r.url.searchParams.get('allowWatchBookmarks') === 'true') {
      const t = setInterval(() => {
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: info.kind, apiVersion: info.group ? `${info.group}/${info.version}` : info.version, metadata: { resourceVersion: this.store.resourceVersion } } })}\n`);
      }, this.bookmarkIntervalMs);
      timers.push(t);
    }
    const end = () => {
      unsubscribe();
      timers.forEach(clearInterval);
      this.watches.delete(end);
      if (!res.writableEnded) res.end();
    };
    const timeout = Number(r.url.searchParams.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(end, timeout * 1000));
    this.watches.add(end);
    // req 'close' fires once the (empty) body is read in Node 20; the response's close is the disconnect.
    res.on('close', end);
  }

  // -- writes ---------------------------------------------------------------------------------

  private manager(r: Request, fallback: string): string {
    return r.url.searchParams.get('fieldManager') ?? (String(r.req.headers['user-agent'] ?? fallback).split('/')[0] || fallback);
  }

  private checkFields(r: Request, info: ResourceInfo, obj: KubeObject): void {
    const mode = r.url.searchParams.get('fieldValidation') ?? 'Warn';
    if (mode === 'Ignore') return;
    const unknown = unknownFields(info, obj, this.crdSchema(info));
    if (unknown.length === 0) return;
    if (mode === 'Strict') throw strictDecodingError(info, unknown);
    r.res.setHeader('Warning', unknown.map((f) => `299 - "unknown field \\"${f}\\""`));
  }

  private crdSchema(info: ResourceInfo) {
    if (info.model) return undefined;
    const crd = this.store.list(CRD_REF).items.find((c) => {
      const s = c.spec as { group: string; names: { plural: string } };
      return s.group === info.group && s.names.plural === info.resource;
    });
    const version = (crd?.spec as { versions?: { name: string; schema?: { openAPIV3Schema?: object } }[] } | undefined)?.versions?.find((v) => v.name === info.version);
    return version?.schema?.openAPIV3Schema;
  }

  private prepare(r: Request, info: ResourceInfo, path: ResourcePath, body: KubeObject, previous: KubeObject | undefined): KubeObject {
    if (!isObject(body) || !isObject(body.metadata ?? {})) throw badRequest('the body of the request was in an unknown format');
    const bodyNs = body.metadata?.namespace;
    if (info.namespaced && bodyNs && path.namespace && bodyNs !== path.namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const storageInfo = this.store.info(info.storage);
    let obj = toStorage(info, { ...body, metadata: { ...(body.metadata ?? {}), ...(info.namespaced ? { namespace: path.namespace ?? bodyNs ?? 'default' } : {}) } }, storageInfo);
    obj = { ...obj, kind: storageInfo.kind };
    obj = this.defaulter.apply(storageInfo, obj, previous);
    validateObject(storageInfo, obj, previous);
    return obj;
  }

  private create(r: Request, info: ResourceInfo, path: ResourcePath, raw: unknown): void {
    const body = raw as KubeObject;
    if (!isObject(body)) throw badRequest('the body of the request was in an unknown format');
    if (path.name) throw notFoundPath();
    this.checkFields(r, info, body);
    let obj = this.prepare(r, info, path, body, undefined);
    if (info.hasStatus && !isCrdResource(info)) obj = { ...obj, status: this.initialStatus(info, obj) };
    obj.metadata.managedFields = recordUpdate(undefined, obj, this.manager(r, 'unknown'), rfc3339());
    if (r.url.searchParams.get('dryRun') === 'All') return this.dryRunCreate(r, info, obj);
    const created = this.store.create(info.storage, obj);
    this.json(r, 201, fromStorage(info, created));
  }

  /** A dry-run create: admitted as a real one (namespace, name), answered as created, never stored. */
  private dryRunCreate(r: Request, info: ResourceInfo, obj: KubeObject): void {
    this.store.admitCreate(info.storage, obj);
    this.json(r, 201, fromStorage(info, obj));
  }

  private initialStatus(info: ResourceInfo, obj: KubeObject): unknown {
    switch (`${info.storage.group}/${info.storage.resource}`) {
      case '/services':
      case 'networking.k8s.io/ingresses':
        return { loadBalancer: {} };
      case '/pods':
        return { phase: 'Pending', qosClass: 'BestEffort' };
      case '/namespaces':
        return { phase: 'Active' };
      // The zero values a real server serialises for a new object of these kinds.
      case 'apps/daemonsets':
        return { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 };
      case 'apps/statefulsets':
        return { replicas: 0, availableReplicas: 0 };
      case 'policy/poddisruptionbudgets':
        return { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 };
      default:
        return obj.status === undefined ? undefined : {};
    }
  }

  private update(r: Request, info: ResourceInfo, path: ResourcePath, raw: unknown): void {
    const body = raw as KubeObject;
    if (!isObject(body)) throw badRequest('the body of the request was in an unknown format');
    if (body.metadata?.name && body.metadata.name !== path.name) throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${path.name})`);
    const existing = this.store.get(info.storage, path.namespace, path.name!);
    if (!existing) throw notFound(info.storage.group, info.resource, path.name!);
    this.checkFields(r, info, body);
    const obj = this.prepare(r, info, path, { ...body, metadata: { ...(body.metadata ?? {}), name: path.name } }, existing);
    this.writeUpdate(r, info, path, existing, obj);
  }

  private writeUpdate(r: Request, info: ResourceInfo, path: ResourcePath, existing: KubeObject, obj: KubeObject, managedFields?: ManagedFieldsEntry[], status = 200): void {
    const subresource = path.subresource === 'status' ? 'status' : undefined;
    obj.metadata.managedFields = managedFields ?? recordUpdate(existing, obj, this.manager(r, 'unknown'), rfc3339(), subresource);
    if (r.url.searchParams.get('dryRun') === 'All') return this.json(r, status, fromStorage(info, obj));
    const updated = this.store.update(info.storage, obj, subresource ? { subresource } : {});
    if (subresource && managedFields === undefined && JSON.stringify(updated.metadata.managedFields) !== JSON.stringify(obj.metadata.managedFields)) {
      // The status write kept the stored metadata; record the status manager too.
      const withFields = this.store.update(info.storage, { ...updated, metadata: { ...updated.metadata, managedFields: obj.metadata.managedFields } });
      return this.json(r, status, fromStorage(info, withFields));
    }
    this.json(r, status, fromStorage(info, updated));
  }

  private patch(r: Request, info: ResourceInfo, path: ResourcePath, raw: unknown): void {
    const type = contentType(r);
    const existing = this.store.get(info.storage, path.namespace, path.name!);
    const now = rfc3339();
    if (type === 'application/apply-patch+yaml') {
      const manager = r.url.searchParams.get('fieldManager');
      if (!manager) throw badRequest('PATCH, application/apply-patch+yaml requires fieldManager to be set');
      const config = raw as KubeObject;
      if (!isObject(config)) throw badRequest('the body of the request was in an unknown format');
      this.checkFields(r, info, config);
      const force = r.url.searchParams.get('force') === 'true';
      const current = existing ? fromStorage(info, existing) : undefined;
      const { object, managedFields } = serverSideApply(current, { ...config, metadata: { ...(config.metadata ?? {}), name: path.name } }, manager, force, now);
      const obj = this.prepare(r, info, path, object, existing);
      if (!existing) {
        obj.metadata.managedFields = managedFields;
        if (info.hasStatus && !isCrdResource(info)) obj.status = this.initialStatus(info, obj);
        if (r.url.searchParams.get('dryRun') === 'All') return this.dryRunCreate(r, info, obj);
        const created = this.store.create(info.storage, obj);
        return this.json(r, 201, fromStorage(info, created));
      }
      obj.metadata.resourceVersion = existing.metadata.resourceVersion;
      return this.writeUpdate(r, info, path, existing, obj, managedFields);
    }
    if (!existing) throw notFound(info.storage.group, info.resource, path.name!);
    if (type === 'application/strategic-merge-patch+json' && isCrdResource(info)) {
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`);
    }
    const patched = applyPatch(type, fromStorage(info, existing), raw, 'application/apply-patch+yaml, ');
    if (!isObject(patched)) throw badRequest('the patch did not produce an object');
    this.checkFields(r, info, patched);
    const obj = this.prepare(r, info, path, { ...patched, metadata: { ...(patched.metadata ?? {}), name: path.name } }, existing);
    if (!(raw as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion) obj.metadata.resourceVersion = existing.metadata.resourceVersion;
    this.writeUpdate(r, info, path, existing, obj);
  }

  /** `…/{name}/scale`: read or set spec.replicas of a ReplicaSet or Deployment through a Scale. */
  private scale(r: Request, info: ResourceInfo, path: ResourcePath, method: string, raw: unknown): void {
    const existing = this.store.get(info.storage, path.namespace, path.name!);
    if (!existing) throw notFound(info.storage.group, info.resource, path.name!);
    const view = fromStorage(info, existing);
    const current = toScale(info, view);
    if (method === 'GET') return this.json(r, 200, current);
    let desired: unknown;
    if (method === 'PUT') desired = raw;
    else if (method === 'PATCH') desired = applyPatch(contentType(r), current as unknown as KubeObject, raw, '');
    else throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    const replicas = requestedReplicas(info, path.name!, desired);
    const obj = this.prepare(r, info, { ...path, subresource: undefined }, { ...view, spec: { ...(view.spec as object), replicas } }, existing);
    // A resourceVersion in the Scale is a precondition on the object, as on a real server.
    obj.metadata.resourceVersion = (desired as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion || existing.metadata.resourceVersion;
    obj.metadata.managedFields = recordUpdate(existing, obj, this.manager(r, 'unknown'), rfc3339());
    if (r.url.searchParams.get('dryRun') === 'All') return this.json(r, 200, toScale(info, fromStorage(info, obj)));
    const updated = this.store.update(info.storage, obj);
    this.json(r, 200, toScale(info, fromStorage(info, updated)));
  }

  private delete(r: Request, info: ResourceInfo, path: ResourcePath, raw: unknown): void {
    const options = (isObject(raw) ? raw : {}) as { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; orphanDependents?: boolean; preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: string[] };
    const policy = (r.url.searchParams.get('propagationPolicy') as typeof options.propagationPolicy | null) ?? options.propagationPolicy ?? (options.orphanDependents ? 'Orphan' : undefined);
    const existing = this.store.get(info.storage, path.namespace, path.name!);
    if (!existing) throw notFound(info.storage.group, info.resource, path.name!);
    if (r.url.searchParams.get('dryRun') === 'All' || options.dryRun?.includes('All')) return this.json(r, 200, fromStorage(info, existing));
    const result = this.store.delete(info.storage, path.namespace, path.name!, { ...(policy ? { propagationPolicy: policy } : {}), ...(options.preconditions ? { preconditions: options.preconditions } : {}) });
    const stillThere = this.store.get(info.storage, path.namespace, path.name!);
    if (stillThere || info.resource === 'pods') return this.json(r, 200, fromStorage(info, stillThere ?? result ?? existing));
    this.json(r, 200, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name: path.name, ...(info.group ? { group: info.group } : {}), kind: info.resource, uid: existing.metadata.uid },
    });
  }

  private deleteCollection(r: Request, info: ResourceInfo, path: ResourcePath): void {
    const match = this.matcher(r, info);
    const deleted = this.store
      .list(info.storage, path.namespace)
      .items.filter(match)
      .map((o) => this.store.delete(info.storage, o.metadata.namespace, o.metadata.name!) ?? o);
    this.json(r, 200, { kind: `${info.kind}List`, apiVersion: info.group ? `${info.group}/${info.version}` : info.version, metadata: { resourceVersion: this.store.resourceVersion }, items: deleted.map((o) => fromStorage(info, o)) });
  }

  // -- responses ------------------------------------------------------------------------------

  private fail(r: Request, err: unknown): void {
    const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error)?.message ?? String(err)}`);
    if (r.res.headersSent) {
      r.res.destroy();
      return;
    }
    this.json(r, e.code, e.toStatus());
  }

  private json(r: Request, code: number, body: unknown): void {
    this.send(r, code, JSON.stringify(body), 'application/json');
  }

  private text(r: Request, code: number, body: string): void {
    this.send(r, code, body, 'text/plain; charset=utf-8');
  }

  private send(r: Request, code: number, body: string | Buffer, contentType: string): void {
    r.res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache, private' });
    r.res.end(body);
  }
}

function notFoundPath(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}

function wantsTable(accept: string): boolean {
  return /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

function isCrdResource(info: ResourceInfo): boolean {
  return !info.model && info.group !== 'extensions';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The request's media type, without parameters. */
function contentType(r: Request): string {
  return String(r.req.headers['content-type'] ?? '').split(';')[0]!.trim();
}

/**
 * A JSON, merge or strategic-merge patch applied to `current` (`otherTypes`: the other media
 * types the endpoint takes, for the 415 message).
 */
function applyPatch(type: string, current: KubeObject, raw: unknown, otherTypes: string): KubeObject {
  const target = current as unknown as Parameters<typeof mergePatch>[0];
  const patch = raw as Parameters<typeof mergePatch>[1];
  if (type === 'application/json-patch+json') return jsonPatch(current, raw);
  if (type === 'application/merge-patch+json') return mergePatch(target, patch) as unknown as KubeObject;
  if (type === 'application/strategic-merge-patch+json') return strategicMergePatch(target, patch) as unknown as KubeObject;
  throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, ${otherTypes}application/strategic-merge-patch+json`);
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      const type = String(req.headers['content-type'] ?? '');
      if (isKubernetesProtobuf(type)) {
        try {
          return resolve(decodeKubernetesProtobuf(Buffer.concat(chunks)));
        } catch (err) {
          return reject(err);
        }
      }
      if (type.startsWith('application/cbor')) {
        // client-go falls back to JSON on a 415.
        return reject(new ApiError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf'));
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text.trim()) return resolve(undefined);
      try {
        resolve(type.startsWith('application/apply-patch+yaml') || type.includes('yaml') ? parseYaml(text) : JSON.parse(text));
      } catch (err) {
        reject(badRequest(`the body of the request was in an unknown format: ${(err as Error).message.split('\n')[0]}`));
      }
    });
  });
}
