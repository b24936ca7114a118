import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { freePort } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { endpointOf, namedBackends, type Served } from '../../helpers/backends.js';
import { waitFor } from '../../helpers/wait.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

describe('proxy config validation', () => {
  it.each([
    [{ listen: [{ port: 70000 }], table: {} }, /listen\.0\.port/],
    [{ listen: [{ port: 80 }] }, /give the routing table inline/],
    [{ table: {}, surprise: true }, /Unrecognized key|surprise/],
    [{ table: {}, source: 'store' }, /source: "store" takes the table from the fleet/],
    [{ source: 'static', store: { redis: 'redis://h' } }, /source: "static" needs table/],
    [{ store: { redis: 'localhost:6379' } }, /E_STORE_URL|not a Redis URL/],
    [{ store: { redis: { sentinels: [{ host: 's', port: 26379 }] } } }, /needs redis\.name/],
    [{ store: { redis: 'redis://h', fleet: 'Bad_Name' } }, /store\.fleet/],
    [{ table: {}, store: { surprise: 1 } }, /store.*surprise|Unrecognized key/],
    [{ table: {}, retry: { attempts: 5 } }, /retry\.attempts/],
    [{ table: {}, limits: { upstreamHeaderTimeoutMs: 5 } }, /limits.*upstreamHeaderTimeoutMs|Unrecognized key/],
    [{ table: {}, paths: { encodedSlashes: 'decode' } }, /paths\.encodedSlashes/],
  ])('rejects %j with a message naming the field', (raw, message) => {
    expect(() => parseProxyConfig(raw)).toThrow(message);
  });
  it.each(['static.yaml', 'fleet.yaml', 'https.yaml', 'fleet-https.yaml'])('accepts the example config examples/proxy/%s', async (file) => {
    const { loadProxyConfig } = await import('../../../src/proxy/config.js');
    const { config } = await loadProxyConfig(join(process.cwd(), 'examples', 'proxy', file));
    expect(config.listen.length).toBeGreaterThan(0);
  });
  it('fills documented defaults', () => {
    const c = parseProxyConfig({ table: {} });
    expect(c.admin).toEqual({ host: '127.0.0.1', port: 9901, allowedHosts: [] });
    expect(c.limits.headersTimeoutMs).toBe(10_000);
    expect(c.debugHeader).toBe(false);
  });
});

describe('meridian proxy --workers 2 (child process)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let backend: Server;
  let child: ChildProcessWithoutNullStreams;
  let out = '';
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    dir = await tempDir();
    backend = createServer((_req, res) => res.end('hello from the backend\n'));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    port = await freePort();
    adminPort = await freePort();
    const config = {
      listen: [{ host: '127.0.0.1', port }],
      admin: { host: '127.0.0.1', port: adminPort },
      tableFile: 'table.yaml',
    };
    const table = { version: 'v1', defaultBackend: 'web', backends: { web: { shards: [{ cluster: 'local', region: 'us-central1', endpoints: [{ address: '127.0.0.1', port: (backend.address() as AddressInfo).port }] }] } } };
    await writeFile(join(dir.path, 'proxy.yaml'), stringify(config));
    await writeFile(join(dir.path, 'table.yaml'), stringify(table));
    child = spawn(process.execPath, [CLI, 'proxy', '--config', join(dir.path, 'proxy.yaml'), '--workers', '2'], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' } });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('workers 2'), { what: 'workers listening', timeoutMs: 20_000 });
  });

  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await new Promise<void>((r) => backend.close(() => r()));
    await dir?.remove();
  });

  it('serves through both workers and sums metrics across them', async () => {
    for (let i = 0; i < 40; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/`);
      expect(await r.text()).toBe('hello from the backend\n');
    }
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('meridian_proxy_requests_total{') && l.includes('code="200"'));
    expect(Number(line?.split(' ').pop())).toBe(40);
    expect((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status).toBe(200);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });
});

describe('meridian proxy --workers 2 shares a shard\'s capacity between its workers', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const served: Served[] = [];
  let servers: Server[] = [];
  let child: ChildProcessWithoutNullStreams;
  let out = '';
  let port: number;

  beforeAll(async () => {
    dir = await tempDir();
    servers = await namedBackends(
      [
        ['asia', '127.65.0.1'],
        ['us', '127.65.0.2'],
      ],
      served,
    );
    port = await freePort();
    const at = endpointOf;
    const config = {
      listen: [{ host: '127.0.0.1', port }],
      admin: { host: '127.0.0.1', port: await freePort() },
      region: 'us-central1',
      geoOverrides: [{ cidr: '127.0.0.3/32', lat: 25.03, lon: 121.56 }], // Taipei
      table: {
        version: 'v1',
        defaultBackend: 'web',
        backends: { web: { shards: [{ cluster: 'asia-a', region: 'asia-east1', maxRatePerEndpoint: 20, endpoints: [at(servers[0]!)] }, { cluster: 'us-a', region: 'us-central1', endpoints: [at(servers[1]!)] }] } },
      },
    };
    await writeFile(join(dir.path, 'proxy.yaml'), stringify(config));
    child = spawn(process.execPath, [CLI, 'proxy', '--config', join(dir.path, 'proxy.yaml'), '--workers', '2'], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' } });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('workers 2'), { what: 'workers listening', timeoutMs: 20_000 });
  });

  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await dir?.remove();
  });

  it('keeps Asia at its 20 req/s in all, not 20 per worker', async () => {
    const get = () =>
      new Promise<number>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path: '/', agent: false, localAddress: '127.0.0.3' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(0));
        req.end();
      });
    const start = performance.now();
    const pending: Promise<number>[] = [];
    for (let step = 0; step < 120; step++) {
      for (let i = 0; i < 3; i++) pending.push(get());
      await new Promise((r) => setTimeout(r, start + (step + 1) * 50 - performance.now()));
    }
    expect((await Promise.all(pending)).every((s) => s === 200)).toBe(true);
    // Learning takes a couple of seconds once traffic starts (a partial first period, then the shares).
    const settled = served.filter((s) => s.at - start > 3000);
    const seconds = (performance.now() - start - 3000) / 1000;
    const asiaRate = settled.filter((s) => s.by === 'asia').length / seconds;
    expect(asiaRate).toBeGreaterThan(12);
    expect(asiaRate).toBeLessThan(28); // each worker admitting the whole 20 would give ~40
  });
});
