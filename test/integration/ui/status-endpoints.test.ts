import { readFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin } from '../../../src/proxy/admin.js';
import { renderRoute, type RouteReport } from '../../../src/proxy/route-report.js';
import { RoutingState } from '../../../src/proxy/routing-state.js';
import { hostAllowed, proxyStatusSource, statusPage, UI_CSP } from '../../../src/proxy/status-page.js';
import type { StatusDocument } from '../../../src/proxy/status.js';
import type { GeoLocator } from '../../../src/routing/geoip.js';

/** GeoIP for the test's two clients: Tokyo, and somewhere in Frankfurt. */
const GEO = {
  lookup: (ip: string) => (ip === '133.11.0.1' ? { lat: 35.69, lon: 139.69 } : ip === '81.2.69.160' ? { lat: 50.11, lon: 8.68 } : undefined),
  override: () => undefined,
} as unknown as GeoLocator;

const TABLE = {
  version: 'ui-test',
  defaultBackend: 'web',
  clusters: { 'asia-a': { region: 'asia-east1' }, 'us-a': { region: 'us-central1' } },
  backends: {
    web: {
      shards: [
        { cluster: 'asia-a', region: 'asia-east1', maxRatePerEndpoint: 100, endpoints: [{ address: '127.0.0.1', port: 9 }, { address: '127.0.0.2', port: 9 }] },
        { cluster: 'us-a', region: 'us-central1', maxRatePerEndpoint: 100, endpoints: [{ address: '127.0.0.3', port: 9 }] },
      ],
    },
  },
};

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/** A request exactly as given (the path is not normalised, unlike fetch's). */
function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const require = createRequire(import.meta.url);
const beside = (entry: string, file: string) => join(dirname(require.resolve(entry)), file);

describe('the status page and its JSON documents on the admin port', () => {
  let state: RoutingState;
  let server: Server;
  let port = 0;
  let bare: Server;
  let barePort = 0;

  beforeAll(async () => {
    state = new RoutingState(GEO, { region: 'us-central1' }, { consecutiveErrors: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectedShare: 0.5 }, { healthy: 2, unhealthy: 2 }, { connectTimeoutMs: 100, connectionsPerEndpoint: 1, keepAliveTimeoutMs: 1000 });
    state.setTable(TABLE);
    const source = proxyStatusSource({ id: 'ui-test-proxy', host: 'test-host', version: '0.1.0', region: 'us-central1', state, isDraining: () => false, startedAt: Date.now() - 5_000 });
    const a = await startAdmin('127.0.0.1', 0, { metrics: async () => ({ contentType: 'text/plain', body: '' }), ready: () => true, table: () => ({}), page: statusPage(source, { allowedHosts: ['meridian-admin.internal'] }) });
    server = a.server;
    port = a.address.port;
    // An admin port with the page but no status source behind it, and a package without ui/.
    const b = await startAdmin('127.0.0.1', 0, { metrics: async () => ({ contentType: 'text/plain', body: '' }), ready: () => true, table: () => ({}), page: statusPage(undefined, { uiDir: '/nonexistent/ui/' }) });
    bare = b.server;
    barePort = b.address.port;
  });

  afterAll(async () => {
    for (const s of [server, bare]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
    await state?.close();
  });

  it('redirects /ui to /ui/, where the page is served with a strict CSP, no sniffing, no framing and revalidation', async () => {
    const r = await get(port, '/ui?ip=133.11.0.1');
    expect([r.status, r.headers.location]).toEqual([308, '/ui/?ip=133.11.0.1']);
    const page = await get(port, '/ui/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(UI_CSP);
    expect(UI_CSP).toMatch(/default-src 'none'/);
    expect(UI_CSP).not.toMatch(/unsafe|\*|http:|https:|data:/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.text).toContain('<script src="app.js" defer></script>');
  });

  it('has nothing inline a self-only CSP would block, and serves every file the page refers to', async () => {
    const page = (await get(port, '/ui/')).text;
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
    expect(page).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i); // no inline style, no handler attributes
    expect(page).not.toMatch(/(?:src|href)="(?:https?:)?\/\//); // nothing from another origin
    const refs = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => !u.startsWith('../'));
    expect(refs.length).toBeGreaterThanOrEqual(7);
    for (const ref of refs) {
      const r = await get(port, `/ui/${ref}`);
      expect([ref, r.status]).toEqual([ref, 200]);
      expect(r.headers['content-security-policy']).toBe(UI_CSP);
    }
    const app = (await get(port, '/ui/app.js')).text;
    expect(app).not.toMatch(/innerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|setAttribute\('style'/);
  });

  it('serves the map and chart libraries from the installed packages, with their content types', async () => {
    const files: [string, string, string][] = [
      ['vendor/d3-array.min.js', beside('d3-array', 'd3-array.min.js'), 'text/javascript; charset=utf-8'],
      ['vendor/d3-geo.min.js', beside('d3-geo', 'd3-geo.min.js'), 'text/javascript; charset=utf-8'],
      ['vendor/topojson-client.min.js', beside('topojson-client', 'topojson-client.min.js'), 'text/javascript; charset=utf-8'],
      ['vendor/uPlot.iife.min.js', beside('uplot', 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
      ['vendor/uPlot.min.css', beside('uplot', 'uPlot.min.css'), 'text/css; charset=utf-8'],
      ['vendor/countries-110m.json', require.resolve('world-atlas/countries-110m.json'), 'application/json; charset=utf-8'],
    ];
    for (const [path, file, type] of files) {
      const r = await get(port, `/ui/${path}`);
      expect([path, r.status, r.headers['content-type']]).toEqual([path, 200, type]);
      expect(r.body.equals(readFileSync(file))).toBe(true);
    }
  });

  it('answers a revalidation with 304, and gzips for a client that accepts it', async () => {
    const plain = await get(port, '/ui/vendor/countries-110m.json');
    const etag = String(plain.headers.etag);
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    const again = await get(port, '/ui/vendor/countries-110m.json', { headers: { 'if-none-match': etag } });
    expect([again.status, again.body.length, again.headers.etag]).toEqual([304, 0, etag]);
    const packed = await get(port, '/ui/vendor/countries-110m.json', { headers: { 'accept-encoding': 'gzip, br' } });
    expect([packed.headers['content-encoding'], packed.headers.vary]).toEqual(['gzip', 'Accept-Encoding']);
    expect(packed.body.length).toBeLessThan(plain.body.length / 2);
    expect(gunzipSync(packed.body).equals(plain.body)).toBe(true);
    const head = await get(port, '/ui/app.js', { method: 'HEAD' });
    expect([head.status, head.body.length, Number(head.headers['content-length'])]).toEqual([200, 0, (await get(port, '/ui/app.js')).body.length]);
  });

  it('never serves a file outside its own, whatever the path says', async () => {
    const attempts = [
      '/ui/../package.json',
      '/ui/vendor/../../package.json',
      '/ui/..%2f..%2fpackage.json',
      '/ui/%2e%2e/%2e%2e/package.json',
      '/ui/vendor/%2e%2e%2f%2e%2e%2fpackage.json',
      '/ui/..\\..\\package.json',
      '/ui//etc/passwd',
      '/ui/vendor/d3-geo',
      '/ui/vendor/',
      '/ui/%00index.html',
      '/ui/index.html%00.js',
      '/ui/vendor/../../node_modules/d3-geo/package.json',
    ];
    for (const path of attempts) {
      const r = await get(port, path);
      expect([path, r.status]).toEqual([path, 404]);
      expect(r.text).not.toMatch(/"name": "meridian"|root:|"name": "d3-geo"/);
    }
  });

  it('is read-only, and answers only to IP addresses, localhost and the configured names (no DNS rebinding)', async () => {
    const post = await get(port, '/status', { method: 'POST' });
    expect([post.status, post.headers.allow, post.headers['x-meridian-error']]).toEqual([405, 'GET, HEAD', 'E_METHOD_NOT_ALLOWED']);
    const rebound = await get(port, '/status', { headers: { host: `attacker.example:${port}` } });
    expect([rebound.status, (JSON.parse(rebound.text) as { error: { code: string } }).error.code]).toEqual([403, 'E_ADMIN_HOST']);
    expect((await get(port, '/ui/', { headers: { host: 'attacker.example' } })).status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'meridian-admin.internal', 'app.localhost']) expect([host, (await get(port, '/status/proxy', { headers: { host } })).status]).toEqual([host, 200]);
    expect([hostAllowed('[::1'), hostAllowed('127.0.0.1:80:80'), hostAllowed('[evil.example]:80'), hostAllowed('localhost.evil.example')]).toEqual([false, false, false, false]);
    // The admin port's own routes are as they were.
    expect((await get(port, '/healthz', { headers: { host: 'anything' } })).status).toBe(200);
  });

  it('documents the proxy, clusters, shards, flows and fleet as JSON that is never cached', async () => {
    const r = await get(port, '/status');
    expect([r.status, r.headers['content-type'], r.headers['cache-control']]).toEqual([200, 'application/json; charset=utf-8', 'no-store']);
    expect(r.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    const doc = JSON.parse(r.text) as StatusDocument;
    expect(doc.proxy).toMatchObject({ id: 'ui-test-proxy', version: '0.1.0', region: 'us-central1', tableVersion: 'ui-test', hasTable: true, draining: false });
    expect(doc.clusters.map((c) => [c.name, c.state, c.healthy, c.endpoints])).toEqual([
      ['asia-a', 'up', 2, 2],
      ['us-a', 'up', 1, 1],
    ]);
    expect(doc.shards.map((s) => [s.cluster, s.capacityRps, s.admitShare])).toEqual([
      ['asia-a', 200, 1],
      ['us-a', 100, 1],
    ]);
    expect(doc.fleet).toMatchObject({ mode: 'standalone', proxies: [{ id: 'ui-test-proxy', host: 'test-host', region: 'us-central1', tableVersion: 'ui-test' }] });
    expect(doc.flows).toMatchObject({ windowSeconds: 60, flows: [] });

    expect(Object.keys(JSON.parse((await get(port, '/status/clusters')).text) as object)).toEqual(['clusters']);
    expect(Object.keys(JSON.parse((await get(port, '/status/shards')).text) as object)).toEqual(['shards']);
    expect(JSON.parse((await get(port, '/status/fleet/')).text)).toMatchObject({ mode: 'standalone' });
    expect(JSON.parse((await get(port, '/status/flows')).text)).toMatchObject({ windowSeconds: 60 });
    // No `tls: true` listener: no tls part, and /status/tls says null.
    expect(doc).not.toHaveProperty('tls');
    const tls = await get(port, '/status/tls');
    expect([tls.status, tls.text]).toEqual([200, 'null\n']);
    const none = await get(port, '/status/nope');
    expect([none.status, none.headers['x-meridian-error']]).toEqual([404, 'E_STATUS_NOT_FOUND']);
    expect((JSON.parse(none.text) as { error: { hint: string } }).error.hint).toContain('/status/route?ip=');
  });

  it('shows the flows the proxy counted, with where their clients are', async () => {
    const snap = state.snapshot;
    for (let i = 0; i < 12; i++) state.flows.count(snap, snap.regionByName.get('asia-northeast1')!, snap.clusterByName.get('asia-a')!);
    state.flows.close(Math.floor(Date.now() / 1000) - 1);
    const flows = (JSON.parse((await get(port, '/status/flows')).text) as StatusDocument['flows']).flows;
    expect(flows).toEqual([{ from: 'asia-northeast1', to: 'asia-a', requests: 12, rps: 12, fromLocation: snap.regionLocations[snap.regionByName.get('asia-northeast1')!] }]);
  });

  it('explains a route as `meridian route` does, against the live state, without moving it', async () => {
    const live = state.live;
    const before = [Array.from(live.regionArrivals), Array.from(live.shardCredit), Array.from(live.regionCredit)];
    const r = await get(port, '/status/route?ip=133.11.0.1');
    expect(r.status).toBe(200);
    const report = JSON.parse(r.text) as RouteReport;
    expect(report).toMatchObject({ clientIp: '133.11.0.1', location: { lat: 35.69, lon: 139.69 }, backend: 'web', client: { cell: 'asia-northeast1', sourceCluster: null } });
    expect(report.ranked.map((s) => s.cluster)).toEqual(['asia-a', 'us-a']);
    expect(report.choice).toMatchObject({ cluster: 'asia-a', reason: 'nearest-with-capacity' });
    expect(report.from).toBe('proxy ui-test-proxy (table ui-test, its live health and load)');
    expect([Array.from(live.regionArrivals), Array.from(live.shardCredit), Array.from(live.regionCredit)]).toEqual(before);

    const text = await get(port, '/status/route?ip=133.11.0.1&format=text');
    expect([text.status, text.headers['content-type']]).toEqual([200, 'text/plain; charset=utf-8']);
    expect(text.text).toBe(renderRoute(report));
    expect(text.text).toMatch(/^Client 133\.11\.0\.1, at 35\.69,139\.69: nearest region asia-northeast1\./);

    const inside = JSON.parse((await get(port, '/status/route?ip=81.2.69.160&sourceCluster=us-a')).text) as RouteReport;
    expect([inside.client.sourceCluster, inside.choice?.cluster, inside.choice?.reason]).toEqual(['us-a', 'us-a', 'in-cluster']);
  });

  it('says what is wrong with a route question, with a stable code and what to do', async () => {
    const cases: [string, number, string][] = [
      ['/status/route', 400, 'E_ROUTE_CLIENT_IP'],
      ['/status/route?ip=nope', 400, 'E_ROUTE_CLIENT_IP'],
      ['/status/route?ip=133.11.0.1&sourceCluster=mars', 400, 'E_ROUTE_SOURCE_CLUSTER'],
      ['/status/route?ip=133.11.0.1&format=yaml', 400, 'E_STATUS_FORMAT'],
    ];
    for (const [path, status, code] of cases) {
      const r = await get(port, path);
      const body = JSON.parse(r.text) as { error: { code: string; message: string; hint: string } };
      expect([path, r.status, r.headers['x-meridian-error'], body.error.code]).toEqual([path, status, code, code]);
      expect(body.error.hint.length).toBeGreaterThan(10);
    }
  });

  it('without a status source or without its files, says so with a code and a hint', async () => {
    const doc = await get(barePort, '/status');
    expect([doc.status, doc.headers['x-meridian-error'], doc.headers['retry-after']]).toEqual([503, 'E_STATUS_UNAVAILABLE', '1']);
    expect((JSON.parse(doc.text) as { error: { hint: string } }).error.hint).toMatch(/--workers/);
    const page = await get(barePort, '/ui/');
    expect([page.status, page.headers['x-meridian-error']]).toEqual([500, 'E_UI_FILES_MISSING']);
    expect((JSON.parse(page.text) as { error: { message: string; hint: string } }).error).toMatchObject({ message: expect.stringContaining('/nonexistent/ui/'), hint: expect.stringContaining('ui/') });
  });
});
