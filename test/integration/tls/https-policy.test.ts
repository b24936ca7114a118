import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith, type RunningProxy } from '../../../src/proxy/main.js';
import { exchange, header, headerValues } from '../../helpers/raw-http.js';
import { tempDir } from '../../helpers/tmp.js';
import { curl, execFileP, h2, h2request, makeCerts, startTlsProxy, type Certs, type TlsProxy } from './setup.js';

const POLICY = 'max-age=31536000; includeSubDomains; preload';

/** An origin that sends its own Strict-Transport-Security (which a route's policy replaces) and echoes the request. */
async function stsOrigin(): Promise<{ server: Server; port: number; seen: string[] }> {
  const o = { server: undefined as unknown as Server, port: 0, seen: [] as string[] };
  o.server = createServer((req, res) => {
    o.seen.push(req.url ?? '');
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'strict-transport-security': 'max-age=5' });
      res.end(JSON.stringify({ method: req.method, url: req.url, bytes, proto: req.headers['x-forwarded-proto'] }));
    });
  });
  await new Promise<void>((r) => o.server.listen(0, '127.0.0.1', () => r()));
  o.port = (o.server.address() as AddressInfo).port;
  return o;
}

describe('HTTP → HTTPS redirect and HSTS per route (Ingress annotations)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  let ca: string;
  let app: Awaited<ReturnType<typeof stsOrigin>>;
  let p: TlsProxy;
  /** The same table behind a proxy with no HTTPS listener, and what it logged. */
  let plainOnly: RunningProxy;
  const plainOnlyLog: { level: number; msg: string; routes?: string[] }[] = [];

  const raw = (port: number, request: string) => exchange(port, request, { idleMs: 1000, stopWhen: (parsed) => parsed.messages.length > 0 });

  beforeAll(async () => {
    dir = await tempDir('meridian-https-policy-');
    certs = await makeCerts(dir.path);
    ca = await readFile(certs.ca.ca, 'utf8');
    app = await stsOrigin();
    const shards = [{ cluster: 'c0', region: 'us-central1', endpoints: [{ address: '127.0.0.1', port: app.port }] }];
    const redirect = { plainHttp: 'redirect', hsts: POLICY };
    const table = {
      version: 'policy-1',
      routes: [
        // a.test: redirect + HSTS; its /down answers 503 from the proxy itself (nothing listens on port 1).
        { host: 'a.test', path: '/down', backend: 'down', https: redirect },
        { host: 'a.test', path: '/', backend: 'app', https: redirect },
        // b.test: HSTS only, plain HTTP served.
        { host: 'b.test', path: '/', backend: 'app', https: { hsts: 'max-age=600' } },
        // x.w.test: no plain HTTP at all (allow-http: "false").
        { host: 'x.w.test', path: '/', backend: 'app', https: { plainHttp: 'refuse' } },
        { host: 'open.w.test', path: '/', backend: 'app' },
      ],
      // Any other host: redirected too (the hostile-Host cases).
      defaultBackend: 'app',
      defaultHttps: { plainHttp: 'redirect' },
      backends: { app: { shards }, down: { shards: [{ cluster: 'c0', region: 'us-central1', endpoints: [{ address: '127.0.0.1', port: 1 }] }] } },
    };
    // p trusts the test's own address as a front proxy (X-Forwarded-Proto); plainOnly trusts nobody.
    p = await startTlsProxy(dir.path, [certs.a, certs.b, certs.wildcard], table, { trustedProxies: ['127.0.0.1/32'], healthCheck: { intervalMs: 60_000 } });
    const config = parseProxyConfig({ listen: [{ host: '127.0.0.1', port: 0 }], admin: { host: '127.0.0.1', port: 0 }, region: 'us-central1', healthCheck: { intervalMs: 60_000 }, table });
    const sink = new Writable({ write: (line: Buffer, _enc, done) => (plainOnlyLog.push(JSON.parse(line.toString()) as (typeof plainOnlyLog)[number]), done()) });
    plainOnly = await startProxyWith(config, config.table, { configPath: `${dir.path}/plain.yaml`, logger: pino({ level: 'warn' }, sink), watchTable: false, admin: false });
  }, 60_000);

  afterAll(async () => {
    await p?.proxy.drain();
    await plainOnly?.drain();
    await new Promise((r) => app?.server.close(r));
    await dir?.remove();
  });

  it('answers a plain request for a redirecting route with 308 to the HTTPS listener, path and query kept, without HSTS and without asking the origin', async () => {
    // Two requests on one connection: a redirect without a body left unread keeps it open.
    const r = await exchange(p.port, 'GET /shop/../cart//items?id=7&x=%2F HTTP/1.1\r\nHost: a.test:8080\r\n\r\nHEAD /b HTTP/1.1\r\nHost: A.TEST\r\n\r\n', { idleMs: 1000, stopWhen: (parsed) => parsed.messages.length === 2 });
    expect(r.responses.map((m) => [m.status, header(m, 'location'), header(m, 'content-length'), headerValues(m, 'strict-transport-security').length])).toEqual([
      [308, `https://a.test:${p.tlsPort}/cart/items?id=7&x=%2F`, '0', 0],
      [308, `https://A.TEST:${p.tlsPort}/b`, '0', 0],
    ]);
    expect(app.seen.filter((url) => url.startsWith('/cart') || url === '/b')).toEqual([]);
    expect(await p.metric('meridian_proxy_requests_total', { code: '308', backend: 'app' })).toBeGreaterThanOrEqual(2);
  });

  it('keeps the method and the body: curl -L posts again to the HTTPS URL and gets the route\'s HSTS there', async () => {
    const { stdout } = await execFileP('curl', ['-sS', '-L', '--cacert', certs.ca.ca, '--resolve', `a.test:${p.port}:127.0.0.1`, '--resolve', `a.test:${p.tlsPort}:127.0.0.1`, '-D', '-', '--data-binary', 'hello', `http://a.test:${p.port}/form?q=1`], { timeout: 10_000 });
    const heads = stdout.split('\r\n\r\n');
    const body = heads.pop()!;
    expect(heads.map((h) => /^HTTP\/[\d.]+ (\d+)/.exec(h)?.[1])).toEqual(['308', '200']);
    expect(heads[0]).not.toMatch(/^strict-transport-security:/im);
    expect(heads[1]!.match(/^strict-transport-security:.*$/gim)).toEqual([`strict-transport-security: ${POLICY}`]);
    expect(JSON.parse(body)).toEqual({ method: 'POST', url: '/form?q=1', bytes: 5, proto: 'https' });
  });

  it('closes the connection after redirecting a request whose body it did not read', async () => {
    const r = await exchange(p.port, 'POST /form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a.test\r\n\r\n', { idleMs: 1000 });
    expect(r.responses.map((m) => [m.status, header(m, 'connection')])).toEqual([[308, 'close']]);
    expect(r.closed).toBe(true);
  });

  it.each([['--http1.1'], ['--http2']])('sends the route\'s HSTS over HTTPS (%s), replacing the origin\'s: one header', async (flag) => {
    const r = await curl(p.tlsPort, 'a.test', certs.ca.ca, [flag]);
    expect(r.status).toBe(200);
    expect(r.headers.match(/^strict-transport-security:.*$/gim)).toEqual([`strict-transport-security: ${POLICY}`]);
  });

  it('never sends HSTS over plain HTTP: a route with HSTS and no redirect is served without it (the origin\'s removed too)', async () => {
    const r = await raw(p.port, 'GET /x HTTP/1.1\r\nHost: b.test\r\n\r\n');
    expect(r.responses[0]!.status).toBe(200);
    expect(headerValues(r.responses[0]!, 'strict-transport-security')).toEqual([]);
    const tls = await curl(p.tlsPort, 'b.test', certs.ca.ca, ['--http1.1']);
    expect(tls.headers.match(/^strict-transport-security:.*$/gim)).toEqual(['strict-transport-security: max-age=600']);
    // A route without a policy passes the origin's header through as it is.
    const open = await curl(p.tlsPort, 'open.w.test', certs.ca.ca, ['--http2']);
    expect(open.headers.match(/^strict-transport-security:.*$/gim)).toEqual(['strict-transport-security: max-age=5']);
  });

  it('puts HSTS on the proxy\'s own error answers over HTTPS, HTTP/1.1 and HTTP/2 (nginx\'s "always")', async () => {
    const h1 = await execFileP('curl', ['-sS', '--http1.1', '--cacert', certs.ca.ca, '--resolve', `a.test:${p.tlsPort}:127.0.0.1`, '-D', '-', '-o', '/dev/null', `https://a.test:${p.tlsPort}/down`], { timeout: 10_000 });
    expect(h1.stdout).toMatch(/^HTTP\/1\.1 503 /);
    expect(h1.stdout).toMatch(/^x-meridian-error: E_NO_BACKEND$/m);
    expect(h1.stdout.match(/^strict-transport-security:.*$/gim)).toEqual([`strict-transport-security: ${POLICY}`]);
    const s = h2(p.tlsPort, 'a.test', ca);
    try {
      const r = await h2request(s, { ':path': '/down' });
      expect([r.status, r.headers['x-meridian-error'], r.headers['strict-transport-security']]).toEqual([503, 'E_NO_BACKEND', POLICY]);
    } finally {
      s.close();
    }
  });

  it('refuses plain HTTP to a route that allows none (421 E_HTTPS_ONLY) and serves it over HTTPS', async () => {
    const r = await raw(p.port, 'GET / HTTP/1.1\r\nHost: x.w.test\r\n\r\n');
    expect([r.responses[0]!.status, header(r.responses[0]!, 'x-meridian-error')]).toEqual([421, 'E_HTTPS_ONLY']);
    expect((await curl(p.tlsPort, 'x.w.test', certs.ca.ca, ['--http2'])).status).toBe(200);
  });

  it.each([
    // [Host header or request line, expected Location or error code]
    ['Host: evil.example/a.test', 'E_BAD_HOST'],
    ['Host: a.test@evil.example', 'E_BAD_HOST'],
    ['Host: evil.example\\a.test', 'E_BAD_HOST'],
    ['Host: a.test:80:80', 'E_BAD_HOST'],
    ['Host: a.test%2f@evil', 'E_BAD_HOST'],
    ['Host: [::1]:80', 'https://[::1]:PORT/p'],
    ['Host: other.test.', 'https://other.test.:PORT/p'],
  ])('%s on a redirecting route: %s, never a Location elsewhere', async (host, want) => {
    const r = await raw(p.port, `GET /p HTTP/1.1\r\n${host}\r\n\r\n`);
    const m = r.responses[0]!;
    if (want.startsWith('E_')) {
      expect([m.status, header(m, 'x-meridian-error'), header(m, 'location')]).toEqual([400, want, undefined]);
    } else {
      expect([m.status, header(m, 'location')]).toEqual([308, want.replace('PORT', String(p.tlsPort))]);
    }
  });

  it.each([
    ['GET //evil.example/x HTTP/1.1\r\nHost: a.test', '/evil.example/x'],
    // Absolute-form: its authority is the host (RFC 9112 §3.2.2); the dot-segment is resolved first.
    ['GET http://a.test//evil.example/%2e%2e/y?z=//w HTTP/1.1\r\nHost: other.test', '/y?z=//w'],
    ['GET /caf%c3%a9?q=%ff HTTP/1.1\r\nHost: a.test', '/caf%C3%A9?q=%ff'],
    ['GET /p HTTP/1.0\r\nHost: a.test', '/p'],
    // An escaped CR LF stays escaped: it cannot end the Location's line.
    ['GET /a%0d%0aLocation:%20//evil HTTP/1.1\r\nHost: a.test', '/a%0D%0ALocation:%20/evil'],
  ])('%j: the Location is this host and the normalised target, escaped', async (head, path) => {
    const r = await raw(p.port, `${head}\r\n\r\n`);
    // The strict parser read it: no CR, LF or other control byte came out in the Location.
    const m = r.responses[0]!;
    expect(r.parsed.error).toBeUndefined();
    expect([m.status, header(m, 'location')]).toEqual([308, `https://a.test:${p.tlsPort}${path}`]);
  });

  it('refuses a request without any Host (HTTP/1.0) rather than redirecting it nowhere', async () => {
    const none = await raw(p.port, 'GET /p HTTP/1.0\r\n\r\n');
    expect([none.responses[0]!.status, header(none.responses[0]!, 'x-meridian-error'), header(none.responses[0]!, 'location')]).toEqual([400, 'E_BAD_HOST', undefined]);
  });

  it('redirects a plain WebSocket upgrade (ws:// → wss://) and tunnels nothing', async () => {
    const r = await exchange(p.port, 'GET /ws?room=1 HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', { idleMs: 1000 });
    expect([r.responses[0]!.status, header(r.responses[0]!, 'location')]).toEqual([308, `https://a.test:${p.tlsPort}/ws?room=1`]);
    expect(r.closed).toBe(true);
    expect(app.seen.filter((url) => url.startsWith('/ws'))).toEqual([]);
  });

  it('takes a trusted front proxy\'s X-Forwarded-Proto https as HTTPS: served with HSTS, not redirected (no loop behind a TLS-terminating balancer)', async () => {
    const r = await raw(p.port, 'GET /x HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-Proto: https\r\n\r\n');
    expect([r.responses[0]!.status, header(r.responses[0]!, 'strict-transport-security')]).toEqual([200, POLICY]);
    expect((await raw(p.port, 'GET /x HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-Proto: http\r\n\r\n')).responses[0]!.status).toBe(308);
    // From a peer that is not trusted the header is only a claim: no HSTS over what is plain HTTP.
    const untrusted = await raw(plainOnly.addresses[0]!.port, 'GET /x HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-Proto: https\r\n\r\n');
    expect([untrusted.responses[0]!.status, header(untrusted.responses[0]!, 'strict-transport-security')]).toEqual([200, undefined]);
  });

  it('without an HTTPS listener, redirects nobody: the request is served, and the table\'s load said so once', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await raw(plainOnly.addresses[0]!.port, 'GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n');
      expect([r.responses[0]!.status, header(r.responses[0]!, 'location'), header(r.responses[0]!, 'strict-transport-security')]).toEqual([200, undefined, undefined]);
    }
    const warned = plainOnlyLog.filter((l) => l.msg.includes('HTTP → HTTPS redirects'));
    expect(warned.map((l) => [l.level, l.routes])).toEqual([[40, ['a.test/down', 'a.test/', '(default)']]]);
  });

  it('sends clients to tls.redirectPort when a balancer in front maps the HTTPS port (443: no port in the Location)', async () => {
    const q = await startTlsProxy(dir.path, [certs.a], { version: 'r', routes: [], defaultBackend: 'app', defaultHttps: { plainHttp: 'redirect' }, backends: { app: { shards: [] } } }, { tls: { redirectPort: 443 } });
    try {
      const r = await raw(q.port, 'GET /x?y HTTP/1.1\r\nHost: a.test:80\r\n\r\n');
      expect([r.responses[0]!.status, header(r.responses[0]!, 'location')]).toEqual([308, 'https://a.test/x?y']);
    } finally {
      await q.proxy.drain();
    }
  });
});
