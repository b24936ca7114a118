import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('proxy config validation', () => {
  it.each([
    [{ listen: [{ port: 70000 }], table: {} }, /listen\.0\.port/],
    [{ listen: [{ port: 80 }] }, /give the routing table inline/],
    [{ table: {}, surprise: true }, /Unrecognized key|surprise/],
    [{ table: {}, source: 'store' }, /E_CONFIG_UNSUPPORTED|not available yet/],
    [{ table: {}, retry: { attempts: 5 } }, /retry\.attempts/],
  ])('rejects %j with a message naming the field', (raw, message) => {
    expect(() => parseProxyConfig(raw)).toThrow(message);
  });
  it('fills documented defaults', () => {
    const c = parseProxyConfig({ table: {} });
    expect(c.admin).toEqual({ host: '127.0.0.1', port: 9901 });
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
