import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { MeridianError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import type { FleetStore } from '../../state/store.js';
import type { RunningPrometheus } from '../observe.js';
import { walkthrough } from '../walkthrough.js';
import { addSandboxFlags, runUntilSignalled, sandboxOptions } from './sandbox.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
/** The seed's objects, in the order the blog post creates them. */
const SEED_FILES = ['examples/configmaps/zonefetch.yaml', 'examples/services/nginx.yaml', 'examples/ingress/ingress.yaml', 'examples/replicasets/nginx-rs.yaml'];
/** The demo's clients are all on loopback: the proxy believes their X-Forwarded-For. */
const LOOPBACK = ['127.0.0.0/8', '::1/128'];

function hostPort(text: string, flag: string, anyPort = false): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < (anyPort ? 0 : 1) || port > 65535) throw new MeridianError('E_CLI_ARG', `${flag} "${text}" is not host:port`, 'e.g. 127.0.0.1:8080');
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * The demo's own redis-server, on a free loopback port, keeping nothing on disk; stopped with the
 * demo. Refuses clearly when redis-server is not installed.
 */
async function startRedis(): Promise<{ url: string; child: ChildProcess }> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new MeridianError('E_DEMO_NO_REDIS', 'a demo with several proxies needs Redis, and redis-server is not installed', 'install it (Debian: apt-get install redis-server), or pass --redis URL of one you run');
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  return { url: `redis://127.0.0.1:${port}`, child };
}

/** The seed's ConfigMap, Service, Ingress and ReplicaSet, created through the federation API as the blog post does. */
async function createSeedObjects(kubeconfigText: string): Promise<void> {
  const [{ KubeConfig }, { KubeRest }] = await Promise.all([import('@kubernetes/client-node'), import('../../kube/rest.js')]);
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigText);
  kc.setCurrentContext('federation-cluster');
  const api = await KubeRest.fromKubeConfig(kc);
  try {
    for (const file of SEED_FILES) {
      const obj = parse(await readFile(join(ROOT, file), 'utf8')) as { apiVersion: string; kind: string; metadata: { namespace?: string } };
      const plural = obj.kind === 'Ingress' ? 'ingresses' : `${obj.kind.toLowerCase()}s`;
      const group = obj.apiVersion === 'v1' ? '/api/v1' : `/apis/${obj.apiVersion}`;
      await api.call('POST', `${group}/namespaces/${obj.metadata.namespace ?? 'default'}/${plural}`, { body: obj });
    }
  } finally {
    await api.close();
  }
}

/** Resolves once every VIP serves the seed's page (its pods up, the table published, probes passed). */
async function waitServing(vips: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const vip of vips) {
    for (;;) {
      const ok = await fetch(`http://${vip}/`, { signal: AbortSignal.timeout(2_000) })
        .then(async (r) => r.status === 200 && /You are being served from/.test(await r.text()))
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new MeridianError('E_DEMO_NOT_SERVING', `the VIP ${vip} did not serve the seed's site within ${timeoutMs / 1000} s`, 'look at the controller and proxy logs (MERIDIAN_LOG_LEVEL=info)');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Until each proxy's admin /readyz answers 200 (it has a routing table and is not draining). */
async function waitReady(admins: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const admin of admins) {
    while (!(await fetch(`http://${admin}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new MeridianError('E_DEMO_NOT_SERVING', `the proxy with admin port ${admin} has no routing table after ${timeoutMs / 1000} s`, 'look at the controller and proxy logs (MERIDIAN_LOG_LEVEL=info)');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

interface DemoFlags {
  vip: string;
  vipTls: string;
  proxyAdmin: string;
  controllerMetrics: string;
  empty?: boolean;
  proxies: string;
  redis?: string;
  observe?: boolean;
}

/** A path as the user should type it from where the demo runs: relative when it lies below, short enough to read in a command. */
function asTyped(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Where Prometheus reaches a server bound on `host` (a wildcard bind is reached on loopback). */
function scrapeAddress(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * `--observe`: a real Prometheus scraping the demo's proxies and controller with Meridian's alerts,
 * when one is installed. Without it (or if it will not start) the demo says so and goes on.
 */
async function observe(targets: { proxies: string[]; controllers: string[] }): Promise<RunningPrometheus | undefined> {
  const { prometheusInstalled, startPrometheus } = await import('../observe.js');
  const warn = (err: MeridianError) => process.stderr.write(`meridian: demo --observe: ${err.describe()}\n  the demo goes on without Prometheus\n`);
  if (!prometheusInstalled()) {
    warn(new MeridianError('E_PROMETHEUS_MISSING', 'prometheus is not installed (not on PATH)', 'install it (Debian: apt-get install prometheus), or run your own with deploy/prometheus/demo.yml'));
    return undefined;
  }
  try {
    return await startPrometheus(targets);
  } catch (err) {
    if (!(err instanceof MeridianError)) throw err;
    warn(err);
    return undefined;
  }
}

export function register(program: Command): void {
  addSandboxFlags(program.command('demo').description('run the seed walkthrough locally: sandbox federation, controller and proxies, the global site up when it says ready (`npm start`)'))
    .option('--vip <host:port>', 'where the proxy listens: the global VIP of the demo (with --proxies N, the first of N consecutive ports)', '127.0.0.1:8080')
    .option('--vip-tls <host:port>', 'where the proxy serves HTTPS (HTTP/2 and HTTP/1.1) with the certificates of the federated Ingresses\' spec.tls Secrets (with --proxies N, the first of N consecutive ports)', '127.0.0.1:8443')
    .option('--proxy-admin <host:port>', 'the proxy\'s admin port (the first of N)', '127.0.0.1:9901')
    .option('--controller-metrics <host:port>', 'the controller\'s /metrics (port 0: any free port)', '127.0.0.1:9900')
    .option('--empty', 'do not create the seed\'s objects: create them yourself as the blog post does')
    .option('--proxies <n>', 'proxy processes sharing health and load through Redis (1: one proxy, no Redis)', '1')
    .option('--redis <url>', 'the fleet\'s Redis for --proxies N (default: the demo starts its own redis-server)')
    .option('--observe', 'also run a Prometheus (when installed) scraping the demo every second, with Meridian\'s alert rules; prints its URL')
    .action(async (flags: Parameters<typeof sandboxOptions>[0] & DemoFlags) => {
      const level = process.env.MERIDIAN_LOG_LEVEL ?? 'warn';
      const vip = hostPort(flags.vip, '--vip');
      const vipTls = hostPort(flags.vipTls, '--vip-tls');
      const admin = hostPort(flags.proxyAdmin, '--proxy-admin');
      const metricsAt = hostPort(flags.controllerMetrics, '--controller-metrics', true);
      const n = Number(flags.proxies);
      if (!Number.isInteger(n) || n < 1 || n > 16) throw new MeridianError('E_CLI_ARG', `--proxies must be an integer from 1 to 16, not "${flags.proxies}"`);
      // Ports only, whatever the hosts: 127.0.0.1 and 0.0.0.0 collide too.
      const ranges = [
        { start: vip.port, flag: '--vip', value: flags.vip },
        { start: vipTls.port, flag: '--vip-tls', value: flags.vipTls },
        { start: admin.port, flag: '--proxy-admin', value: flags.proxyAdmin },
      ];
      for (const [i, a] of ranges.entries()) {
        for (const b of ranges.slice(i + 1)) {
          if (a.start < b.start + n && b.start < a.start + n) {
            throw new MeridianError('E_CLI_ARG', `${a.flag} ${a.value} and ${b.flag} ${b.value} overlap for ${n} ${n > 1 ? 'proxies' : 'proxy'} (each takes ${n} ${n > 1 ? 'consecutive ports' : 'port'} from there)`, 'move one of them further away');
          }
        }
        if (metricsAt.port >= a.start && metricsAt.port < a.start + n) throw new MeridianError('E_CLI_ARG', `--controller-metrics port ${metricsAt.port} is one of the ${n} ports ${a.flag} takes`, 'choose another port for one of them');
      }
      const fleet = n > 1 || flags.redis !== undefined;
      const vips = Array.from({ length: n }, (_, i) => `${vip.host}:${vip.port + i}`);
      const tlsVips = Array.from({ length: n }, (_, i) => `${vipTls.host}:${vipTls.port + i}`);
      const [{ startSandbox }, { startController }, { startProxy }] = await Promise.all([
        import('../../sandbox/sandbox.js'),
        import('../../federation/controller/controller.js'),
        import('../../proxy/main.js'),
      ]);
      const children: ChildProcess[] = [];
      let redisChild: ChildProcess | undefined;
      let prometheus: RunningPrometheus | undefined;
      const stop = (all: ChildProcess[]) =>
        Promise.all(
          all.map(
            (c) =>
              new Promise<void>((resolve) => {
                if (c.exitCode !== null || c.signalCode !== null) return resolve();
                c.once('exit', () => resolve());
                c.kill('SIGTERM');
              }),
          ),
        );
      const sb = await startSandbox({ ...sandboxOptions(flags), logger: createLogger('demo', level) });
      try {
        const dir = dirname(sb.kubeconfigPath);
        const tablePath = join(dir, 'routing-table.json');
        await writeFile(tablePath, `${JSON.stringify({ version: 'empty', backends: {} })}\n`);
        let redisUrl = flags.redis;
        let store: FleetStore | undefined;
        if (fleet) {
          if (!redisUrl) {
            const r = await startRedis();
            redisChild = r.child;
            redisUrl = r.url;
          }
          const [{ RedisStore }, { parseRedisUrl }] = await Promise.all([import('../../state/redis-store.js'), import('../../state/redis-target.js')]);
          store = new RedisStore(parseRedisUrl(redisUrl), 'demo');
          await store.ready(5_000).catch((err: unknown) => {
            throw new MeridianError('E_STORE_UNREACHABLE', `the demo cannot reach Redis at ${redisUrl}: ${(err as Error).message}`, 'check --redis, or leave it out and the demo starts its own');
          });
        }
        const controller = await startController({
          kubeconfigText: await readFile(sb.kubeconfigPath, 'utf8'),
          federationContext: 'federation-cluster',
          globalVIP: vip.host,
          probeIntervalMs: 2_000,
          resyncMs: 10_000,
          metricsAddress: flags.controllerMetrics,
          tableOut: tablePath,
          ...(store ? { store } : {}),
          logger: createLogger('controller', level),
        });
        let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
        const configLines = (i: number) => [
          `listen: [{ host: ${vip.host}, port: ${vip.port + i} }, { host: ${vipTls.host}, port: ${vipTls.port + i}, tls: true }]`,
          `admin: { host: ${admin.host}, port: ${admin.port + i} }`,
          'region: us-central1',
          `trustedProxies: [${LOOPBACK.map((c) => `"${c}"`).join(', ')}]`,
        ];
        if (!fleet) {
          const proxyConfig = join(dir, 'proxy.yaml');
          await writeFile(proxyConfig, [...configLines(0), 'tableFile: routing-table.json', '# The federation\'s certificates, as the controller writes them beside its table (none until an Ingress names a TLS Secret).', 'tls: { certificatesFile: certificates.json }', ''].join('\n'));
          proxy = await startProxy({ configPath: proxyConfig, logger: createLogger('proxy', level) });
        } else {
          for (let i = 0; i < n; i++) {
            const file = join(dir, `proxy-${i + 1}.yaml`);
            await writeFile(file, [...configLines(i), `store: { redis: "${redisUrl}", fleet: demo }`, '# The federation\'s certificates, from the fleet\'s store as the controller publishes them.', 'tls: {}', ''].join('\n'));
            const child = spawn(process.execPath, [CLI, 'proxy', '--config', file], { env: { ...process.env, MERIDIAN_LOG_LEVEL: level, MERIDIAN_PROXY_ID: `demo-proxy-${i + 1}` }, stdio: ['ignore', 'pipe', 'inherit'] });
            children.push(child);
            await new Promise<void>((resolve, reject) => {
              child.stdout!.once('data', () => resolve());
              child.once('exit', (code) => reject(new MeridianError('E_DEMO_PROXY', `proxy ${i + 1} exited with ${code} before listening`, 'its error is printed above')));
            });
          }
        }
        // Before the seed's objects, so their propagation and the first requests are on record.
        if (flags.observe) {
          const metricsAt = new URL(controller.metricsUrl);
          prometheus = await observe({
            proxies: vips.map((_, i) => scrapeAddress(admin.host, admin.port + i)),
            controllers: [scrapeAddress(metricsAt.hostname.replace(/^\[(.*)\]$/, '$1'), Number(metricsAt.port))],
          });
        }
        if (!flags.empty) {
          await createSeedObjects(await readFile(sb.kubeconfigPath, 'utf8'));
          await waitServing(vips, 60_000);
        } else {
          // Nothing to serve yet, but every proxy holds the (empty) table: a request gets 404, not 503 E_NO_TABLE.
          await waitReady(vips.map((_, i) => scrapeAddress(admin.host, admin.port + i)), 30_000);
        }
        process.stdout.write(
          walkthrough({
            kubeconfig: sb.kubeconfigPath,
            vips,
            tlsVips,
            certificateDir: asTyped(dirname(sb.kubeconfigPath)),
            proxyAdmin: flags.proxyAdmin,
            controllerMetrics: controller.metricsUrl.replace(/^http:\/\//, ''),
            proxyConfig: join(dirname(sb.kubeconfigPath), 'proxy.yaml'),
            ...(redisUrl ? { redis: redisUrl } : {}),
            seeded: !flags.empty,
          }),
        );
        if (prometheus) {
          process.stdout.write(
            `Prometheus: ${prometheus.url}   alerts: ${prometheus.url}/alerts   (scraping the demo every second${prometheus.rules ? ', with deploy/prometheus/meridian.rules.yml' : ', without alert rules: deploy/prometheus/meridian.rules.yml not found'}; Grafana: import deploy/grafana/meridian.json)\n`,
          );
        }
        process.stdout.write('ready\n');
        await runUntilSignalled(sb, async () => {
          await prometheus?.stop();
          await proxy?.drain();
          await stop(children);
          await controller.stop();
          await stop(redisChild ? [redisChild] : []);
        });
      } catch (err) {
        await prometheus?.stop();
        await stop([...children, ...(redisChild ? [redisChild] : [])]);
        await sb.stop();
        throw err;
      }
    });
}
