import type { IncomingMessage } from 'node:http';
import type { ProxyErrorCode } from './errors.js';
import { normalizeTarget, type PathOptions } from './request-target.js';

/** What a request is routed on and forwarded with, once it has passed the proxy's own checks. */
export interface Intake {
  /** The authority: the Host header, or an absolute-form target's (which RFC 9112 §3.2.2 puts first). */
  host: string | undefined;
  /** The normalised path, routed on. */
  path: string;
  /** The normalised path and the query as it came: what the origin gets. */
  target: string;
}

function hostHeaders(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') n++;
  }
  return n;
}

/**
 * The checks a request passes before it is routed (RFC 9112 and what nginx and Envoy do), and
 * what it is routed on: HTTP/1.x only (505; HTTP/0.9 400); exactly one Host for HTTP/1.1 (400, §3.2: a second
 * one would let the proxy route on one and the origin on the other); no transfer coding but
 * chunked (501, §6.1: the proxy cannot re-frame what it does not decode — nginx answers the
 * same); an origin-form or absolute-form target, normalised (400 when it cannot be). Pure.
 */
export function intake(req: IncomingMessage, paths: PathOptions, maxHeaderCount = Number.POSITIVE_INFINITY): Intake | ProxyErrorCode {
  // Envoy's max_headers_count (100 by default); nginx bounds them by size only.
  if (req.rawHeaders.length > 2 * maxHeaderCount) return 'E_HEADERS_TOO_LARGE';
  // HTTP/0.9 has no headers to route on and cannot carry an HTTP/1.1 answer: malformed here.
  if (req.httpVersionMajor === 0) return 'E_BAD_REQUEST';
  if (req.httpVersionMajor !== 1) return 'E_HTTP_VERSION';
  const hosts = hostHeaders(req.rawHeaders);
  if (hosts > 1 || (hosts === 0 && req.httpVersionMinor >= 1)) return 'E_BAD_HOST';
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') return 'E_TRANSFER_CODING';
  const url = req.url ?? '';
  let host = req.headers.host;
  let rest = url;
  if (url.charCodeAt(0) !== 47 /* / */) {
    // Absolute-form (a request meant for a proxy): its authority is the host, its path is forwarded.
    const m = /^https?:\/\/([^/?#]*)(.*)$/i.exec(url);
    if (!m || m[1] === '' || m[1]!.includes('@')) return 'E_BAD_PATH';
    host = m[1]!;
    rest = m[2] === '' || m[2]!.charCodeAt(0) === 63 /* ? */ ? `/${m[2]}` : m[2]!;
  }
  const n = normalizeTarget(rest, paths);
  if (!n.ok) return 'E_BAD_PATH';
  return { host, path: n.path, target: n.query ? n.path + n.query : n.path };
}

/**
 * An HTTP/2 header list's size as RFC 9113 §6.5.2 counts it for SETTINGS_MAX_HEADER_LIST_SIZE
 * (and Node holds a stream to): each field's name and value, plus 32, pseudo-headers included.
 * Node decodes fields as Latin-1: a character is an octet.
 */
export function headerListBytes(rawHeaders: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i++) n += rawHeaders[i]!.length;
  return n + 16 * rawHeaders.length; // 32 per field, two entries each
}

/**
 * The same checks for an HTTP/2 request (RFC 9113 §8.3), whose framing nghttp2 has already held
 * to the rules (pseudo-headers present and well-formed, no connection-specific fields, a
 * Content-Length that matches the DATA). Its authority is `:authority`, or Host when a client
 * sends that instead (§8.3.1); when both come they must name the same (400 otherwise: routing on
 * one while the origin reads the other is the ambiguity a second Host is refused for in HTTP/1.1).
 * `:path` must be origin-form (`*`, for OPTIONS, is refused as it is over HTTP/1.1). A header list
 * with more fields than `maxHeaderCount` or larger than `maxHeaderListBytes` gets 431, as a head
 * too large does over HTTP/1.1 (nghttp2 resets only one twice as large: tls/listener.ts). Pure.
 */
export function intakeH2(
  headers: Record<string, string | string[] | undefined>,
  rawHeaders: readonly string[],
  paths: PathOptions,
  maxHeaderCount = Number.POSITIVE_INFINITY,
  maxHeaderListBytes = Number.POSITIVE_INFINITY,
): Intake | ProxyErrorCode {
  if (rawHeaders.length > 2 * maxHeaderCount || headerListBytes(rawHeaders) > maxHeaderListBytes) return 'E_HEADERS_TOO_LARGE';
  const authority = headers[':authority'];
  const hostHeader = headers.host;
  if (Array.isArray(hostHeader) || Array.isArray(authority)) return 'E_BAD_HOST';
  const host = authority ?? hostHeader;
  if (!host || host.includes('@')) return 'E_BAD_HOST';
  if (authority !== undefined && hostHeader !== undefined && authority.toLowerCase() !== hostHeader.toLowerCase()) return 'E_BAD_HOST';
  const url = headers[':path'];
  if (typeof url !== 'string' || url.charCodeAt(0) !== 47 /* / */) return 'E_BAD_PATH';
  const n = normalizeTarget(url, paths);
  if (!n.ok) return 'E_BAD_PATH';
  return { host, path: n.path, target: n.query ? n.path + n.query : n.path };
}
