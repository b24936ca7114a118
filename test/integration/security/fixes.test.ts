import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/common/log.js';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith, type RunningProxy } from '../../../src/proxy/main.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * The defects an adversarial probe found in the proxy (issue 11), each reproduced on raw sockets
 * against a real proxy and a real origin: these fail on the code before the fixes.
 */

/** What came back on one raw connection: every byte, and whether (and when) it closed. */
interface RawReply {
  text: string;
  closed: boolean;
  at: number;
}

/** Writes `parts` (with pauses between them), then collects what comes back until close or `idleMs` of silence. */
function rawExchange(port: number, parts: (string | Buffer | { waitMs: number } | { until: RegExp })[], idleMs = 800, readNothing = false): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    const start = performance.now();
    let idle: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(idle);
      socket.destroy();
      resolve({ text, closed, at: performance.now() - start });
    };
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(done, idleMs);
    };
    const waiters: { re: RegExp; go: () => void }[] = [];
    if (readNothing) socket.pause();
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      arm();
      for (const w of waiters.splice(0)) if (w.re.test(text)) w.go();
        else waiters.push(w);
    });
    socket.on('close', () => {
      closed = true;
      done();
    });
    socket.on('error', () => {});
    socket.on('connect', async () => {
      for (const p of parts) {
        if (typeof p === 'object' && 'waitMs' in p) await new Promise((r) => setTimeout(r, p.waitMs));
        else if (typeof p === 'object' && 'until' in p) await new Promise<void>((go) => (p.until.test(text) ? go() : waiters.push({ re: p.until, go })));
        else if (!socket.destroyed) socket.write(p);
      }
      arm();
    });
  });
}

/** A raw TCP origin: records the bytes of each connection and answers with `reply(bytesSoFar, socket)`. */
async function rawOrigin(reply: (received: string, socket: Socket) => void): Promise<{ server: Server; port: number; received: string[] }> {
  const received: string[] = [];
  const server = createServer((socket) => {
    const i = received.push('') - 1;
    socket.on('data', (d: Buffer) => {
      received[i] += d.toString('latin1');
      reply(received[i]!, socket);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port, received };
}

/** A node:http origin that records the requests it parsed (the proxy's health probes apart). */
async function httpOrigin(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: HttpServer; port: number; seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] }> {
  const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const server = createHttpServer((req, res) => {
    if (String(req.headers['user-agent']).startsWith('meridian-health-check')) return void res.end('ok');
    const rec = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' };
    seen.push(rec);
    req.on('data', (d: Buffer) => (rec.body += d.toString()));
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A proxy in front of `backends` (name → port), routes as given; extra config merged in. */
async function proxyFor(backends: Record<string, number>, routes: { path: string; backend: string; pathType?: string }[], extra: Record<string, unknown> = {}): Promise<{ port: number; admin: number; proxy: RunningProxy }> {
  const table = {
    version: 'sec',
    routes,
    ...(routes.length === 0 ? { defaultBackend: Object.keys(backends)[0] } : {}),
    backends: Object.fromEntries(Object.entries(backends).map(([name, port]) => [name, { shards: [{ cluster: `c-${name}`, region: 'us-central1', endpoints: [{ address: '127.0.0.1', port }] }] }])),
  };
  const config = parseProxyConfig({ listen: [{ host: '127.0.0.1', port: 0 }], admin: { host: '127.0.0.1', port: 0 }, region: 'us-central1', table, healthCheck: { intervalMs: 60_000 }, ...extra });
  const proxy = await startProxyWith(config, table, { configPath: '/nonexistent', logger: createLogger('sec-test', 'silent'), watchTable: false });
  closers.push(() => proxy.drain());
  return { port: proxy.addresses[0]!.port, admin: proxy.admin!.port, proxy };
}

const metricsOf = async (admin: number) => (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
const counted = (text: string, code: number) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('meridian_proxy_requests_total{') && l.includes(`code="${code}"`))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);

describe('1. upgrades tunnel only after the origin said 101', () => {
  it('relays a refusal and closes: the client\'s next bytes never reach the origin unparsed', async () => {
    const origin = await rawOrigin((got, socket) => {
      if (got.includes('\r\n\r\n') && !socket.writableEnded) socket.write('HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno');
    });
    closers.push(() => void origin.server.close());
    const { port, admin } = await proxyFor({ ws: origin.port }, []);
    const smuggled = 'GET /admin HTTP/1.1\r\nhost: internal\r\n\r\n';
    const reply = await rawExchange(port, [`GET /chat HTTP/1.1\r\nhost: app.test\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n${smuggled}`]);
    expect(reply.text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(reply.text).toMatch(/\r\nconnection: close\r\n/i);
    expect(reply.text.endsWith('no')).toBe(true);
    expect(reply.closed).toBe(true);
    expect(origin.received.join('')).not.toContain('/admin');
    expect(await metricsOf(admin)).toMatch(/meridian_proxy_tunnels_total\{outcome="refused-by-origin"\} 1/);
  });

  it('tunnels after 101, with an idle timeout and a cap on tunnels', async () => {
    const origin = createHttpServer((_req, res) => res.end('plain'));
    origin.on('upgrade', (_req, socket: Socket, head: Buffer) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: Upgrade\r\n\r\n');
      if (head.length) socket.write(head);
      socket.on('data', (d) => socket.write(d));
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
    closers.push(() => {
      origin.closeAllConnections();
      origin.close();
    });
    const { port, admin } = await proxyFor({ ws: (origin.address() as AddressInfo).port }, [], { limits: { tunnelIdleTimeoutMs: 400, maxTunnels: 1 } });
    const upgrade = 'GET /echo HTTP/1.1\r\nhost: app.test\r\nconnection: Upgrade\r\nupgrade: echo\r\n\r\n';
    const first = rawExchange(port, [upgrade, { until: /\r\n\r\n/ }, 'ping-1'], 3_000);
    await new Promise((r) => setTimeout(r, 150));
    // The cap: a second tunnel while the first is open is refused.
    const second = await rawExchange(port, [upgrade], 500);
    expect(second.text).toMatch(/^HTTP\/1\.1 503 .*\r\n[\s\S]*x-meridian-error: E_TUNNEL_LIMIT/);
    const r = await first;
    expect(r.text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(r.text).toContain('ping-1');
    // Closed by the proxy's idle timeout (400 ms), well before the client's own 3 s.
    expect(r.closed).toBe(true);
    expect(r.at).toBeLessThan(2_000);
    const m = await metricsOf(admin);
    expect(m).toMatch(/meridian_proxy_tunnels_total\{outcome="upgraded"\} 1/);
    expect(m).toMatch(/meridian_proxy_tunnels_total\{outcome="limited"\} 1/);
  });
});

describe('2. routes match the normalised path, and the normalised path is forwarded', () => {
  it.each([
    ['/public/../secret', 'private', '/secret'],
    ['/public/%2e%2e/secret', 'private', '/secret'],
    ['/public/%2E%2e%2Fsecret', 'refused', ''],
    ['/public//a/./b', 'public', '/public/a/b'],
    ['/public/a?x=/../', 'public', '/public/a?x=/../'],
  ])('%s goes to %s as %s', async (target, where, forwarded) => {
    const pub = await httpOrigin((_req, res) => res.end('public'));
    const priv = await httpOrigin((_req, res) => res.end('private'));
    closers.push(() => void pub.server.close(), () => void priv.server.close());
    const { port } = await proxyFor({ public: pub.port, private: priv.port }, [
      { path: '/public', backend: 'public' },
      { path: '/', backend: 'private' },
    ]);
    const reply = await rawExchange(port, [`GET ${target} HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n`]);
    if (where === 'refused') {
      expect(reply.text).toMatch(/^HTTP\/1\.1 400 [\s\S]*x-meridian-error: E_BAD_PATH/);
      expect(pub.seen.length + priv.seen.length).toBe(0);
      return;
    }
    expect(reply.text).toMatch(new RegExp(`^HTTP/1\\.1 200[\\s\\S]*${where}$`));
    const seen = (where === 'public' ? pub : priv).seen;
    await waitFor(() => seen.length === 1);
    expect(seen[0]!.url).toBe(forwarded);
  });

  it('keeps encoded slashes as data when paths.encodedSlashes is keep', async () => {
    const o = await httpOrigin((_req, res) => res.end('ok'));
    closers.push(() => void o.server.close());
    const { port } = await proxyFor({ api: o.port }, [], { paths: { encodedSlashes: 'keep' } });
    const reply = await rawExchange(port, ['GET /api/group%2fproject HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n']);
    expect(reply.text).toMatch(/^HTTP\/1\.1 200/);
    await waitFor(() => o.seen.length === 1);
    expect(o.seen[0]!.url).toBe('/api/group%2Fproject');
  });
});

describe('3. clients that never read cannot starve an endpoint', () => {
  it('drops a reader that read nothing for downstreamWriteTimeoutMs, freeing the connection', async () => {
    const chunk = Buffer.alloc(64 * 1024, 120);
    let bigCut = false;
    const o = await httpOrigin((req, res) => {
      if (req.url !== '/big') return void res.end('small');
      // An endless download, written as fast as it is taken: only a cut connection ends it.
      res.on('close', () => (bigCut = !res.writableFinished));
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    closers.push(() => {
      o.server.closeAllConnections();
      o.server.close();
    });
    const { port } = await proxyFor({ app: o.port }, [], { limits: { upstreamConnectionsPerEndpoint: 1, downstreamWriteTimeoutMs: 300, upstreamQueueTimeoutMs: 5_000 } });
    const stuck = rawExchange(port, ['GET /big HTTP/1.1\r\nhost: app.test\r\n\r\n'], 4_000, true);
    await waitFor(() => o.seen.length === 1);
    const t0 = performance.now();
    const next = await rawExchange(port, ['GET /small HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n'], 3_000);
    expect(next.text).toMatch(/^HTTP\/1\.1 200[\s\S]*small$/);
    expect(performance.now() - t0).toBeLessThan(2_000);
    // The stuck response was abandoned upstream too: the origin saw its connection go.
    await waitFor(() => bigCut, { what: 'the upstream response abandoned' });
    await stuck;
  });

  it('answers 503 E_QUEUE_TIMEOUT after upstreamQueueTimeoutMs, and does not hold it against the endpoint', async () => {
    const o = await httpOrigin((req, res) => void setTimeout(() => res.end('late'), req.url === '/hold' ? 2_500 : 0));
    closers.push(() => {
      o.server.closeAllConnections();
      o.server.close();
    });
    const { port, proxy } = await proxyFor({ app: o.port }, [], { limits: { upstreamConnectionsPerEndpoint: 1, upstreamQueueTimeoutMs: 400 }, outlier: { consecutiveErrors: 1 } });
    const hold = rawExchange(port, ['GET /hold HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n'], 4_000);
    await waitFor(() => o.seen.length === 1 || true);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const queued = await rawExchange(port, ['GET /q HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n'], 3_000);
    expect(queued.text).toMatch(/^HTTP\/1\.1 503 [\s\S]*x-meridian-error: E_QUEUE_TIMEOUT/);
    expect(performance.now() - t0).toBeLessThan(1_500);
    expect(proxy.state.outlier.isEjected(0)).toBe(false);
    expect((await hold).text).toMatch(/late$/);
  });
});

describe('4. Expect: 100-continue works end to end and never counts against the endpoint', () => {
  it('answers 100 Continue, forwards the body, and a burst of them ejects nothing', async () => {
    const o = await httpOrigin((req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.end(`got ${n}`));
    });
    closers.push(() => void o.server.close());
    const { port, proxy } = await proxyFor({ app: o.port }, [], { outlier: { consecutiveErrors: 2 } });
    for (let i = 0; i < 6; i++) {
      const reply = await rawExchange(port, ['POST /up HTTP/1.1\r\nhost: app.test\r\nexpect: 100-continue\r\ncontent-length: 5\r\nconnection: close\r\n\r\n', { until: /100 Continue\r\n\r\n/ }, 'hello']);
      expect(reply.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 [\s\S]*got 5$/);
    }
    expect(proxy.state.outlier.isEjected(0)).toBe(false);
    expect(o.seen.every((r) => r.headers.expect === undefined)).toBe(true);
  });

  it('refuses a body over the limit before the client sends it (no 100 Continue)', async () => {
    const o = await httpOrigin((_req, res) => res.end('x'));
    closers.push(() => void o.server.close());
    const { port } = await proxyFor({ app: o.port }, [], { limits: { maxBodyBytes: 10 } });
    const reply = await rawExchange(port, ['POST /up HTTP/1.1\r\nhost: app.test\r\nexpect: 100-continue\r\ncontent-length: 50\r\n\r\n']);
    expect(reply.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(reply.text).not.toContain('100 Continue');
    expect(o.seen.length).toBe(0);
  });
});

describe('5. the response-headers timeout runs from the end of the upload', () => {
  it('lets a slow but steady upload through, and times out a silence after it', async () => {
    const o = await httpOrigin((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/ok') res.end('uploaded');
        // /silent: the whole body came, and then nothing
      });
    });
    closers.push(() => {
      o.server.closeAllConnections();
      o.server.close();
    });
    const { port } = await proxyFor({ app: o.port }, [], { limits: { upstreamHeadersTimeoutMs: 500 } });
    const slowUpload = (path: string) => [`POST ${path} HTTP/1.1\r\nhost: app.test\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n`, ...Array.from({ length: 8 }, () => ['4\r\ndata\r\n', { waitMs: 200 }]).flat(), '0\r\n\r\n'];
    const ok = await rawExchange(port, slowUpload('/ok'), 2_000);
    expect(ok.text).toMatch(/^HTTP\/1\.1 200 [\s\S]*uploaded$/);
    const silent = await rawExchange(port, slowUpload('/silent'), 2_000);
    expect(silent.text).toMatch(/^HTTP\/1\.1 504 [\s\S]*x-meridian-error: E_UPSTREAM_TIMEOUT/);
  });
});

describe('6. an error answer for a bad pipelined request waits for the response in flight', () => {
  it('finishes the streaming response, then answers 400 and closes', async () => {
    const o = await httpOrigin((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const t = setInterval(() => {
        res.write(`part-${n}\n`);
        if (++n === 5) {
          clearInterval(t);
          res.end('end\n');
        }
      }, 100);
    });
    closers.push(() => void o.server.close());
    const { port } = await proxyFor({ app: o.port }, []);
    const reply = await rawExchange(port, ['GET /stream HTTP/1.1\r\nhost: app.test\r\n\r\nGARBAGE \x00\r\n\r\n'], 1_500);
    const first = reply.text.indexOf('HTTP/1.1 200');
    const error = reply.text.indexOf('HTTP/1.1 400');
    const endOfFirst = reply.text.indexOf('end\n');
    expect(first).toBe(0);
    expect(endOfFirst).toBeGreaterThan(0);
    expect(error).toBeGreaterThan(endOfFirst);
    expect(reply.closed).toBe(true);
  });
});

describe('7. every request is counted once, with the status the client saw', () => {
  it('counts a client that left as 499, and what the proxy refused itself', async () => {
    const o = await httpOrigin((req, res) => void setTimeout(() => res.end('late'), req.url === '/app/slow' ? 1_000 : 0));
    closers.push(() => {
      o.server.closeAllConnections();
      o.server.close();
    });
    const { port, admin } = await proxyFor({ app: o.port }, [{ path: '/app', backend: 'app' }], { limits: { maxBodyBytes: 10 } });
    await rawExchange(port, ['GET /app/slow HTTP/1.1\r\nhost: app.test\r\n\r\n'], 200); // leaves after 200 ms
    await rawExchange(port, ['GET /nowhere HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n']);
    await rawExchange(port, ['POST /app HTTP/1.1\r\nhost: app.test\r\ncontent-length: 99\r\n\r\n']);
    await rawExchange(port, ['GET /app/%zz HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n']);
    await rawExchange(port, ['BAD REQUEST LINE\r\n\r\n']);
    await waitFor(async () => counted(await metricsOf(admin), 499) === 1, { what: 'the 499', timeoutMs: 3000 });
    const m = await metricsOf(admin);
    expect(counted(m, 200)).toBe(0);
    expect(counted(m, 404)).toBe(1);
    expect(counted(m, 413)).toBe(1);
    expect(counted(m, 400)).toBe(2);
  });
});

describe('8. an unsolicited 100 Continue from the origin', () => {
  it('is skipped, and the final response reaches the client', async () => {
    const origin = await rawOrigin((got, socket) => {
      if (got.includes('\r\n\r\n') && !socket.writableEnded) socket.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nfinal');
    });
    closers.push(() => void origin.server.close());
    const { port } = await proxyFor({ app: origin.port }, []);
    const reply = await rawExchange(port, ['GET / HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n']);
    expect(reply.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*final$/);
  });
});

describe('the lesser ones', () => {
  const plain = async () => {
    const o = await httpOrigin((_req, res) => res.end('ok'));
    closers.push(() => void o.server.close());
    return { o, ...(await proxyFor({ app: o.port }, [])) };
  };

  it.each([
    ['two Host headers', 'GET / HTTP/1.1\r\nhost: a.test\r\nhost: b.test\r\n\r\n', /^HTTP\/1\.1 400 [\s\S]*E_BAD_HOST/],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\nx: y\r\n\r\n', /^HTTP\/1\.1 400 [\s\S]*E_BAD_HOST/],
    ['HTTP/2.0 on an HTTP/1 connection', 'GET / HTTP/2.0\r\nhost: a.test\r\n\r\n', /^HTTP\/1\.1 (505|400) /],
    ['HTTP/0.9', 'GET /\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['a transfer coding other than chunked', 'POST / HTTP/1.1\r\nhost: a.test\r\ntransfer-encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', /^HTTP\/1\.1 501 [\s\S]*E_TRANSFER_CODING/],
  ])('refuses %s, and nothing reaches the origin', async (_case, bytes, status) => {
    const { o, port } = await plain();
    const reply = await rawExchange(port, [bytes]);
    expect(reply.text).toMatch(status);
    expect(o.seen.length).toBe(0);
  });

  it('forwards an absolute-form request in origin-form, with the target\'s authority as Host', async () => {
    const { o, port } = await plain();
    const reply = await rawExchange(port, ['GET http://app.test/x/../y?q=1 HTTP/1.1\r\nhost: other.test\r\nconnection: close\r\n\r\n']);
    expect(reply.text).toMatch(/^HTTP\/1\.1 200/);
    await waitFor(() => o.seen.length === 1);
    expect(o.seen[0]!.url).toBe('/y?q=1');
    expect(o.seen[0]!.headers.host).toBe('app.test');
  });

  it('never passes a client\'s X-Forwarded-* claims on, also from an HTTP/1.0 request with no Host', async () => {
    // Origins build absolute links (password resets, redirects, cache keys) from X-Forwarded-Host:
    // an untrusted client's must never reach them, whether or not the request had a Host to put there.
    const { o, port } = await plain();
    await rawExchange(port, ['GET / HTTP/1.0\r\nx-forwarded-host: evil.test\r\nx-forwarded-proto: https\r\nx-forwarded-for: 10.9.9.9\r\n\r\n']);
    await rawExchange(port, ['GET / HTTP/1.1\r\nhost: app.test\r\nx-forwarded-host: evil.test\r\nconnection: close\r\n\r\n']);
    await waitFor(() => o.seen.length === 2);
    const [noHost, withHost] = o.seen;
    expect(noHost!.headers['x-forwarded-host']).toBeUndefined();
    expect(noHost!.headers['x-forwarded-proto']).toBe('http');
    expect(noHost!.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(withHost!.headers['x-forwarded-host']).toBe('app.test');
  });

  it('never lets Connection take Host away', async () => {
    const { o, port } = await plain();
    await rawExchange(port, ['GET / HTTP/1.1\r\nhost: app.test\r\nconnection: host, x-gone\r\nx-gone: 1\r\n\r\n']);
    await waitFor(() => o.seen.length === 1);
    expect(o.seen[0]!.headers.host).toBe('app.test');
    expect(o.seen[0]!.headers['x-gone']).toBeUndefined();
  });

  it('answers a slowloris with 408 close to limits.headersTimeoutMs, not up to 30 s later', async () => {
    const { port } = await proxyFor({ app: 9 }, [], { limits: { headersTimeoutMs: 1_000 } });
    const drip = Array.from({ length: 30 }, (_, i) => ['GET / HTTP/1.1\r\nhost: a\r\nx: '.charAt(i) || 'a', { waitMs: 100 }]).flat();
    const reply = await rawExchange(port, drip, 3_000);
    expect(reply.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(reply.closed).toBe(true);
    expect(reply.at).toBeLessThan(1_700);
  });
});
