/**
 * The request target, normalised before it is routed and forwarded (Envoy's `normalize_path` and
 * `merge_slashes`, both on): a route's prefix must mean the same to the proxy and to the origin,
 * so `/public/%2e%2e/secret` or `/public/../secret` never reaches a `/public` backend as something
 * the origin reads as `/secret`. Pure.
 */

export interface PathOptions {
  /** Collapse runs of `/` into one (Envoy's merge_slashes, nginx's merge_slashes default). */
  mergeSlashes: boolean;
  /**
   * `%2F` and `%5C` in a path: `reject` (400; the safe default — an origin that decodes them
   * would read different segments than the proxy routed), or `keep` them encoded, as data inside
   * one segment (Envoy's KEEP_UNCHANGED; for APIs that put encoded slashes in path segments).
   */
  encodedSlashes: 'reject' | 'keep';
}

export const DEFAULT_PATH_OPTIONS: PathOptions = { mergeSlashes: true, encodedSlashes: 'reject' };

export type TargetProblem = 'bad-escape' | 'encoded-slash' | 'nul' | 'not-origin-form' | 'fragment';

export type NormalizedTarget = { ok: true; path: string; query: string } | { ok: false; problem: TargetProblem };

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3): decoded wherever they are escaped. */
function unreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/**
 * RFC 3986 §6.2.2 normalisation of the path's escapes: unreserved characters decoded, other
 * escapes upper-cased; a `%` not followed by two hex digits, or an escaped NUL, is an error.
 */
function normalizeEscapes(path: string, opts: PathOptions): string | TargetProblem {
  if (path.indexOf('%') < 0) return path;
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const ch = path.charCodeAt(i);
    if (ch !== 37 /* % */) {
      out += path[i];
      continue;
    }
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return 'bad-escape';
    const byte = hi * 16 + lo;
    if (byte === 0) return 'nul';
    if ((byte === 0x2f || byte === 0x5c) && opts.encodedSlashes === 'reject') return 'encoded-slash';
    out += unreserved(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`;
    i += 2;
  }
  return out;
}

/** RFC 3986 §5.2.4 remove_dot_segments, for an absolute path (starts with `/`). */
export function removeDotSegments(path: string): string {
  if (path.indexOf('/.') < 0) return path; // a dot-segment always follows a slash
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is '' (the path starts with '/').
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else out.push(s);
  }
  return `/${out.join('/')}`;
}

function mergeSlashes(path: string): string {
  return path.indexOf('//') < 0 ? path : path.replace(/\/{2,}/g, '/');
}

/**
 * The path and query to route on and to forward, from a request target in origin-form
 * (`/path?query`); the query is kept as it came. The common case — no `%`, no `/.`, no `//` —
 * returns the path as it came, without copying.
 */
export function normalizeTarget(target: string, opts: PathOptions = DEFAULT_PATH_OPTIONS): NormalizedTarget {
  if (target.charCodeAt(0) !== 47 /* / */) return { ok: false, problem: 'not-origin-form' };
  if (target.indexOf('#') >= 0) return { ok: false, problem: 'fragment' };
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q);
  const escaped = normalizeEscapes(rawPath, opts);
  if (escaped === 'bad-escape' || escaped === 'encoded-slash' || escaped === 'nul') return { ok: false, problem: escaped };
  let path = removeDotSegments(escaped);
  if (opts.mergeSlashes) path = mergeSlashes(path);
  return { ok: true, path, query };
}
