import { MeridianError } from '../common/errors.js';
import type { Route } from './table.js';

export interface CompiledRoute {
  /** Exact host, `*.suffix` (stored as `.suffix`) or undefined for any host. */
  host?: string;
  wildcard: boolean;
  path: string;
  exact: boolean;
  backend: number;
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
  let host = hostHeader ?? '';
  const colon = host.indexOf(':');
  if (colon >= 0 && host.indexOf(']') < 0) host = host.slice(0, colon);
  host = host.toLowerCase();
  const q = path.indexOf('?');
  const p = q >= 0 ? path.slice(0, q) : path;
  for (const r of routes) {
    if (r.host !== undefined && (r.wildcard ? !(host.endsWith(r.host) && host.length > r.host.length && host.lastIndexOf('.', host.length - r.host.length - 1) < 0) : host !== r.host)) continue;
    if (r.exact ? p === r.path : prefixMatches(r.path, p)) return r.backend;
  }
  return defaultBackend;
}
