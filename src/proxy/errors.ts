import type { ServerResponse } from 'node:http';

/** Responses the proxy makes itself: short body, stable code in a header. */
export const PROXY_ERRORS = {
  E_BAD_REQUEST: { status: 400, text: 'malformed request' },
  E_BAD_HOST: { status: 400, text: 'a request needs exactly one valid Host header' },
  E_BAD_PATH: { status: 400, text: 'the request target is not a valid path (bad escape, encoded slash, NUL or not origin-form)' },
  E_CLIENT_TIMEOUT: { status: 408, text: 'the request was not received in time' },
  E_HEADERS_TOO_LARGE: { status: 431, text: 'request headers too large' },
  E_TRANSFER_CODING: { status: 501, text: 'only the chunked transfer coding is supported' },
  E_HTTP_VERSION: { status: 505, text: 'only HTTP/1.x (and HTTP/2 over TLS) is served here' },
  E_NO_ROUTE: { status: 404, text: 'no route for this host and path' },
  E_HTTPS_ONLY: { status: 421, text: 'this host and path are served over HTTPS only' },
  E_NO_TABLE: { status: 503, text: 'this proxy has no routing table yet (waiting for the fleet\'s)' },
  E_NO_BACKEND: { status: 503, text: 'no backend endpoint is available' },
  E_BAD_GATEWAY: { status: 502, text: 'the backend failed to answer' },
  E_UPSTREAM_TIMEOUT: { status: 504, text: 'the backend did not answer in time' },
  E_BODY_TOO_LARGE: { status: 413, text: 'request body too large' },
  E_DRAINING: { status: 503, text: 'this proxy is shutting down' },
  E_QUEUE_TIMEOUT: { status: 503, text: 'every connection to the backend stayed busy too long' },
  E_TUNNEL_LIMIT: { status: 503, text: 'too many upgraded connections' },
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;
export const ERROR_HEADER = 'x-meridian-error';

/**
 * `hsts`: the route's Strict-Transport-Security, on an HTTPS answer — the proxy's own answers
 * carry it too (nginx's `add_header ... always`), or a browser would miss it exactly when a
 * backend is down.
 */
export function sendProxyError(res: ServerResponse, code: ProxyErrorCode, close = false, hsts?: string | null): void {
  const e = PROXY_ERRORS[code];
  const body = `${e.status} ${e.text} (${code})\n`;
  const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), [ERROR_HEADER]: code };
  if (e.status === 503) headers['retry-after'] = '1';
  if (hsts) headers['strict-transport-security'] = hsts;
  // HTTP/2 has no Connection header (RFC 9113 §8.2.2): each stream ends by itself.
  if (close && res.req.httpVersionMajor < 2) headers.connection = 'close';
  res.writeHead(e.status, headers);
  res.end(body);
}

/** The same answer as raw bytes, for a socket with no ServerResponse (parse errors, refused upgrades); it closes the connection. */
export function rawProxyError(code: ProxyErrorCode): string {
  const e = PROXY_ERRORS[code];
  const body = `${e.status} ${e.text} (${code})\n`;
  const reason = STATUS_TEXT[e.status] ?? 'Error';
  return `HTTP/1.1 ${e.status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${ERROR_HEADER}: ${code}\r\n${e.status === 503 ? 'retry-after: 1\r\n' : ''}connection: close\r\n\r\n${body}`;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 413: 'Content Too Large', 421: 'Misdirected Request', 431: 'Request Header Fields Too Large', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported' };
