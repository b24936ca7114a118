import type { CompiledRoute } from '../routing/match.js';
import type { ProxyErrorCode } from './errors.js';

/**
 * A Host a redirect may repeat: a DNS name or IPv4 address (letters, digits, `-`, `_`, dots), or
 * an IPv6 literal in brackets, with an optional port. Nothing else — no `/`, `\`, `@`, `%`,
 * spaces or controls — so the Location always names this host and no other ("open redirect").
 */
const AUTHORITY = /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;
/** Bytes that may stand in a Location unescaped (visible ASCII). */
const NEEDS_ESCAPE = /[^\x21-\x7e]/g;

function escapeByte(ch: string): string {
  const c = ch.charCodeAt(0);
  // Node reads a request target as latin1, one character per byte: escape the byte it came as.
  return c < 256 ? `%${c < 16 ? '0' : ''}${c.toString(16).toUpperCase()}` : encodeURIComponent(ch);
}

/** `:port`, or nothing for 443: the part of a redirect's Location after the host. */
export function httpsPortSuffix(port: number): string {
  return port === 443 ? '' : `:${port}`;
}

/**
 * The same request's URL over HTTPS: `https://` + the host the client asked for (its port
 * dropped) + the HTTPS port unless 443 + the request target as the proxy normalised it (always
 * starting with `/`, so the authority cannot be extended). Undefined when the host cannot be
 * repeated safely (absent, or not a host name or address). Pure.
 */
export function httpsLocation(authority: string | undefined, target: string, portSuffix: string): string | undefined {
  if (authority === undefined || authority.length > 262 || !AUTHORITY.test(authority)) return undefined;
  const end = authority.charCodeAt(0) === 91 /* [ */ ? authority.indexOf(']') + 1 : authority.indexOf(':');
  const host = end > 0 ? authority.slice(0, end) : authority;
  return `https://${host}${portSuffix}${target.replace(NEEDS_ESCAPE, escapeByte)}`;
}

/**
 * What the proxy answers a plain-HTTP request for `route` itself, or undefined when it proxies
 * it: 308 to the HTTPS URL (RFC 9110 §15.4.9: the method and body are kept, as ingress-nginx's
 * ssl-redirect does), 421 E_HTTPS_ONLY for a route that refuses plain HTTP, 400 E_BAD_HOST for a
 * redirect with no host to send the client to. `portSuffix` undefined: the proxy has no HTTPS
 * listener, so it redirects nowhere and serves the request (warned once per table, main.ts). Pure.
 */
export function plainHttpAnswer(route: CompiledRoute, authority: string | undefined, target: string, portSuffix: string | undefined): { location: string } | ProxyErrorCode | undefined {
  if (route.plainHttp === 'refuse') return 'E_HTTPS_ONLY';
  if (route.plainHttp !== 'redirect' || portSuffix === undefined) return undefined;
  const location = httpsLocation(authority, target, portSuffix);
  return location === undefined ? 'E_BAD_HOST' : { location };
}

/** The 308 as raw bytes, for an upgrade request (it has no ServerResponse); it closes the connection. */
export function rawRedirect(location: string): string {
  return `HTTP/1.1 308 Permanent Redirect\r\nlocation: ${location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`;
}

/**
 * The routes of a table that ask for a redirect to HTTPS (`host/path`, `*` for any host; the
 * default route as `(default)`): a proxy without an HTTPS listener serves them as they come and
 * says so once per table, rather than sending clients to a port nobody listens on.
 */
export function redirectingRoutes(routes: readonly CompiledRoute[], fallback: CompiledRoute): string[] {
  const named = routes.filter((r) => r.plainHttp === 'redirect').map((r) => `${r.host === undefined ? '*' : r.wildcard ? `*${r.host}` : r.host}${r.path}`);
  if (fallback.backend >= 0 && fallback.plainHttp === 'redirect') named.push('(default)');
  return named;
}
