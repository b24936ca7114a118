import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLogger } from '../../../src/common/log.js';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith, type RunningProxy } from '../../../src/proxy/main.js';
import { TestCA, type CertFiles } from '../../helpers/tls-certs.js';

export const execFileP = promisify(execFile);

/** The certificates every TLS test uses: two hosts (ECDSA, RSA), a wildcard, and bad ones. */
export interface Certs {
  ca: TestCA;
  /** a.test, ECDSA P-256: listed first, so the default. */
  a: CertFiles;
  /** b.test, RSA 2048. */
  b: CertFiles;
  /** *.w.test, ECDSA. */
  wildcard: CertFiles;
  expired: CertFiles;
  notYetValid: CertFiles;
  /** a.test's certificate with b.test's key. */
  mismatched: CertFiles;
}

export async function makeCerts(dir: string): Promise<Certs> {
  const ca = await TestCA.create(dir);
  const [a, b, wildcard, expired, notYetValid] = await Promise.all([
    ca.issue('a', { key: 'ecdsa', names: ['a.test'] }),
    ca.issue('b', { key: 'rsa', names: ['b.test'] }),
    ca.issue('wildcard', { key: 'ecdsa', names: ['*.w.test'] }),
    ca.issue('expired', { key: 'ecdsa', names: ['old.test'], start: '20200101000000Z', end: '20200201000000Z' }),
    ca.issue('future', { key: 'ecdsa', names: ['future.test'], start: '20991201000000Z', end: '20991231000000Z' }),
  ]);
  return { ca, a, b, wildcard, expired, notYetValid, mismatched: { cert: a.cert, key: b.key } };
}

export interface Origin {
  server: Server;
  port: number;
  seen: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  /** Paths whose response was cut before its end (the proxy let the upstream request go). */
  cut: string[];
  close(): Promise<void>;
}

/** An HTTP/1.1 origin that echoes what it got as JSON (and a few special paths), naming itself. */
export async function origin(name: string): Promise<Origin> {
  const seen: Origin['seen'] = [];
  const cut: string[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive, x-hop', 'keep-alive': 'timeout=5', 'x-hop': 'secret', 'http2-settings': 'AAMAAABkAAQAAP__' });
        res.end(JSON.stringify({ name, method: req.method, url: req.url, host: req.headers.host, proto: req.headers['x-forwarded-proto'], xfh: req.headers['x-forwarded-host'], via: req.headers.via, xff: req.headers['x-forwarded-for'], cookie: req.headers.cookie ?? null, te: req.headers.te ?? null, pseudo: Object.keys(req.headers).filter((h) => h.startsWith(':')), bytes: body.length }));
      };
      if (req.url?.startsWith('/big')) return void big(res, Number(new URL(req.url, 'http://x').searchParams.get('bytes')), () => cut.push(req.url!));
      if (req.url?.startsWith('/slow')) setTimeout(answer, Number(new URL(req.url, 'http://x').searchParams.get('ms') ?? 300));
      else answer();
    });
  });
  // A WebSocket-shaped echo: 101, then every byte back.
  server.on('upgrade', (req, socket, head: Buffer) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-proto: ${String(req.headers['x-forwarded-proto'])}\r\n\r\n`);
    if (head.length) socket.write(head);
    socket.on('data', (d) => socket.write(d));
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    seen,
    cut,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** `bytes` of body in 64 KiB writes, each after the last drained (a slow reader holds the origin back). */
function big(res: ServerResponse, bytes: number, onCut: () => void): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes });
  const chunk = Buffer.alloc(64 * 1024, 'b');
  let left = bytes;
  const more = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', more);
    }
    res.end();
  };
  res.on('close', () => {
    if (!res.writableFinished) onCut();
    left = 0;
  });
  more();
}

export interface TlsProxy {
  proxy: RunningProxy;
  /** The plain HTTP port, and the HTTPS one. */
  port: number;
  tlsPort: number;
  /** The admin port (status page, /status), when started with `{ admin: true }`. */
  adminPort?: number;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/** Starts a proxy in this process with a plain and a TLS listener in front of `backends` (and its admin port with `admin: true`). */
export async function startTlsProxy(dir: string, certificates: CertFiles[], table: Record<string, unknown>, extra: Record<string, unknown> = {}, options: { admin?: boolean } = {}): Promise<TlsProxy> {
  const config = parseProxyConfig({
    listen: [
      { host: '127.0.0.1', port: 0 },
      { host: '127.0.0.1', port: 0, tls: true },
    ],
    admin: { host: '127.0.0.1', port: 0 },
    region: 'us-central1',
    healthCheck: { intervalMs: 200, timeoutMs: 200 },
    ...extra,
    tls: { certificates: certificates.map((c) => ({ certFile: c.cert, keyFile: c.key })), ...((extra.tls as object | undefined) ?? {}) },
    table,
  });
  const proxy = await startProxyWith(config, config.table, { configPath: join(dir, 'proxy.yaml'), logger: createLogger('tls-test', process.env.MERIDIAN_TEST_LOG ?? 'silent'), watchTable: false, admin: options.admin ?? false });
  return {
    proxy,
    port: proxy.addresses[0]!.port,
    tlsPort: proxy.addresses[1]!.port,
    ...(proxy.admin ? { adminPort: proxy.admin.port } : {}),
    async metric(name, labels = {}) {
      const m = await proxy.metrics.registry.getSingleMetric(name)?.get();
      if (!m) return 0;
      let sum = 0;
      for (const v of m.values) if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
      return sum;
    },
  };
}

/** A one-backend table (a shard per origin): a.test, b.test and *.w.test route to it; other hosts get 404. */
export function tableFor(...origins: Origin[]): Record<string, unknown> {
  return {
    version: 'tls-1',
    routes: ['a.test', 'b.test', '*.w.test'].map((host) => ({ host, path: '/', backend: 'app' })),
    backends: { app: { shards: origins.map((o, i) => ({ cluster: `c${i}`, region: 'us-central1', endpoints: [{ address: '127.0.0.1', port: o.port }] })) } },
  };
}

/** `curl` over TLS for `host` (resolved to 127.0.0.1 with --resolve, so SNI and verification use the name). */
export async function curl(port: number, host: string, ca: string, args: string[] = []): Promise<{ status: number; version: string; body: string; headers: string }> {
  const { stdout } = await execFileP('curl', ['-sS', '--cacert', ca, '--resolve', `${host}:${port}:127.0.0.1`, '-D', '-', '-w', '\n%{http_code} %{http_version}', ...args, `https://${host}:${port}/echo`], { timeout: 10_000 });
  const lines = stdout.trimEnd().split('\n');
  const [status, version] = lines.pop()!.split(' ');
  const text = lines.join('\n');
  const split = text.indexOf('\r\n\r\n');
  return { status: Number(status), version: version!, headers: text.slice(0, split), body: text.slice(split + 4) };
}

/**
 * `openssl s_client` against the TLS port; resolves with its output and whether it succeeded.
 * `holdMs`: keep the connection open that long (TLS 1.3 session tickets come after the handshake).
 */
export async function sClient(port: number, args: string[], holdMs = 0): Promise<{ ok: boolean; out: string }> {
  try {
    const input = holdMs > 0 ? `(sleep ${holdMs / 1000}; echo)` : 'echo';
    const { stdout, stderr } = await execFileP('sh', ['-c', `${input} | openssl s_client -connect 127.0.0.1:${port} ${args.join(' ')} 2>&1`], { timeout: 10_000 });
    return { ok: !/errno|alert|error/i.test(stdout + stderr) || /Reused|New, TLS/.test(stdout), out: stdout + stderr };
  } catch (err) {
    return { ok: false, out: String((err as { stdout?: string }).stdout ?? err) };
  }
}

/** The subject CN of the certificate a server sent in `openssl s_client -showcerts` output. */
export function servedName(out: string): string | undefined {
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(out)?.[0];
  if (!pem) return undefined;
  return /CN=([^\n]*)/.exec(new X509Certificate(pem).subject)?.[1];
}

/** An HTTP/2 client session (Node's) to the TLS port, asking for `servername`. */
export function h2(port: number, servername: string, ca: string, options: Record<string, unknown> = {}): ClientHttp2Session {
  // Connects to 127.0.0.1, asking (SNI, :authority) for `servername`.
  const lookup = (_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) => (opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));
  const session = h2connect(`https://${servername}:${port}`, { ca, servername, lookup: lookup as never, ...options });
  session.on('error', () => {});
  return session;
}

/** One request on an HTTP/2 session: status, headers, body. */
export function h2request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let h: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (r) => {
      h = r;
      status = Number(r[':status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, headers: h, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

/** One HTTPS/1.1 request on a new connection (a new handshake: a client arriving now), verified against `ca` for `host`. */
export function httpsGet(port: number, host: string, ca: string | Buffer, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, servername: host, headers: { host }, path, ca, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
