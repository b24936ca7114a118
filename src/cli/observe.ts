import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { MeridianError } from '../common/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Meridian's alert rules, as deploy/prometheus ships them. */
export const RULES_FILE = join(ROOT, 'deploy', 'prometheus', 'meridian.rules.yml');

/** What a Prometheus for Meridian scrapes: each proxy's admin port and the controller's metrics (host:port). */
export interface ScrapeTargets {
  proxies: readonly string[];
  controllers: readonly string[];
}

/**
 * A prometheus.yml for `targets`, with the jobs the alerts and the dashboard know
 * (meridian-proxy, meridian-controller) and, when given, the rules file.
 */
export function prometheusConfig(targets: ScrapeTargets, opts: { scrapeInterval: string; rulesFile?: string }): string {
  return stringify({
    global: { scrape_interval: opts.scrapeInterval, evaluation_interval: opts.scrapeInterval },
    ...(opts.rulesFile ? { rule_files: [opts.rulesFile] } : {}),
    scrape_configs: [
      { job_name: 'meridian-proxy', static_configs: [{ targets: [...targets.proxies] }] },
      { job_name: 'meridian-controller', static_configs: [{ targets: [...targets.controllers] }] },
    ],
  });
}

export interface RunningPrometheus {
  url: string;
  pid: number;
  /** Its config and TSDB: removed by stop(). */
  dir: string;
  /** Whether the alert rules are loaded. */
  rules: boolean;
  stop(): Promise<void>;
}

/** Whether a `prometheus` binary is on PATH. */
export function prometheusInstalled(binary = 'prometheus'): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
}

async function freePort(host: string): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, () => resolve());
  });
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Stops `child` by its PID: SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * A real Prometheus for the demo: its own temporary folder for config and TSDB, a free port on
 * loopback, scraping `targets` every `scrapeInterval` with Meridian's alert rules loaded. Resolves
 * once Prometheus says it is ready; stop() ends it by its PID and removes the folder.
 */
export async function startPrometheus(targets: ScrapeTargets, opts: { scrapeInterval?: string; host?: string; binary?: string; readyTimeoutMs?: number } = {}): Promise<RunningPrometheus> {
  const binary = opts.binary ?? 'prometheus';
  const host = opts.host ?? '127.0.0.1';
  if (!prometheusInstalled(binary)) {
    throw new MeridianError('E_PROMETHEUS_MISSING', `${binary} is not installed (not on PATH)`, 'install it (Debian: apt-get install prometheus), or run your own with deploy/prometheus/demo.yml');
  }
  const rules = existsSync(RULES_FILE);
  const dir = await mkdtemp(join(tmpdir(), 'meridian-prometheus-'));
  await writeFile(join(dir, 'prometheus.yml'), prometheusConfig(targets, { scrapeInterval: opts.scrapeInterval ?? '1s', ...(rules ? { rulesFile: RULES_FILE } : {}) }));
  // A port found free can be taken before Prometheus binds it: try a few.
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort(host);
    const url = `http://${host}:${port}`;
    const child = spawn(
      binary,
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${host}:${port}`, '--storage.tsdb.retention.time=1d', '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4_000);
    });
    const ready = await waitReady(url, child, opts.readyTimeoutMs ?? 30_000);
    if (ready) {
      // Not held open by its output any more: the demo's own logs say what matters.
      child.stderr!.removeAllListeners('data');
      child.stderr!.resume();
      return {
        url,
        pid: child.pid!,
        dir,
        rules,
        async stop() {
          await stopChild(child, 10_000);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    await stopChild(child, 2_000);
    lastError = stderr.trim().split('\n').slice(-3).join('\n');
    if (!/address already in use/i.test(stderr)) break;
  }
  await rm(dir, { recursive: true, force: true });
  throw new MeridianError('E_PROMETHEUS_START', `prometheus did not start: ${lastError || 'no output'}`, 'run it by hand with deploy/prometheus/demo.yml to see why, or leave out --observe');
}

/** Polls /-/ready until it answers 200, the process exits, or the deadline passes. */
async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !exited(child)) {
    const ok = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) })
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
