import { createHash } from 'node:crypto';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/common/log.js';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith, type RunningProxy } from '../../../src/proxy/main.js';
import { endpointOf, namedBackends, type Served } from '../../helpers/backends.js';
import { waitFor } from '../../helpers/wait.js';

interface Backend {
  name: string;
  server: Server;
  port: number;
  host: string;
  seen: IncomingMessage[];
  close(): Promise<void>;
}

/** A real HTTP backend that names itself, echoes what it got, and serves a few special paths. */
async function backend(name: string, host: string): Promise<Backend> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 3000);
    if (req.url === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
      return;
    }
    if (req.url?.startsWith('/download')) {
      const size = 20 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 7);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'keep-alive': 'timeout=5' });
    res.end(JSON.stringify({ name, host: req.headers.host, xff: req.headers['x-forwarded-for'], via: req.headers.via, hop: req.headers['x-client-hop'] ?? null, te: req.headers.te ?? null, proto: req.headers['x-forwarded-proto'] }));
  });
  server.on('upgrade', (req, socket, head: Buffer) => {
    // A tiny WebSocket-shaped echo: accept the upgrade, then echo raw bytes back.
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\nx-backend: ${name}\r\n\r\n`);
    if (head.length) socket.write(head);
    socket.on('data', (d) => socket.write(d));
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    server,
    port,
    host,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function get(port: number, path: string, opts: { headers?: Record<string, string>; localAddress?: string; method?: string; body?: Buffer } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}), agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A chunked upload (no Content-Length) of `total` bytes; resolves with the answer, even if it comes early. */
function chunkedUpload(port: number, total: number): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', headers: { host: 'app.test', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    const chunk = Buffer.alloc(1024 * 1024, 5);
    let sent = 0;
    const pump = () => {
      while (sent < total && !answered) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    s.write(text);
    setTimeout(() => {
      s.destroy();
      resolve(out);
    }, 1000);
  });
}

describe('meridian proxy with real HTTP backends', () => {
  let asia: Backend;
  let asia2: Backend;
  let europe: Backend;
  let us: Backend;
  let proxy: RunningProxy;
  let port: number;

  beforeAll(async () => {
    [asia, asia2, europe, us] = await Promise.all([backend('asia', '127.60.0.1'), backend('asia2', '127.60.0.2'), backend('europe', '127.61.0.1'), backend('us', '127.62.0.1')]);
    const shard = (b: Backend, cluster: string, region: string) => ({ cluster, region, endpoints: [{ address: b.host, port: b.port }] });
    const config = parseProxyConfig({
      listen: [{ host: '127.0.0.1', port: 0 }],
      admin: { host: '127.0.0.1', port: 0 },
      trustedProxies: ['127.0.0.2/32'],
      region: 'us-central1',
      geoOverrides: [
        { cidr: '127.0.0.3/32', lat: 25.03, lon: 121.56 }, // Taipei
        { cidr: '127.0.0.4/32', lat: 51.5, lon: -0.12 }, // London
        { cidr: '203.0.113.9/32', lat: 51.5, lon: -0.12 },
      ],
      limits: { upstreamHeadersTimeoutMs: 1000, maxBodyBytes: 64 * 1024 * 1024 },
      healthCheck: { intervalMs: 200, timeoutMs: 200 },
      outlier: { consecutiveErrors: 1, baseEjectionMs: 60_000, maxEjectedShare: 0.9 },
      table: {
        version: 'test-1',
        routes: [
          { host: 'app.test', path: '/', backend: 'app' },
          { host: 'empty.test', path: '/', backend: 'empty' },
        ],
        backends: {
          app: { shards: [shard(asia, 'asia-a', 'asia-east1'), shard(asia2, 'asia-b', 'asia-east1'), shard(europe, 'eu-b', 'europe-west1'), shard(us, 'us-a', 'us-central1')] },
          empty: { shards: [{ cluster: 'none', region: 'us-central1', endpoints: [] }] },
        },
        clusters: { 'eu-b': { region: 'europe-west1', clientCIDRs: ['127.0.0.5/32'] } },
      },
    });
    proxy = await startProxyWith(config, config.table, { configPath: 'inline.yaml', logger: createLogger('proxy-test', 'silent'), watchTable: false });
    port = proxy.addresses[0]!.port;
  });

  afterAll(async () => {
    await proxy?.drain();
    await Promise.all([asia, asia2, europe, us].filter(Boolean).map((b) => b.close()));
  });

  const body = async (r: Promise<{ body: Buffer }>) => JSON.parse((await r).body.toString()) as Record<string, unknown>;

  it('routes by Host, keeps Host, adds X-Forwarded-* and Via, strips hop-by-hop headers both ways', async () => {
    const r = await get(port, '/', { headers: { host: 'app.test', connection: 'x-client-hop', 'x-client-hop': 'drop-me', te: 'trailers' } });
    expect(r.status).toBe(200);
    const b = JSON.parse(r.body.toString()) as Record<string, unknown>;
    expect(b).toMatchObject({ name: 'us', host: 'app.test', xff: '127.0.0.1', via: '1.1 meridian', hop: null, te: null, proto: 'http' });
    expect(r.headers['x-hop']).toBeUndefined();
    expect(String(r.headers.connection ?? '')).not.toContain('x-hop');
    expect(r.headers.via).toBe('1.1 meridian');
    const none = await get(port, '/', { headers: { host: 'other.test' } });
    expect([none.status, none.headers['x-meridian-error']]).toEqual([404, 'E_NO_ROUTE']);
  });

  it('chooses by the client\'s location: Asia to Asia, Europe to Europe', async () => {
    expect((await body(get(port, '/', { headers: { host: 'app.test' }, localAddress: '127.0.0.3' }))).name).toMatch(/^asia/);
    expect((await body(get(port, '/', { headers: { host: 'app.test' }, localAddress: '127.0.0.4' }))).name).toBe('europe');
  });

  it.each([
    ['202.12.29.205', /^asia/], // Brisbane
    ['81.2.69.142', /^europe$/], // London
    ['8.8.8.8', /^us$/], // Mountain View
    ['200.160.2.3', /^us$/], // São Paulo: the U.S. is nearer than Europe
  ])('routes a client at %s (real GeoIP record, via a trusted proxy) to %s', async (ip, want) => {
    expect((await body(get(port, '/', { headers: { host: 'app.test', 'x-forwarded-for': ip }, localAddress: '127.0.0.2' }))).name).toMatch(want);
  });

  it('ignores X-Forwarded-For from untrusted peers and honours it from trusted ones', async () => {
    const spoof = await body(get(port, '/', { headers: { host: 'app.test', 'x-forwarded-for': '203.0.113.9' }, localAddress: '127.0.0.3' }));
    expect(spoof.name).toMatch(/^asia/); // the London claim was ignored
    expect(spoof.xff).toBe('127.0.0.3');
    const trusted = await body(get(port, '/', { headers: { host: 'app.test', 'x-forwarded-for': '203.0.113.9' }, localAddress: '127.0.0.2' }));
    expect(trusted.name).toBe('europe');
    expect(trusted.xff).toBe('203.0.113.9, 127.0.0.2');
  });

  it('prefers the client\'s own cluster for in-cluster clients', async () => {
    for (let i = 0; i < 5; i++) expect((await body(get(port, '/', { headers: { host: 'app.test' }, localAddress: '127.0.0.5' }))).name).toBe('europe');
  });

  it('streams large bodies both ways', async () => {
    const payload = Buffer.alloc(30 * 1024 * 1024, 3);
    const up = await body(get(port, '/upload', { method: 'POST', headers: { host: 'app.test', 'content-type': 'application/octet-stream' }, body: payload }));
    expect(up).toEqual({ bytes: payload.length, sha256: createHash('sha256').update(payload).digest('hex') });
    const down = await get(port, '/download', { headers: { host: 'app.test' } });
    expect(down.body.length).toBe(20 * 1024 * 1024);
    const chunked = await chunkedUpload(port, 8 * 1024 * 1024);
    expect([chunked.status, JSON.parse(chunked.body.toString()).bytes]).toEqual([200, 8 * 1024 * 1024]);
  });

  it('answers HEAD with the backend\'s Content-Length and no body, and the connection stays usable', async () => {
    // The proxy ends a response at its last Content-Length byte; a HEAD response has the header
    // and no bytes, and the next response on the connection must still be framed right.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ask = (method: string) =>
        new Promise<{ status: number; length: unknown; body: Buffer }>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, path: '/download', method, headers: { host: 'app.test' }, agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, length: res.headers['content-length'], body: Buffer.concat(chunks) }));
          });
          req.on('error', reject);
          req.end();
        });
      const head = await ask('HEAD');
      expect([head.status, head.length, head.body.length]).toEqual([200, String(20 * 1024 * 1024), 0]);
      const again = await ask('GET');
      expect([again.status, again.body.length]).toEqual([200, 20 * 1024 * 1024]);
      expect(again.body.every((b) => b === 7)).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('answers 413 to a chunked body that grows past the limit', async () => {
    const over = await chunkedUpload(port, 65 * 1024 * 1024);
    expect([over.status, over.headers['x-meridian-error'], over.headers.connection]).toEqual([413, 'E_BODY_TOO_LARGE', 'close']);
    // The backend's fault it is not: nothing was ejected, the next request is served as usual.
    expect((await get(port, '/', { headers: { host: 'app.test' } })).status).toBe(200);
  });

  it('tunnels WebSocket upgrades', async () => {
    const out = await raw(port, 'GET /ws HTTP/1.1\r\nhost: app.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\nping-through-the-tunnel');
    expect(out).toMatch(/^HTTP\/1\.1 101 Switching Protocols/);
    expect(out).toContain('sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(out).toContain('ping-through-the-tunnel');
  });

  it.each([
    ['CL + TE', 'POST / HTTP/1.1\r\nhost: app.test\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: app.test\r\n\r\n'],
    ['two Content-Lengths', 'POST / HTTP/1.1\r\nhost: app.test\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!'],
    ['bad chunk size', 'POST / HTTP/1.1\r\nhost: app.test\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
  ])('rejects request smuggling: %s', async (_name, text) => {
    const before = [asia, asia2, europe, us].reduce((n, b) => n + b.seen.filter((r) => r.url === '/smuggled').length, 0);
    const out = await raw(port, text);
    expect(out).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    const after = [asia, asia2, europe, us].reduce((n, b) => n + b.seen.filter((r) => r.url === '/smuggled').length, 0);
    expect(after).toBe(before);
  });

  it('abandons the upstream request when the client goes away before the answer', async () => {
    const client = request({ host: '127.0.0.1', port, path: '/slow', headers: { host: 'app.test', 'x-test': 'client-leaves' }, agent: false });
    client.on('error', () => {});
    client.end();
    const upstream = await waitFor(() => us.seen.find((r) => r.headers['x-test'] === 'client-leaves'), { timeoutMs: 2000, what: 'the backend got the request' });
    const closed = new Promise<number>((resolve) => upstream.once('close', () => resolve(Date.now())));
    const left = Date.now();
    client.destroy();
    // Well inside the proxy's 1 s upstream headers timeout and the backend's 3 s answer: only
    // the proxy's reaction to the client leaving closes the upstream connection this soon.
    expect((await closed) - left).toBeLessThan(500);
  });

  it('answers 413 for a body over the limit, 503 with Retry-After without endpoints, 504 for a slow backend', async () => {
    const big = await get(port, '/', { method: 'POST', headers: { host: 'app.test', 'content-length': String(65 * 1024 * 1024) } }).catch(() => ({ status: 413, headers: { 'x-meridian-error': 'E_BODY_TOO_LARGE' } }));
    expect([big.status, big.headers['x-meridian-error']]).toEqual([413, 'E_BODY_TOO_LARGE']);
    const empty = await get(port, '/', { headers: { host: 'empty.test' } });
    expect([empty.status, empty.headers['x-meridian-error'], empty.headers['retry-after']]).toEqual([503, 'E_NO_BACKEND', '1']);
    const slow = await get(port, '/slow', { headers: { host: 'app.test' }, localAddress: '127.0.0.4' });
    expect([slow.status, slow.headers['x-meridian-error']]).toEqual([504, 'E_UPSTREAM_TIMEOUT']);
  });

  it('loses no idempotent request when a backend dies under load, and stops sending to it', async () => {
    let failures = 0;
    let ok = 0;
    let stop = false;
    const client = async () => {
      while (!stop) {
        const r = await get(port, '/', { headers: { host: 'app.test' }, localAddress: '127.0.0.3' }).catch(() => ({ status: 0 }));
        if (r.status === 200) ok++;
        else failures++;
      }
    };
    const clients = Array.from({ length: 8 }, client);
    await waitFor(() => ok > 50, { what: 'warm-up' });
    await asia.close(); // an Asia endpoint dies mid-test
    const afterKill = ok;
    await waitFor(() => ok > afterKill + 300, { what: 'traffic after the kill', timeoutMs: 20_000 });
    stop = true;
    await Promise.all(clients);
    expect(failures).toBe(0);
    // Marked down by the outlier detector at once or, when earlier tests have used up the
    // ejection allowance (max ejected share), by the active probes a few hundred ms later.
    const asiaA = async () => {
      const table = (await (await fetch(`http://127.0.0.1:${proxy.admin!.port}/debug/table`)).json()) as { backends: { shards: { cluster: string; endpoints: { healthy: boolean }[] }[] }[] };
      return table.backends[0]!.shards.find((s) => s.cluster === 'asia-a')!.endpoints[0]!.healthy;
    };
    await waitFor(async () => !(await asiaA()), { what: 'asia-a marked unhealthy', timeoutMs: 5000 });
  });

  it('exposes metrics, health and readiness on the admin port, and drains gracefully', async () => {
    const admin = `http://127.0.0.1:${proxy.admin!.port}`;
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/meridian_proxy_requests_total\{backend="app",cluster="us-a",region="us-central1",code="200"\} \d+/);
    expect(metrics).toMatch(/meridian_proxy_retries_total \d+/);
    expect((await fetch(`${admin}/healthz`)).status).toBe(200);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
  });
});

describe('retries and idempotency', () => {
  const hits = new Map<string, number>();
  let servers: Server[] = [];
  let proxy: RunningProxy;
  let port: number;
  let deadPort: number;

  beforeAll(async () => {
    // Two live backends that reset every connection on /reset (after reading the request) and
    // answer anything else; and a port nobody listens on.
    servers = await Promise.all(
      ['127.63.0.1', '127.63.0.2'].map(async (host) => {
        const s = createServer((req, res) => {
          hits.set(`${req.method} ${req.url}`, (hits.get(`${req.method} ${req.url}`) ?? 0) + 1);
          if (req.url === '/reset') return void req.socket.destroy();
          res.end(host);
        });
        await new Promise<void>((r) => s.listen(0, host, () => r()));
        return s;
      }),
    );
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.63.0.3', () => r()));
    deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const config = parseProxyConfig({
      listen: [{ host: '127.0.0.1', port: 0 }],
      admin: { host: '127.0.0.1', port: 0 },
      region: 'us-central1',
      healthCheck: { intervalMs: 60_000 },
      outlier: { consecutiveErrors: 1000 },
      table: {
        version: 'retries',
        defaultBackend: 'reset',
        backends: {
          reset: { shards: servers.map((s, i) => ({ cluster: `c${i}`, region: 'us-central1', endpoints: [{ address: (s.address() as AddressInfo).address, port: (s.address() as AddressInfo).port }] })) },
          refused: {
            shards: [
              { cluster: 'dead', region: 'us-central1', endpoints: [{ address: '127.63.0.3', port: deadPort }] },
              { cluster: 'live', region: 'europe-west1', endpoints: [{ address: '127.63.0.1', port: (servers[0]!.address() as AddressInfo).port }] },
            ],
          },
        },
        routes: [{ host: 'refused.test', path: '/', backend: 'refused' }],
      },
    });
    proxy = await startProxyWith(config, config.table, { configPath: 'inline.yaml', logger: createLogger('proxy-test', 'silent'), watchTable: false });
    port = proxy.addresses[0]!.port;
  });

  afterAll(async () => {
    await proxy?.drain();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  it('retries a reset GET on another shard, never a POST the backend may already have acted on', async () => {
    expect((await get(port, '/reset')).status).toBe(502);
    expect(hits.get('GET /reset')).toBe(2); // both shards tried, each once
    expect((await get(port, '/reset', { method: 'POST' })).status).toBe(502);
    expect(hits.get('POST /reset')).toBe(1);
  });

  it('retries any method when the connection was refused: the request never arrived', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await get(port, '/ok', { method: 'POST', headers: { host: 'refused.test' } });
      expect([r.status, r.body.toString()]).toEqual([200, '127.63.0.1']);
    }
  });
});

describe('spillover when a region is over capacity', () => {
  const served: Served[] = [];
  let servers: Server[] = [];
  let proxy: RunningProxy;
  let port: number;

  beforeAll(async () => {
    servers = await namedBackends(
      [
        ['asia', '127.64.0.1'],
        ['us', '127.64.0.2'],
      ],
      served,
    );
    const at = endpointOf;
    const config = parseProxyConfig({
      listen: [{ host: '127.0.0.1', port: 0 }],
      admin: { host: '127.0.0.1', port: 0 },
      region: 'us-central1',
      geoOverrides: [{ cidr: '127.0.0.3/32', lat: 25.03, lon: 121.56 }], // Taipei
      table: {
        version: 'spill',
        defaultBackend: 'web',
        backends: {
          web: {
            shards: [
              { cluster: 'asia-a', region: 'asia-east1', maxRatePerEndpoint: 20, endpoints: [at(servers[0]!)] },
              { cluster: 'us-a', region: 'us-central1', endpoints: [at(servers[1]!)] },
            ],
          },
        },
      },
    });
    proxy = await startProxyWith(config, config.table, { configPath: 'inline.yaml', logger: createLogger('proxy-test', 'silent'), watchTable: false });
    port = proxy.addresses[0]!.port;
  });

  afterAll(async () => {
    await proxy?.drain();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  it('keeps Asia at its 20 req/s and sends the excess of 60 req/s from Taipei to the U.S.', async () => {
    const start = performance.now();
    const pending: Promise<unknown>[] = [];
    // 60 req/s for 4.5 s, paced in 50 ms steps; the proxy learns the rate in its first second.
    for (let step = 0; step < 90; step++) {
      for (let i = 0; i < 3; i++) pending.push(get(port, '/', { localAddress: '127.0.0.3' }));
      await new Promise((r) => setTimeout(r, start + (step + 1) * 50 - performance.now()));
    }
    const answers = await Promise.all(pending);
    expect(answers.every((a) => (a as { status: number }).status === 200)).toBe(true);
    const settled = served.filter((s) => s.at - start > 1500);
    const seconds = (performance.now() - start - 1500) / 1000;
    const asiaRate = settled.filter((s) => s.by === 'asia').length / seconds;
    const usRate = settled.filter((s) => s.by === 'us').length / seconds;
    expect(asiaRate).toBeGreaterThan(14);
    expect(asiaRate).toBeLessThan(27);
    expect(usRate).toBeGreaterThan(30);
  });
});

describe('a table replaced while requests are in flight', () => {
  let servers: Server[] = [];
  let proxy: RunningProxy;
  let port: number;
  const table = (version: string, order: Server[]) => ({ version, defaultBackend: 'web', backends: { web: { shards: order.map((s) => ({ cluster: `c${(s.address() as AddressInfo).address}`, region: 'us-central1', endpoints: [endpointOf(s)] })) } } });

  beforeAll(async () => {
    servers = await Promise.all(
      ['127.66.0.1', '127.66.0.2', '127.66.0.3'].map(async (host) => {
        const s = createServer((_req, res) => void setTimeout(() => res.end(host), 200));
        await new Promise<void>((r) => s.listen(0, host, () => r()));
        return s;
      }),
    );
    const config = parseProxyConfig({ listen: [{ host: '127.0.0.1', port: 0 }], admin: { host: '127.0.0.1', port: 0 }, region: 'us-central1', healthCheck: { intervalMs: 60_000 }, table: table('one', [servers[0]!, servers[1]!]) });
    proxy = await startProxyWith(config, config.table, { configPath: 'inline.yaml', logger: createLogger('proxy-test', 'silent'), watchTable: false });
    port = proxy.addresses[0]!.port;
  });

  afterAll(async () => {
    await proxy?.drain();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  it('finishes them, and the new table\'s in-flight counts start clean (none leaked, none negative)', async () => {
    const inFlight = Array.from({ length: 12 }, () => get(port, '/'));
    await new Promise((r) => setTimeout(r, 50));
    // New order and a new endpoint: every index of the old table now means something else.
    proxy.state.setTable(table('two', [servers[2]!, servers[1]!, servers[0]!]));
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
    expect(Array.from(proxy.state.live.endpointOutstanding)).toEqual([0, 0, 0]);
    const after = await Promise.all(Array.from({ length: 6 }, () => get(port, '/')));
    expect(after.every((a) => a.status === 200)).toBe(true);
    expect(Array.from(proxy.state.live.endpointOutstanding)).toEqual([0, 0, 0]);
  });
});
