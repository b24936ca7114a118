import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { constants } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { curl, h2, h2request, makeCerts, origin, sClient, servedName, startTlsProxy, tableFor, type Certs, type Origin, type TlsProxy } from './setup.js';

describe('HTTPS listeners: TLS 1.2/1.3, SNI, ALPN, HTTP/2 into the same request path', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  let app: Origin;
  let p: TlsProxy;

  beforeAll(async () => {
    dir = await tempDir('meridian-tls-');
    certs = await makeCerts(dir.path);
    app = await origin('app');
    // A second shard whose endpoint refuses connections: requests that land there are retried.
    const table = tableFor(app) as { routes: unknown[]; backends: Record<string, { shards: unknown[] }> };
    table.backends.live = { shards: [...table.backends.app!.shards] };
    table.backends.app!.shards.push({ cluster: 'dead', region: 'us-central1', endpoints: [{ address: '127.0.0.1', port: 1 }] });
    // Tunnels are not retried: their test goes to a backend without the dead shard.
    table.routes.unshift({ host: 'live.w.test', path: '/', backend: 'live' });
    p = await startTlsProxy(dir.path, [certs.a, certs.b, certs.wildcard], table, { limits: { maxBodyBytes: 1024 * 1024 }, healthCheck: { intervalMs: 60_000 } });
  }, 60_000);

  afterAll(async () => {
    await p?.proxy.drain();
    await app?.close();
    await dir?.remove();
  });

  it('retries over HTTP/2 as over HTTP/1.1: requests that reach the dead shard are answered by the live one (first, before the shard is known dead)', async () => {
    const before = await p.metric('meridian_proxy_retries_total');
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, () => h2request(s, { ':path': '/retry' })));
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    } finally {
      s.close();
    }
    expect(await p.metric('meridian_proxy_retries_total')).toBeGreaterThan(before);
  });

  it.each([
    ['a.test', '--http2', '2'],
    ['a.test', '--http1.1', '1.1'],
    ['b.test', '--http2', '2'],
    ['b.test', '--http1.1', '1.1'],
    ['x.w.test', '--http2', '2'],
    ['x.w.test', '--http1.1', '1.1'],
  ])('curl to %s with %s: the name\'s certificate (verified by curl against the CA), proxied with X-Forwarded-Proto https', async (host, flag, version) => {
    const r = await curl(p.tlsPort, host, certs.ca.ca, [flag]);
    expect([r.status, r.version]).toEqual([200, version]);
    const body = JSON.parse(r.body) as Record<string, unknown>;
    expect(body).toMatchObject({ name: 'app', host: `${host}:${p.tlsPort}`, proto: 'https', xfh: `${host}:${p.tlsPort}`, via: `${version === '2' ? '2' : '1.1'} meridian`, pseudo: [] });
    // Connection-specific fields of the origin's answer never reach the client, in either protocol.
    expect(r.headers).not.toMatch(/^(x-hop|http2-settings):/im);
    // HTTP/1.1 has the proxy's own Keep-Alive; HTTP/2 no connection-specific field at all.
    if (version === '2') expect(r.headers).not.toMatch(/^(connection|keep-alive|transfer-encoding|upgrade):/im);
    expect(r.headers).toMatch(/^via: 1\.1 meridian/im);
  });

  it('selects certificates by SNI: exact names, one-label wildcards, then the first certificate (also without SNI)', async () => {
    const served = async (args: string) => servedName((await sClient(p.tlsPort, [args, '-showcerts'])).out);
    expect(await served('-servername a.test')).toBe('a.test');
    expect(await served('-servername B.TEST')).toBe('b.test');
    expect(await served('-servername x.w.test')).toBe('*.w.test');
    expect(await served('-servername deeper.x.w.test')).toBe('a.test');
    expect(await served('-servername w.test')).toBe('a.test');
    expect(await served('-servername unknown.test')).toBe('a.test');
    expect(await served('-noservername')).toBe('a.test');
    // The RSA certificate is served to TLS 1.3 and 1.2 clients though the default is ECDSA.
    expect(await served('-servername b.test -tls1_3')).toBe('b.test');
    expect(await served('-servername b.test -tls1_2')).toBe('b.test');
  });

  it('speaks TLS 1.2 and 1.3 with ECDHE AEAD suites only; TLS 1.1 and a non-ECDHE suite are refused', async () => {
    const t13 = await sClient(p.tlsPort, ['-servername a.test', '-tls1_3']);
    expect(t13.out).toMatch(/New, TLSv1\.3, Cipher is TLS_AES_(128|256)_GCM_SHA(256|384)/);
    const t12 = await sClient(p.tlsPort, ['-servername a.test', '-tls1_2']);
    expect(t12.out).toMatch(/New, TLSv1\.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256/);
    const t12rsa = await sClient(p.tlsPort, ['-servername b.test', '-tls1_2']);
    expect(t12rsa.out).toMatch(/New, TLSv1\.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256/);
    const before = await p.metric('meridian_proxy_tls_handshake_errors_total', { reason: 'protocol' });
    // OpenSSL 3 offers TLS 1.1 only at security level 0.
    const t11 = await sClient(p.tlsPort, ['-servername a.test', '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
    expect(t11.out).not.toMatch(/New, TLSv1\.1/);
    expect(t11.out).toMatch(/alert protocol version|unsupported protocol|no protocols available/i);
    expect(await p.metric('meridian_proxy_tls_handshake_errors_total', { reason: 'protocol' })).toBeGreaterThan(before);
    const weak = await sClient(p.tlsPort, ['-servername a.test', '-tls1_2', '-cipher', 'AES128-SHA']);
    expect(weak.out).not.toMatch(/New, TLSv1\.2, Cipher is AES128-SHA/);
    expect(await p.metric('meridian_proxy_tls_handshake_errors_total', { reason: 'cipher' })).toBeGreaterThan(0);
  });

  it('negotiates h2 and http/1.1 by ALPN (and HTTP/1.1 without ALPN)', async () => {
    expect((await sClient(p.tlsPort, ['-servername a.test', '-alpn h2'])).out).toMatch(/ALPN protocol: h2/);
    expect((await sClient(p.tlsPort, ['-servername a.test', '-alpn http/1.1'])).out).toMatch(/ALPN protocol: http\/1\.1/);
    expect((await sClient(p.tlsPort, ['-servername b.test', '-alpn h2,http/1.1'])).out).toMatch(/ALPN protocol: h2/);
    expect((await sClient(p.tlsPort, ['-servername a.test'])).out).toMatch(/No ALPN negotiated/);
  });

  it.each([
    ['a.test', '-tls1_3'],
    ['b.test', '-tls1_3'],
    ['a.test', '-tls1_2'],
    ['x.w.test', '-tls1_2'],
  ])('resumes sessions for %s with %s (session tickets)', async (name, version) => {
    const file = `${dir.path}/sess-${name}${version}.pem`;
    const first = await sClient(p.tlsPort, [`-servername ${name}`, version, '-sess_out', file], 300);
    expect(first.out).toMatch(/New, TLSv1\.[23]/);
    const before = await p.metric('meridian_proxy_tls_handshakes_total', { resumed: 'true' });
    const again = await sClient(p.tlsPort, [`-servername ${name}`, version, '-sess_in', file]);
    expect(again.out).toMatch(/Reused, TLSv1\.[23]/);
    expect(await p.metric('meridian_proxy_tls_handshakes_total', { resumed: 'true' })).toBe(before + 1);
  });

  it('serves many concurrent HTTP/2 streams on one connection, announcing its limits', async () => {
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    try {
      await new Promise((r) => s.once('remoteSettings', r));
      expect(s.remoteSettings.maxConcurrentStreams).toBe(128);
      // Twice limits.maxHeaderBytes: past it the stream is reset; up to it, a list over the limit gets 431.
      expect(s.remoteSettings.maxHeaderListSize).toBe(2 * 16 * 1024);
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => h2request(s, { ':path': `/slow?ms=50&i=${i}`, ':authority': `a.test:${p.tlsPort}`, cookie: ['a=1', 'b=2'] })));
      for (const [i, a] of answers.entries()) {
        expect(a.status).toBe(200);
        const body = JSON.parse(a.body) as Record<string, unknown>;
        expect(body).toMatchObject({ url: `/slow?ms=50&i=${i}`, proto: 'https', via: '2 meridian', cookie: 'a=1; b=2', pseudo: [] });
        expect(a.headers.via).toBe('1.1 meridian');
        expect(a.headers['x-hop']).toBeUndefined();
      }
      // One connection carried them all.
      expect(answers.length).toBe(100);
    } finally {
      s.close();
    }
  });

  it('streams request bodies upstream over HTTP/2 and holds them to the body limit', async () => {
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    try {
      const up = await h2request(s, { ':method': 'POST', ':path': '/upload' }, Buffer.alloc(300 * 1024, 1));
      expect([up.status, JSON.parse(up.body).bytes, JSON.parse(up.body).method]).toEqual([200, 300 * 1024, 'POST']);
      const declared = await h2request(s, { ':method': 'POST', ':path': '/upload', 'content-length': String(2 * 1024 * 1024) }, Buffer.alloc(2 * 1024 * 1024, 1));
      expect([declared.status, declared.headers['x-meridian-error']]).toEqual([413, 'E_BODY_TOO_LARGE']);
      // Without a Content-Length the body is counted on its way upstream, and stopped at the limit.
      const undeclared = await h2request(s, { ':method': 'POST', ':path': '/upload' }, Buffer.alloc(2 * 1024 * 1024, 1));
      expect([undeclared.status, undeclared.headers['x-meridian-error']]).toEqual([413, 'E_BODY_TOO_LARGE']);
      // The connection lives on: a stream is refused, not the connection.
      expect((await h2request(s, { ':path': '/after' })).status).toBe(200);
    } finally {
      s.close();
    }
  });

  it('streams a large HTTP/2 response to a reader that pauses (flow control back to the origin), and lets the upstream request go when the client cancels mid-body', async () => {
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    try {
      const bytes = 4 * 1024 * 1024;
      const req = s.request({ ':path': `/big?bytes=${bytes}` });
      let got = 0;
      req.on('data', (c: Buffer) => (got += c.length));
      req.pause();
      // Paused well past HTTP/2's 64 KiB window: the proxy must hold the rest, then go on.
      await new Promise((r) => setTimeout(r, 200));
      req.resume();
      await new Promise((resolve, reject) => req.on('end', resolve).on('error', reject));
      expect(got).toBe(bytes);
      // Far more than the socket buffers between origin and proxy hold: the origin is still writing.
      const huge = 256 * 1024 * 1024;
      const cut = s.request({ ':path': `/big?bytes=${huge}` });
      await new Promise((r) => cut.once('data', r));
      cut.close(constants.NGHTTP2_CANCEL);
      // The origin's response is cut (else it would wait on a reader nobody is, until the body timeout).
      await waitFor(() => app.cut.length === 1, { timeoutMs: 5_000, what: 'the upstream response cut' });
      expect(app.cut).toEqual([`/big?bytes=${huge}`]);
      // The connection serves on.
      expect((await h2request(s, { ':path': '/' })).status).toBe(200);
    } finally {
      s.close();
    }
  });

  it('answers the proxy\'s own errors over HTTP/2 with their codes, per stream', async () => {
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    try {
      const noRoute = await h2request(s, { ':path': '/', ':authority': 'nowhere.test' });
      expect([noRoute.status, noRoute.headers['x-meridian-error'], noRoute.headers.connection]).toEqual([404, 'E_NO_ROUTE', undefined]);
      const badPath = await h2request(s, { ':path': '/a/%2F/b' });
      expect([badPath.status, badPath.headers['x-meridian-error']]).toEqual([400, 'E_BAD_PATH']);
      const twoHosts = await h2request(s, { ':path': '/', ':authority': 'a.test', host: 'b.test' });
      expect([twoHosts.status, twoHosts.headers['x-meridian-error']]).toEqual([400, 'E_BAD_HOST']);
      const dots = await h2request(s, { ':path': '/x/../echo?q=1' });
      expect([dots.status, JSON.parse(dots.body).url]).toEqual([200, '/echo?q=1']);
      expect((await h2request(s, { ':path': '/' })).status).toBe(200);
    } finally {
      s.close();
    }
  });

  it('answers 431 E_HEADERS_TOO_LARGE for an HTTP/2 header list over the limit (RFC 9113 size: name + value + 32 per field), resets one over twice it, and the connection serves on', async () => {
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    const counted = () => p.metric('meridian_proxy_requests_total', { code: '431' });
    const before = await counted();
    try {
      await new Promise((r) => s.once('remoteSettings', r));
      // What Node's client sends besides x-big, each field counted as name + value + 32.
      const fields = [[':method', 'GET'], [':authority', `a.test:${p.tlsPort}`], [':scheme', 'https'], [':path', '/'], ['x-big', '']];
      const base = fields.reduce((n, [k, v]) => n + k!.length + v!.length + 32, 0);
      const limit = 16 * 1024;
      const atLimit = await h2request(s, { ':path': '/', 'x-big': 'x'.repeat(limit - base) });
      expect(atLimit.status).toBe(200);
      const over = await h2request(s, { ':path': '/', 'x-big': 'x'.repeat(limit - base + 1) });
      expect([over.status, over.headers['x-meridian-error'], over.body]).toEqual([431, 'E_HEADERS_TOO_LARGE', '431 request headers too large (E_HEADERS_TOO_LARGE)\n']);
      // Too many fields is the same answer (limits.maxHeaderCount, 200, pseudo-headers included).
      const many = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-f${i}`, '1']));
      const tooMany = await h2request(s, { ':path': '/', ...many });
      expect([tooMany.status, tooMany.headers['x-meridian-error']]).toEqual([431, 'E_HEADERS_TOO_LARGE']);
      // Past twice the limit, nghttp2 resets the stream (the client sees a stream error, not an answer).
      await expect(h2request(s, { ':path': '/', 'x-big': 'x'.repeat(2 * limit) })).rejects.toThrow(/ENHANCE_YOUR_CALM|stream error/i);
      expect((await h2request(s, { ':path': '/' })).status).toBe(200);
    } finally {
      s.close();
    }
    expect(await counted()).toBe(before + 2);
  });

  it('HTTP/2 requests are counted like any other, HEAD has no body, and Expect: 100-continue is answered', async () => {
    const counted = async () => {
      const text = await p.proxy.metrics.registry.metrics();
      return text
        .split('\n')
        .filter((l) => l.startsWith('meridian_proxy_requests_total{') && l.includes('code="200"'))
        .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    };
    const before = await counted();
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    try {
      for (let i = 0; i < 5; i++) expect((await h2request(s, { ':path': `/count-${i}` })).status).toBe(200);
      const head = await h2request(s, { ':method': 'HEAD', ':path': '/head' });
      expect([head.status, head.body]).toEqual([200, '']);
      const cont = await new Promise<{ continued: boolean; status: number }>((resolve, reject) => {
        const req = s.request({ ':method': 'POST', ':path': '/continue', expect: '100-continue' }, { endStream: false });
        let continued = false;
        req.on('continue', () => {
          continued = true;
          req.end(Buffer.from('hello'));
        });
        req.on('response', (h) => {
          req.resume();
          req.on('end', () => resolve({ continued, status: Number(h[':status']) }));
        });
        req.on('error', reject);
      });
      expect(cont).toEqual({ continued: true, status: 200 });
    } finally {
      s.close();
    }
    expect(await counted()).toBe(before + 7);
  });

  it('tunnels a WebSocket upgrade over HTTPS/1.1 after the origin\'s 101', async () => {
    const ca = await readFile(certs.ca.ca);
    const got = await new Promise<string>((resolve, reject) => {
      const t = tlsConnect({ host: '127.0.0.1', port: p.tlsPort, servername: 'live.w.test', ca: [ca], ALPNProtocols: ['http/1.1'] }, () => {
        t.write('GET /ws HTTP/1.1\r\nHost: live.w.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      });
      let text = '';
      t.on('data', (d: Buffer) => {
        text += d.toString();
        if (text.includes('\r\n\r\n') && !text.includes('ping!')) t.write('ping!');
        if (text.includes('ping!')) {
          resolve(text);
          t.end();
        }
      });
      t.on('error', reject);
      t.on('close', () => resolve(text));
    });
    expect(got).toMatch(/^HTTP\/1\.1 101 /);
    expect(got).toMatch(/x-proto: https/i);
    expect(got.endsWith('ping!')).toBe(true);
  });

  it('the plain listener beside it is unchanged: X-Forwarded-Proto http, Via 1.1', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: p.port, path: '/plain', headers: { host: 'a.test' }, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body)).toMatchObject({ proto: 'http', via: '1.1 meridian' });
  });

  it('counts handshakes by protocol version', async () => {
    const ca = await readFile(certs.ca.ca);
    const cert = await new Promise<X509Certificate>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: p.tlsPort, servername: 'b.test', ca: [ca], maxVersion: 'TLSv1.2' }, () => {
        resolve(socket.getPeerX509Certificate()!);
        socket.end();
      });
      socket.on('error', reject);
    });
    expect(cert.subject).toContain('CN=b.test');
    expect(await p.metric('meridian_proxy_tls_handshakes_total', { protocol: 'TLSv1.2' })).toBeGreaterThan(0);
    expect(await p.metric('meridian_proxy_tls_handshakes_total', { protocol: 'TLSv1.3' })).toBeGreaterThan(0);
  });

  it('exports each certificate\'s expiry', async () => {
    const expiry = await p.metric('meridian_proxy_tls_certificate_expiry_timestamp_seconds', { name: 'b.test' });
    expect(expiry * 1000).toBeGreaterThan(Date.now() + 20 * 86_400_000);
  });
});
