import type { ServerResponse } from 'node:http';

/** Responses the proxy makes itself: short body, stable code in a header. */
export const PROXY_ERRORS = {
  E_NO_ROUTE: { status: 404, text: 'no route for this host and path' },
  E_NO_TABLE: { status: 503, text: 'this proxy has no routing table yet (waiting for the fleet\'s)' },
  E_NO_BACKEND: { status: 503, text: 'no backend endpoint is available' },
  E_BAD_GATEWAY: { status: 502, text: 'the backend failed to answer' },
  E_UPSTREAM_TIMEOUT: { status: 504, text: 'the backend did not answer in time' },
  E_BODY_TOO_LARGE: { status: 413, text: 'request body too large' },
  E_DRAINING: { status: 503, text: 'this proxy is shutting down' },
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;
export const ERROR_HEADER = 'x-meridian-error';

export function sendProxyError(res: ServerResponse, code: ProxyErrorCode, close = false): void {
  const e = PROXY_ERRORS[code];
  const body = `${e.status} ${e.text} (${code})\n`;
  const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), [ERROR_HEADER]: code };
  if (e.status === 503) headers['retry-after'] = '1';
  if (close) headers.connection = 'close';
  res.writeHead(e.status, headers);
  res.end(body);
}
