import type { IncomingHttpHeaders } from 'node:http';

/**
 * Headers that describe one connection, never forwarded (RFC 9110 §7.6.1); HTTP2-Settings is one
 * too (RFC 9113 §8.2.2 forbids it in an HTTP/2 message: Node refuses to send a response with it).
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'http2-settings']);

/**
 * Headers a Connection header cannot take away: without Host the origin cannot tell which site is
 * asked for (a client's `Connection: host` is an attack, not a hop-by-hop declaration); nginx
 * ignores Connection's list entirely, Envoy refuses to strip these.
 */
const NOT_HOP_BY_HOP = new Set(['host', 'content-length', 'content-type', 'authorization', 'cookie']);

/**
 * The extra header names a Connection header lists for removal. Nearly every message carries
 * just `keep-alive` or `close`, which name nothing beyond the hop-by-hop set: that case costs a
 * comparison, not a split.
 */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (!value) return undefined;
  if (typeof value === 'string' && value.indexOf(',') < 0) {
    const token = value.trim().toLowerCase();
    return token === '' || HOP_BY_HOP.has(token) || NOT_HOP_BY_HOP.has(token) ? undefined : new Set([token]);
  }
  const tokens = (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '' && !HOP_BY_HOP.has(t) && !NOT_HOP_BY_HOP.has(t));
  return tokens.length ? new Set(tokens) : undefined;
}

/**
 * The end-to-end headers: hop-by-hop ones and those the Connection header names removed, and an
 * HTTP/2 request's pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`: the origin gets
 * them as the request line and Host). No HTTP/1.1 field name starts with a colon (a token cannot
 * hold one), so one comparison serves both protocols without a copy of the HTTP/2 headers first.
 */
function endToEnd(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || name.charCodeAt(0) === 58 /* : */ || HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    out[name] = v;
  }
  return out;
}

/** How this proxy forwards, fixed per listener and protocol: built once, not per request. */
export interface ForwardStyle {
  proto: 'http' | 'https';
  /** This proxy's Via entry on requests, with the protocol they came in: `1.1 meridian`, `2 meridian`. */
  viaEntry: string;
  /** …and on responses, which come from the origin over HTTP/1.1 (RFC 9110 §7.6.3: the protocol received). */
  responseViaEntry: string;
}

export function forwardStyle(proto: 'http' | 'https', via: string, received: '1.1' | '2' = '1.1'): ForwardStyle {
  return { proto, viaEntry: `${received} ${via}`, responseViaEntry: `1.1 ${via}` };
}

/** Request fields the proxy writes itself (or keeps only from a trusted proxy): never copied as they came. */
const SET_BY_PROXY = new Set(['host', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via']);

/**
 * Request headers for the upstream, as undici and node:http take them: a flat list (name, value,
 * …), Host first, then the client's end-to-end fields in their order, then X-Forwarded-* and Via.
 * Hop-by-hop and pseudo-headers are removed; Host is the request's (an absolute-form target's or an
 * HTTP/2 request's authority, `host`; Node has already joined an HTTP/2 request's split Cookie
 * fields with "; ", RFC 9113 §8.2.3). `peerTrusted`: the peer is a trusted proxy, whose
 * X-Forwarded-* we extend rather than replace; from anyone else they are claims not passed on.
 * `Expect: 100-continue` is the proxy's to answer (Envoy's default and nginx's): it is not passed
 * on. X-Forwarded-Host is the request's Host or, from a trusted proxy, its own: never an untrusted
 * client's, also when the request has no Host (HTTP/1.0).
 */
export function upstreamRequestHeaders(headers: IncomingHttpHeaders, peer: string, peerTrusted: boolean, style: ForwardStyle, host: string | undefined = headers.host, keepUpgrade = false): string[] {
  const listed = connectionTokens(headers.connection);
  const out: string[] = [];
  if (host !== undefined) out.push('host', host);
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || name.charCodeAt(0) === 58 /* : */ || HOP_BY_HOP.has(name) || SET_BY_PROXY.has(name) || listed?.has(name)) continue;
    pushField(out, name, v);
  }
  // An upgrade is the one hop-by-hop exchange a tunnelling proxy passes on.
  if (keepUpgrade && headers.upgrade) out.push('connection', 'Upgrade', 'upgrade', headers.upgrade);
  const xff = headers['x-forwarded-for'];
  out.push('x-forwarded-for', peerTrusted && xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${peer}` : peer);
  const proto = headers['x-forwarded-proto'];
  pushField(out, 'x-forwarded-proto', peerTrusted && proto ? proto : style.proto);
  const forwardedHost = headers['x-forwarded-host'];
  if (peerTrusted && forwardedHost) pushField(out, 'x-forwarded-host', forwardedHost);
  else if (host) out.push('x-forwarded-host', host);
  const via = headers.via;
  out.push('via', via ? `${Array.isArray(via) ? via.join(', ') : via}, ${style.viaEntry}` : style.viaEntry);
  return out;
}

/** A field into a flat list: a repeated one (an array) as one entry per value, in order. */
function pushField(out: string[], name: string, value: string | string[]): void {
  if (typeof value === 'string') out.push(name, value);
  else for (const one of value) out.push(name, one);
}

/** Response headers for the client: hop-by-hop removed, Via appended. */
export function downstreamResponseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>, style: ForwardStyle): Record<string, string | string[]> {
  const out = endToEnd(headers);
  const prior = headers.via;
  out.via = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${style.responseViaEntry}` : style.responseViaEntry;
  return out;
}

/**
 * The client address: the socket peer, or — when the peer is a trusted proxy — the first
 * address from the right of X-Forwarded-For that is not itself trusted.
 */
export function clientAddress(peer: string, xff: string | string[] | undefined, isTrusted: (ip: string) => boolean): { ip: string; peerTrusted: boolean } {
  const peerTrusted = isTrusted(peer);
  if (!peerTrusted || !xff) return { ip: peer, peerTrusted };
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',').map((h) => h.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) if (!isTrusted(hops[i]!)) return { ip: hops[i]!, peerTrusted: true };
  return { ip: hops[0] ?? peer, peerTrusted: true };
}
