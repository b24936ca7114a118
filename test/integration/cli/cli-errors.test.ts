import { spawn } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { CLI } from '../../helpers/proxy-process.js';
import { freePort } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';

/** `meridian …` as a user runs it: exit code and output, with `env` on top of the test's. */
function meridian(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 25_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // SIGTERM first: a demo stops what it started; SIGKILL only if it does not.
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** One line with the code, one with the hint, and no stack trace. */
function expectOneError(stderr: string, code: string, message: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines[0]).toMatch(new RegExp(`^meridian: ${code}: `));
  expect(lines[0]).toMatch(message);
  expect(lines[1]).toMatch(/^ {2}hint: \S/);
  expect(lines).toHaveLength(2);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('the CLI: version, defaults and start-up errors users meet', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let taken: Server;
  let takenPort: number;

  beforeAll(async () => {
    dir = await tempDir();
    taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    takenPort = (taken.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => taken.close(() => r()));
    await dir.remove();
  });

  it('prints its version', async () => {
    const r = await meridian(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  const proxyConfig = async (name: string, listen: number, admin: number) => {
    const file = join(dir.path, `${name}.yaml`);
    await writeFile(file, `listen: [{ host: 127.0.0.1, port: ${listen} }]\nadmin: { host: 127.0.0.1, port: ${admin} }\ntable: { backends: {} }\n`);
    return file;
  };

  it('a proxy port in use is one line with E_ADDR_IN_USE and a hint', async () => {
    const r = await meridian(['proxy', '--config', await proxyConfig('p1', takenPort, await freePort())]);
    expect(r.code).toBe(2);
    expectOneError(r.stderr, 'E_ADDR_IN_USE', new RegExp(`the proxy cannot listen on 127\\.0\\.0\\.1:${takenPort}: the address is already in use`));
  });

  it('an admin port in use too', async () => {
    const r = await meridian(['proxy', '--config', await proxyConfig('p2', await freePort(), takenPort)]);
    expect(r.code).toBe(2);
    expectOneError(r.stderr, 'E_ADDR_IN_USE', /the admin port cannot listen/);
  });

  it('a typo deep in the proxy config is named with its path', async () => {
    const file = join(dir.path, 'typo.yaml');
    await writeFile(file, 'table: { backends: {} }\nhealthCheck: { intervalMs: 1000, unhealthyTreshold: 3 }\n');
    const r = await meridian(['proxy', '--config', file]);
    expect(r.code).toBe(2);
    expectOneError(r.stderr, 'E_CONFIG_INVALID', /healthCheck: Unrecognized key: "unhealthyTreshold"/);
  });

  it('the controller reads $KUBECONFIG, then ~/.kube/config, when --kubeconfig is not given', async () => {
    const fromEnv = await meridian(['controller'], { KUBECONFIG: '/nonexistent/a:/nonexistent/b' });
    expectOneError(fromEnv.stderr, 'E_CONTROLLER_KUBECONFIG', /cannot read kubeconfig \/nonexistent\/a$/);
    const fromHome = await meridian(['controller'], { KUBECONFIG: undefined, HOME: join(dir.path, 'home') });
    expectOneError(fromHome.stderr, 'E_CONTROLLER_KUBECONFIG', new RegExp(`cannot read kubeconfig ${join(dir.path, 'home', '.kube', 'config').replace(/\//g, '\\/')}$`));
  });

  it.each([
    [['--default-certificate', 'default-tls', '--table-out', '/tmp/t.json'], /--default-certificate "default-tls" is not namespace\/name/],
    [['--default-certificate', 'Edge/default-tls', '--table-out', '/tmp/t.json'], /"Edge" is not a namespace name/],
    [['--default-certificate', 'edge/default_tls', '--table-out', '/tmp/t.json'], /"default_tls" is not a Secret name/],
    [['--default-certificate', 'edge/default-tls'], /--default-certificate reaches the proxies with the certificates the controller publishes, and it publishes none/],
    [['--member-cache-timeout', '0'], /--member-cache-timeout "0" would report every member before its first list could finish/],
    [['--member-cache-timeout', 'soon'], /--member-cache-timeout "soon" is not a duration/],
  ])('the controller checks --default-certificate and --member-cache-timeout before it starts: %j', async (args, message) => {
    // No kubeconfig needed: the flags are refused first.
    const r = await meridian(['controller', ...args], { KUBECONFIG: '/nonexistent/kubeconfig', REDIS_URL: undefined });
    expect(r.code).not.toBe(0);
    expectOneError(r.stderr, 'E_CLI_ARG', message);
  });

  it('sandbox fault finds the running sandbox by $KUBECONFIG', async () => {
    const r = await meridian(['sandbox', 'fault', 'api-up', 'gce-asia-east1-a'], { KUBECONFIG: '/nonexistent/kubeconfig' });
    expect(r.code).toBe(2);
    expectOneError(r.stderr, 'E_SANDBOX_NOT_RUNNING', /no sandbox state at \/nonexistent\/kubeconfig\.sandbox\.json/);
  });

  it('a demo with several proxies and no redis-server says what to install', async () => {
    // A PATH with node alone on it: no redis-server.
    const bin = join(dir.path, 'bin');
    await mkdir(bin);
    await symlink(process.execPath, join(bin, 'node'));
    const r = await meridian(['demo', '--proxies', '2', '--kubeconfig', join(dir.path, 'demo-noredis', 'kubeconfig'), '--vip', `127.0.0.1:${await freePort()}`, '--vip-tls', `127.0.0.1:${await freePort()}`, '--proxy-admin', `127.0.0.1:${await freePort()}`, '--controller-metrics', '127.0.0.1:0'], { PATH: bin });
    expect(r.code).toBe(2);
    expectOneError(r.stderr, 'E_DEMO_NO_REDIS', /needs Redis, and redis-server is not installed/);
  });

  it('a demo whose HTTPS VIPs overlap its plain ones is refused before anything starts', async () => {
    const r = await meridian(['demo', '--proxies', '2', '--kubeconfig', join(dir.path, 'demo-overlap', 'kubeconfig'), '--vip', '127.0.0.1:28080', '--vip-tls', '127.0.0.1:28081', '--proxy-admin', '127.0.0.1:29901']);
    expect(r.code).toBe(2);
    expectOneError(r.stderr, 'E_CLI_ARG', /--vip 127\.0\.0\.1:28080 and --vip-tls 127\.0\.0\.1:28081 overlap for 2 proxies/);
  });

  it('a demo whose VIP is taken stops cleanly with E_ADDR_IN_USE', async () => {
    const r = await meridian(['demo', '--empty', '--kubeconfig', join(dir.path, 'demo-taken', 'kubeconfig'), '--vip', `127.0.0.1:${takenPort}`, '--vip-tls', `127.0.0.1:${await freePort()}`, '--proxy-admin', `127.0.0.1:${await freePort()}`, '--controller-metrics', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expectOneError(r.stderr, 'E_ADDR_IN_USE', new RegExp(`the proxy cannot listen on 127\\.0\\.0\\.1:${takenPort}`));
  });

  describe('with a federation API', () => {
    let sb: Sandbox;
    beforeAll(async () => {
      sb = await startSandbox({ kubeconfigPath: join(dir.path, 'sb', 'kubeconfig'), clusters: 'gce-us-central1-a' });
    });
    afterAll(async () => {
      await sb?.stop();
    });

    it('a controller whose metrics port is taken says so', async () => {
      const r = await meridian(['controller', '--kubeconfig', sb.kubeconfigPath, '--metrics-addr', `127.0.0.1:${takenPort}`]);
      expect(r.code).toBe(2);
      expectOneError(r.stderr, 'E_ADDR_IN_USE', /the controller's metrics cannot listen/);
    });
  });
});
