import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../../helpers/proxy-process.js';
import { demoPorts } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const run = promisify(execFile);

describe('meridian demo --proxies 2', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('runs two proxy processes sharing one fleet through a redis-server of its own, and stops them all', async () => {
    const dir = await tempDir();
    cleanup.push(() => dir.remove());
    const { vip, vipTls, admin } = await demoPorts(2);
    const demo = spawn(process.execPath, [CLI, 'demo', '--empty', '--proxies', '2', '--kubeconfig', join(dir.path, 'kubeconfig'), '--vip', `127.0.0.1:${vip}`, '--vip-tls', `127.0.0.1:${vipTls}`, '--proxy-admin', `127.0.0.1:${admin}`, '--controller-metrics', '127.0.0.1:0'], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' } });
    let out = '';
    demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
    demo.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // A demo killed outright would leave its redis-server and proxies running: it is asked to stop first.
    cleanup.push(async () => {
      if (demo.exitCode !== null || demo.signalCode !== null) return;
      const exited = new Promise((r) => demo.once('exit', r));
      demo.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (demo.exitCode === null && demo.signalCode === null) demo.kill('SIGKILL');
    });
    await waitFor(() => /^ready$/m.test(out) || demo.exitCode !== null, { what: 'the demo ready', timeoutMs: 60_000 });
    expect(demo.exitCode, out).toBeNull();
    const redis = /Redis \((redis:\/\/127\.0\.0\.1:\d+)\)/.exec(out)?.[1];
    expect(redis, out).toBeDefined();
    // Both VIPs answer (404: --empty, no Ingress yet), as members of one fleet.
    for (const port of [vip, vip + 1]) expect((await fetch(`http://127.0.0.1:${port}/`)).headers.get('x-meridian-error')).toBe('E_NO_ROUTE');
    await waitFor(async () => {
      const { stdout } = await run(process.execPath, [CLI, 'fleet', '--redis', redis!, '--fleet', 'demo', '-o', 'json']);
      return (JSON.parse(stdout) as { proxies: { id: string }[] }).proxies.map((p) => p.id).join() === 'demo-proxy-1,demo-proxy-2';
    }, { what: 'two proxies in the fleet' });
    const pids = (await run('ps', ['-o', 'pid=', '--ppid', String(demo.pid)])).stdout.trim().split(/\s+/).map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(3); // redis-server and the two proxies
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGINT');
    await exited;
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(() => pids.every((p) => !alive(p)), { what: 'the demo\'s children gone', timeoutMs: 10_000 });
  }, 90_000);
});
