import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, createConnection } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './tmp.js';

const run = promisify(execFile);

/** A free loopback port (the moment it is asked; tests bind it right away). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * `count` consecutive free ports, for a process that takes N ports from a base (`--proxies N`).
 * Chosen below the kernel's ephemeral range (32768+), where no outgoing connection or port-0
 * listener of a concurrent test lands between this check and the child's listen.
 */
export async function freePortRun(count: number): Promise<number> {
  const bindable = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await bindable(base + i);
    if (ok) return base;
  }
  throw new Error(`no run of ${count} free ports found below 32768`);
}

/** Free ports for `meridian demo --proxies N`: runs of N for --vip, --vip-tls and --proxy-admin, none overlapping another. */
export async function demoPorts(proxies: number): Promise<{ vip: number; vipTls: number; admin: number }> {
  const starts: number[] = [];
  while (starts.length < 3) {
    const start = await freePortRun(proxies);
    if (starts.every((s) => Math.abs(s - start) >= proxies)) starts.push(start);
  }
  const [vip, vipTls, admin] = starts as [number, number, number];
  return { vip, vipTls, admin };
}

/** One Redis command over a raw socket (RESP inline), for a readiness check that needs no client. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.write('PING\r\n');
  });
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A redis-server of the test's own, on a free port (never the machine's 6379), keeping nothing on
 * disk: restart() brings it back empty on the same port, kill() is a crash (SIGKILL).
 */
export class TestRedis {
  private proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly dir: { path: string; remove(): Promise<void> },
    private readonly extra: string[],
  ) {}

  static async start(extra: string[] = [], port?: number): Promise<TestRedis> {
    const dir = await tempDir('meridian-redis-');
    const r = new TestRedis(port ?? (await freePort()), dir, extra);
    await r.restart();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async restart(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) await this.kill();
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir.path, ...this.extra], { stdio: 'ignore' });
    this.proc = proc;
    await until(() => ping(this.port), `redis-server on ${this.port}`);
  }

  /** SIGKILL, like a crash; resolves once the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    await exited;
  }

  /** Pauses the server (SIGSTOP): connections stay open, nothing answers. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async cli(...args: string[]): Promise<string> {
    return (await run('redis-cli', ['-p', String(this.port), ...args])).stdout.trim();
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
    await this.dir.remove();
  }
}

/** A master, a replica and one Sentinel watching them as `mymaster` (quorum 1, failover after 1 s down). */
export async function startSentinelSetup(): Promise<{ master: TestRedis; replica: TestRedis; sentinelPort: number; url: string; sentinelCli(...args: string[]): Promise<string>; stop(): Promise<void> }> {
  const master = await TestRedis.start();
  const replica = await TestRedis.start(['--replicaof', '127.0.0.1', String(master.port)]);
  const dir = await tempDir('meridian-sentinel-');
  const sentinelPort = await freePort();
  const conf = join(dir.path, 'sentinel.conf');
  await writeFile(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir.path}`,
      `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds mymaster 1000',
      'sentinel failover-timeout mymaster 3000',
      'sentinel parallel-syncs mymaster 1',
      '',
    ].join('\n'),
  );
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  await until(() => ping(sentinelPort), 'redis sentinel');
  // The replica has synced and the Sentinel knows it: a failover has somewhere to go.
  await until(async () => (await replica.cli('info', 'replication')).includes('master_link_status:up'), 'replica in sync');
  await until(async () => {
    const out = (await run('redis-cli', ['-p', String(sentinelPort), 'sentinel', 'replicas', 'mymaster'])).stdout;
    return out.includes(String(replica.port));
  }, 'sentinel sees the replica');
  return {
    master,
    replica,
    sentinelPort,
    url: `redis+sentinel://127.0.0.1:${sentinelPort}/mymaster`,
    sentinelCli: async (...args: string[]) => (await run('redis-cli', ['-p', String(sentinelPort), ...args])).stdout,
    async stop() {
      const exited = new Promise((r) => sentinel.once('exit', r));
      sentinel.kill('SIGKILL');
      await exited;
      await Promise.all([master.stop(), replica.stop()]);
      await dir.remove();
    },
  };
}

/** A three-master Redis Cluster (no replicas), formed with `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<{ nodes: TestRedis[]; url: string; stop(): Promise<void> }> {
  const nodes: TestRedis[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    nodes.push(await TestRedis.start(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'], port));
  }
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
  await until(async () => (await Promise.all(nodes.map((n) => n.cli('cluster', 'info')))).every((i) => i.includes('cluster_state:ok')), 'cluster state ok', 20_000);
  return {
    nodes,
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
