import { request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { downstreamResponseHeaders, type ForwardStyle } from './headers.js';

export interface TunnelOptions {
  host: string;
  port: number;
  method: string;
  /** The normalised request target. */
  path: string;
  /** The request headers for the origin (name, value, …), the upgrade's Connection/Upgrade kept. */
  headers: string[];
  localAddress?: string;
  forward: ForwardStyle;
  /** How long the origin has to answer the upgrade request. */
  headersTimeoutMs: number;
  /** A tunnel quiet both ways this long is closed. */
  idleTimeoutMs: number;
}

/** How an upgrade ended, for the caller's metrics and passive health. */
export type TunnelOutcome =
  | { kind: 'upgraded'; status: 101 }
  /** The origin answered, but not 101: its answer went to the client, then the connection closed. */
  | { kind: 'refused'; status: number }
  /** The origin could not be reached or did not answer in time: the client got `code`. */
  | { kind: 'failed'; error: string; timeout: boolean };

/**
 * An upgrade (WebSocket, RFC 6455; any RFC 9110 §7.8 upgrade) carried to the origin as an HTTP
 * request, and turned into a two-way byte tunnel only once the origin has answered `101 Switching
 * Protocols`. Until then nothing the client sends after its request head reaches the origin:
 * when the origin declines, its answer is relayed and the connection closed (nginx does the same),
 * so bytes the client sent hoping for a tunnel are never read as a second request past the route
 * table and the header rewriting. Node's HTTP client parses the origin's answer.
 */
export function openTunnel(client: Duplex, head: Buffer, o: TunnelOptions, onOutcome: (outcome: TunnelOutcome) => void, onClose: () => void): { abort(): void } {
  let settled = false;
  const settle = (outcome: TunnelOutcome) => {
    if (settled) return;
    settled = true;
    onOutcome(outcome);
  };
  const up = request({
    host: o.host,
    port: o.port,
    method: o.method,
    path: o.path,
    headers: o.headers,
    agent: false,
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
  });
  const timer = setTimeout(() => up.destroy(Object.assign(new Error('the origin did not answer the upgrade in time'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), o.headersTimeoutMs);
  client.on('error', () => up.destroy());
  client.once('close', () => {
    up.destroy();
    onClose();
  });

  up.on('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
    clearTimeout(timer);
    if (client.destroyed) return upstream.destroy();
    client.write(responseHead(res, o.forward, true));
    if (upstreamHead.length) client.write(upstreamHead);
    if (head.length) upstream.write(head);
    upstream.setNoDelay(true);
    for (const s of [client as Socket, upstream]) {
      s.setTimeout(o.idleTimeoutMs);
      s.on('timeout', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
    settle({ kind: 'upgraded', status: 101 });
  });

  up.on('response', (res: IncomingMessage) => {
    clearTimeout(timer);
    // Declined: the answer, delimited by the close (its own framing is gone once Node decoded it).
    client.write(responseHead(res, o.forward, false));
    res.on('data', (chunk: Buffer) => client.write(chunk));
    res.on('end', () => client.end());
    res.on('error', () => client.destroy());
    settle({ kind: 'refused', status: res.statusCode ?? 502 });
  });

  up.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    settle({ kind: 'failed', error: err.code ?? err.message, timeout: err.code === 'UND_ERR_HEADERS_TIMEOUT' });
  });
  up.end();
  return {
    abort() {
      clearTimeout(timer);
      up.destroy();
    },
  };
}

/** The origin's status line and headers for the client: hop-by-hop removed (but the upgrade's own), Via added. */
function responseHead(res: IncomingMessage, forward: ForwardStyle, upgraded: boolean): string {
  const headers = downstreamResponseHeaders(res.headers, forward);
  if (upgraded) {
    headers.connection = 'Upgrade';
    if (res.headers.upgrade) headers.upgrade = res.headers.upgrade;
  } else {
    delete headers['content-length'];
    headers.connection = 'close';
  }
  let text = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
  for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : [v]) text += `${k}: ${one}\r\n`;
  return `${text}\r\n`;
}
