import { KubeConfig } from '@kubernetes/client-node';
import type { RequestOptions } from 'node:https';
import { Agent, request } from 'undici';

/** A Kubernetes object as plain JSON: the controller never needs typed models. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export interface CallOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  /** Whole-request deadline: a hanging member must never hold a worker for long. */
  timeoutMs?: number;
}

/**
 * A small JSON client for one Kubernetes API server. Credentials and TLS come from a kubeconfig
 * through @kubernetes/client-node's KubeConfig; requests go through an undici keep-alive pool.
 */
/**
 * The verb of a request as the API server's audit log names it: `get` of one object, `list` of a
 * collection, `watch`, `create`, `update`, `patch`, `delete`.
 */
export function requestVerb(method: string, path: string, watch = false): string {
  if (watch) return 'watch';
  if (method !== 'GET') return ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method] ?? method.toLowerCase();
  // After /api/v1 or /apis/<group>/<version>: [namespaces, ns, plural(, name…)] or [plural(, name…)].
  const segments = path.split('?')[0]!.split('/').filter(Boolean);
  const rest = segments.slice(segments[0] === 'api' ? 2 : 3);
  const collection = rest[0] === 'namespaces' && rest.length >= 3 ? rest.length === 3 : rest.length === 1;
  return collection ? 'list' : 'get';
}

export class KubeRest {
  /** Hears of every request (its verb), for per-cluster request metrics. */
  onRequest: ((verb: string) => void) | undefined;

  private constructor(
    readonly server: string,
    private readonly headers: Record<string, string>,
    private readonly dispatcher: Agent,
    private readonly defaultTimeoutMs: number,
  ) {}

  static async fromKubeConfig(kc: KubeConfig, opts: { timeoutMs?: number; server?: string } = {}): Promise<KubeRest> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error(`kubeconfig context "${kc.getCurrentContext()}" names no cluster`);
    const https: RequestOptions = {};
    await kc.applyToHTTPSOptions(https);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(https.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    const dispatcher = new Agent({
      connect: {
        ...(https.ca ? { ca: https.ca as string } : {}),
        ...(https.cert ? { cert: https.cert as string } : {}),
        ...(https.key ? { key: https.key as string } : {}),
        rejectUnauthorized: !cluster.skipTLSVerify,
      },
      keepAliveTimeout: 30_000,
    });
    return new KubeRest((opts.server ?? cluster.server).replace(/\/+$/, ''), headers, dispatcher, opts.timeoutMs ?? 10_000);
  }

  static async fromKubeconfigText(text: string, context?: string, opts: { timeoutMs?: number; server?: string } = {}): Promise<KubeRest> {
    const kc = new KubeConfig();
    kc.loadFromString(text);
    if (context) kc.setCurrentContext(context);
    return KubeRest.fromKubeConfig(kc, opts);
  }

  async call<T = unknown>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
    this.onRequest?.(requestVerb(method, path));
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const res = await request(url, {
      method: method as 'GET',
      dispatcher: this.dispatcher,
      headers: {
        ...this.headers,
        accept: 'application/json',
        ...(opts.body !== undefined ? { 'content-type': opts.contentType ?? 'application/json' } : {}),
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(opts.timeoutMs ?? this.defaultTimeoutMs),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) {
      let reason = 'Unknown';
      let message = text;
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        reason = status.reason ?? reason;
        message = status.message ?? message;
      } catch {
        // not a Status body
      }
      throw new KubeApiError(res.statusCode, reason, `${method} ${path}: ${res.statusCode} ${message}`);
    }
    const json = String(res.headers['content-type'] ?? '').includes('json');
    return (text && json ? JSON.parse(text) : text || undefined) as T;
  }

  get<T = KObject>(path: string, opts?: CallOptions): Promise<T> {
    return this.call<T>('GET', path, opts);
  }

  /** GET that maps 404 to undefined. */
  async find<T = KObject>(path: string, opts?: CallOptions): Promise<T | undefined> {
    try {
      return await this.get<T>(path, opts);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /**
   * Streams a watch: one callback per event until the server ends it, the signal aborts, or the
   * connection fails (rejects). A 410 comes back as a rejected KubeApiError with status 410.
   */
  async watch(path: string, query: Record<string, string | undefined>, onEvent: (type: string, obj: KObject) => void, signal: AbortSignal): Promise<void> {
    this.onRequest?.('watch');
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries({ ...query, watch: 'true', allowWatchBookmarks: 'true' })) if (v !== undefined) url.searchParams.set(k, v);
    const res = await request(url, { method: 'GET', dispatcher: this.dispatcher, headers: { ...this.headers, accept: 'application/json' }, signal });
    if (res.statusCode >= 300) {
      const text = await res.body.text();
      throw new KubeApiError(res.statusCode, 'WatchFailed', `watch ${path}: ${res.statusCode} ${text}`);
    }
    let buffer = '';
    for await (const chunk of res.body) {
      buffer += (chunk as Buffer).toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const event = JSON.parse(line) as { type: string; object: KObject & { code?: number; message?: string } };
        if (event.type === 'ERROR') {
          throw new KubeApiError(event.object.code ?? 500, 'WatchError', event.object.message ?? 'watch error');
        }
        onEvent(event.type, event.object);
      }
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
