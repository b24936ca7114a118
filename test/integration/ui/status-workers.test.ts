import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteReport } from '../../../src/proxy/route-report.js';
import type { FlowsStatus, StatusDocument } from '../../../src/proxy/status.js';
import type { TlsStatus } from '../../../src/proxy/tls/status.js';
import { TestCA, type CertFiles } from '../../helpers/tls-certs.js';
import { freePort } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

/** One request on a connection of its own (the primary hands connections to its workers in turn). */
function getOnce(port: number, path: string, localAddress?: string): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

const flowTotal = (f: FlowsStatus) => f.flows.reduce((sum, x) => sum + x.requests, 0);

describe('meridian proxy --workers 2: the primary\'s status page asks its workers', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let backend: Server;
  let child: ChildProcessWithoutNullStreams;
  let out = '';
  let port: number;
  let adminPort: number;
  let tlsPort: number;
  let cert: CertFiles;
  const stopped = new Set<number>();

  const status = async () => {
    const r = await getOnce(adminPort, '/status');
    return { ...r, doc: r.status === 200 ? (JSON.parse(r.text) as StatusDocument) : undefined };
  };

  beforeAll(async () => {
    dir = await tempDir();
    backend = createServer((_req, res) => res.end('hello from the backend\n'));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    port = await freePort();
    adminPort = await freePort();
    tlsPort = await freePort();
    cert = await (await TestCA.create(dir.path)).issue('workers', { names: ['workers.test'] });
    const config = {
      listen: [{ host: '127.0.0.1', port }, { host: '127.0.0.1', port: tlsPort, tls: true }],
      tls: { certificates: [{ certFile: cert.cert, keyFile: cert.key }] },
      admin: { host: '127.0.0.1', port: adminPort },
      region: 'us-central1',
      geoOverrides: [{ cidr: '127.0.0.3/32', lat: 25.03, lon: 121.56 }], // Taipei
      table: {
        version: 'workers-v1',
        defaultBackend: 'web',
        clusters: { 'asia-a': { region: 'asia-east1' } },
        backends: { web: { shards: [{ cluster: 'asia-a', region: 'asia-east1', endpoints: [{ address: '127.0.0.1', port: (backend.address() as AddressInfo).port }] }] } },
      },
    };
    await writeFile(join(dir.path, 'proxy.yaml'), stringify(config));
    child = spawn(process.execPath, [CLI, 'proxy', '--config', join(dir.path, 'proxy.yaml'), '--workers', '2'], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' } });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('workers 2'), { what: 'workers listening', timeoutMs: 20_000 });
  });

  afterAll(async () => {
    for (const pid of stopped) process.kill(pid, 'SIGCONT');
    if (child?.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await new Promise<void>((r) => backend.close(() => r()));
    await dir?.remove();
  });

  it('answers /status with the table and health of a worker and the flows of both, saying which answered', async () => {
    for (let i = 0; i < 40; i++) expect((await getOnce(port, '/', '127.0.0.3')).text).toBe('hello from the backend\n');
    // A request is in the flows once its second closes (each worker closes its own, once a second).
    const { doc } = await waitFor(
      async () => {
        const s = await status();
        return s.doc && s.doc.workers?.answered === 2 && flowTotal(s.doc.flows) === 40 ? s : undefined;
      },
      { what: '/status with both workers\' 40 requests', timeoutMs: 10_000 },
    );
    expect(doc!.workers).toMatchObject({ asked: 2, answered: 2 });
    const by = doc!.workers!.answeredBy;
    expect(by.map((w) => w.pid).sort()).toEqual([...new Set(by.map((w) => w.pid))].sort());
    // Both workers served some of the 40: the page's flows are their sum, not one worker's.
    expect(by.every((w) => w.flowRequests > 0)).toBe(true);
    expect(by.reduce((sum, w) => sum + w.flowRequests, 0)).toBe(40);
    expect(doc!.flows.flows).toMatchObject([{ from: 'asia-east1', to: 'asia-a', requests: 40 }]);
    expect(doc!.flows.timeline['asia-a']!.reduce((a, b) => a + b, 0)).toBe(40);
    expect(doc!.proxy).toMatchObject({ tableVersion: 'workers-v1', hasTable: true, draining: false });
    expect(doc!.clusters).toMatchObject([{ name: 'asia-a', state: 'up', endpoints: 1, healthy: 1 }]);
    expect(doc!.shards).toMatchObject([{ backend: 'web', cluster: 'asia-a', healthy: 1 }]);
    // The workers share the fleet's state through the primary: each sees both as its fleet's proxies.
    expect(doc!.fleet.mode).toBe('fleet');
    expect(doc!.fleet.proxies.map((p) => p.id).sort()).toEqual(by.map((w) => w.proxy).sort());

    const flows = await getOnce(adminPort, '/status/flows');
    expect(JSON.parse(flows.text)).toMatchObject({ workers: { asked: 2, answered: 2 }, flows: [{ requests: 40 }] });
    const clusters = await getOnce(adminPort, '/status/clusters');
    expect(JSON.parse(clusters.text)).toMatchObject({ clusters: [{ name: 'asia-a' }] });
  });

  it('answers /status/tls from the first answering worker: its certificates and the fleet\'s ticket key generation, no key', async () => {
    // The workers share the primary's store: the fleet's session-ticket key (generation 1 on) replaces each one's own.
    const { doc } = await waitFor(async () => {
      const s = await status();
      return s.doc?.tls && s.doc.tls.ticketKeyGeneration > 0 ? s : undefined;
    }, { what: '/status with the fleet\'s ticket key in use', timeoutMs: 10_000 });
    expect(doc!.tls!.certificates).toMatchObject([{ names: ['workers.test'], source: 'file', certFile: cert.cert, default: true, defaultRule: 'first-static', daysLeft: 29 }]);
    expect(doc!.tls!.strictSni).toBe(false);
    const part = await getOnce(adminPort, '/status/tls');
    expect(part.status).toBe(200);
    expect((JSON.parse(part.text) as TlsStatus).certificates.map((c) => c.fingerprint)).toEqual(doc!.tls!.certificates.map((c) => c.fingerprint));
    expect(part.text).not.toContain('PRIVATE KEY');
  });

  it('answers /status/route from a worker, and its errors with their codes', async () => {
    const r = await getOnce(adminPort, '/status/route?ip=133.11.0.1&seed=7');
    expect(r.status).toBe(200);
    const report = JSON.parse(r.text) as RouteReport;
    expect(JSON.stringify(report)).toContain('asia-a');
    const text = await getOnce(adminPort, '/status/route?ip=133.11.0.1&seed=7&format=text');
    expect([text.status, text.headers['content-type']]).toEqual([200, 'text/plain; charset=utf-8']);
    const bad = await getOnce(adminPort, '/status/route?ip=133.11.0.1&sourceCluster=mars');
    expect([bad.status, bad.headers['x-meridian-error']]).toEqual([400, 'E_ROUTE_SOURCE_CLUSTER']);
  });

  it('leaves out a worker that does not answer within the deadline, and says 503 E_STATUS_UNAVAILABLE when none does', async () => {
    const before = (await status()).doc!.workers!.answeredBy.map((w) => w.pid);
    const [first, second] = before as [number, number];
    process.kill(first, 'SIGSTOP');
    stopped.add(first);
    const started = performance.now();
    const one = await status();
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(one.status).toBe(200);
    expect(one.doc!.workers).toMatchObject({ asked: 2, answered: 1, answeredBy: [{ pid: second }] });

    process.kill(second, 'SIGSTOP');
    stopped.add(second);
    const none = await getOnce(adminPort, '/status');
    expect([none.status, none.headers['x-meridian-error'], none.headers['retry-after']]).toEqual([503, 'E_STATUS_UNAVAILABLE', '1']);
    const error = (JSON.parse(none.text) as { error: { message: string; hint: string } }).error;
    expect(error.message).toMatch(/none of the 2 workers/);
    expect(error.hint).toMatch(/try again/);
    const route = await getOnce(adminPort, '/status/route?ip=133.11.0.1');
    expect([route.status, route.headers['x-meridian-error']]).toEqual([503, 'E_STATUS_UNAVAILABLE']);

    for (const pid of [first, second]) {
      process.kill(pid, 'SIGCONT');
      stopped.delete(pid);
    }
    await waitFor(async () => (await status()).doc?.workers?.answered === 2, { what: 'both workers answering again', timeoutMs: 10_000 });
  });

  it('still answers when a worker is killed: from the other, then with the one started in its place', async () => {
    const before = (await status()).doc!.workers!.answeredBy.map((w) => w.pid);
    const [killed, survivor] = before as [number, number];
    const exited = waitFor(() => { try { process.kill(killed, 0); return false; } catch { return true; } }, { what: `worker ${killed} gone`, timeoutMs: 5_000 });
    process.kill(killed, 'SIGKILL');
    await exited;
    const after = await status();
    expect(after.status).toBe(200);
    expect(after.doc!.workers!.answeredBy.map((w) => w.pid)).toContain(survivor);
    expect(after.doc!.workers!.answeredBy.map((w) => w.pid)).not.toContain(killed);
    expect((await getOnce(adminPort, '/status/route?ip=133.11.0.1')).status).toBe(200);
    // The primary starts another worker in its place, which answers too.
    const restarted = await waitFor(
      async () => {
        const s = await status();
        return s.doc?.workers?.answered === 2 ? s.doc.workers.answeredBy.map((w) => w.pid) : undefined;
      },
      { what: 'the restarted worker answering', timeoutMs: 15_000 },
    );
    expect(restarted).toContain(survivor);
    expect(restarted).not.toContain(killed);
  });
});
