import { MeridianError } from '../common/errors.js';
import type { PlainHttp } from './https-policy.js';
import type { HttpsPolicy, Route } from './table.js';

export interface CompiledRoute {
  /** Exact host, `*.suffix` (stored as `.suffix`) or undefined for any host. */
  host?: string;
  wildcard: boolean;
  path: string;
  exact: boolean;
  /** Index of the backend, or -1 (the default route of a table without a default backend). */
  backend: number;
  /** What a plain-HTTP request for this route gets. */
  plainHttp: PlainHttp;
  /** The Strict-Transport-Security value of its HTTPS answers, or null: the origin's own, untouched. */
  hsts: string | null;
}

/** The route requests no rule matches take: the default backend's, with its policy. */
export function defaultRoute(backend: number, https: HttpsPolicy | undefined): CompiledRoute {
  return { wildcard: false, path: '/', exact: false, backend, plainHttp: https?.plainHttp ?? 'serve', hsts: https?.hsts ?? null };
}

/**
 * Orders routes as Ingress does: exact hosts before wildcards before host-less rules, then
 * Exact paths before Prefix, longer prefixes first.
 */
export function compileRoutes(routes: readonly Route[], backends: ReadonlyMap<string, number>): CompiledRoute[] {
  const compiled = routes.map((r) => {
    const backend = backends.get(r.backend);
    if (backend === undefined) throw new MeridianError('E_TABLE_INVALID', `route ${r.host ?? '*'}${r.path} names unknown backend "${r.backend}"`, `backends: ${[...backends.keys()].join(', ')}`);
    const wildcard = r.host?.startsWith('*.') ?? false;
    return {
      ...(r.host ? { host: wildcard ? r.host.slice(1).toLowerCase() : r.host.toLowerCase() } : {}),
      wildcard,
      path: r.path,
      exact: r.pathType === 'Exact',
      backend,
      plainHttp: r.https?.plainHttp ?? 'serve',
      hsts: r.https?.hsts ?? null,
    };
  });
  const hostRank = (r: CompiledRoute) => (r.host === undefined ? 2 : r.wildcard ? 1 : 0);
  return compiled.sort((a, b) => hostRank(a) - hostRank(b) || Number(b.exact) - Number(a.exact) || b.path.length - a.path.length);
}

function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || (path.startsWith(p) && path.charCodeAt(p.length) === 47 /* / */);
}

/** The backend for a request, or the default backend, or -1 (no route: 404). */
export function matchRoute(routes: readonly CompiledRoute[], defaultBackend: number, hostHeader: string | undefined, path: string): number {
  const i = matchIndex(routes, hostHeader, path);
  return i < 0 ? defaultBackend : routes[i]!.backend;
}

/**
 * The route a request takes (its backend and policy): a matching rule, else `fallback` (the
 * snapshot's defaultRoute, whose backend is -1 without a default backend: 404). Allocates nothing.
 */
export function routeFor(routes: readonly CompiledRoute[], fallback: CompiledRoute, hostHeader: string | undefined, path: string): CompiledRoute {
  const i = matchIndex(routes, hostHeader, path);
  return i < 0 ? fallback : routes[i]!;
}

function matchIndex(routes: readonly CompiledRoute[], hostHeader: string | undefined, path: string): number {
  let host = hostHeader ?? '';
  const colon = host.indexOf(':');
  if (colon >= 0 && host.indexOf(']') < 0) host = host.slice(0, colon);
  host = host.toLowerCase();
  const q = path.indexOf('?');
  const p = q >= 0 ? path.slice(0, q) : path;
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i]!;
    if (r.host !== undefined && (r.wildcard ? !(host.endsWith(r.host) && host.length > r.host.length && host.lastIndexOf('.', host.length - r.host.length - 1) < 0) : host !== r.host)) continue;
    if (r.exact ? p === r.path : prefixMatches(r.path, p)) return i;
  }
  return -1;
}
