import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FleetStore } from '../../src/state/store.js';
import { freePort } from './redis.js';
import { waitFor } from './wait.js';

export const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

/** A `meridian proxy` child process with its own listen and admin ports. */
export interface ProxyProcess {
  id: string;
  port: number;
  adminPort: number;
  url: string;
  child: ChildProcessWithoutNullStreams;
  /** What it wrote to stderr (its logs). */
  logs(): string;
  debug(): Promise<DebugTable>;
  metrics(): Promise<string>;
  /** One sample of a metric without labels (or with the exact label text given). */
  metric(name: string): Promise<number | undefined>;
  stop(): Promise<void>;
}

export interface DebugEndpoint {
  address: string;
  healthy: boolean;
  probeHealthy: boolean;
  fleetVerdict: boolean | null;
  probed: boolean;
  ejected: boolean;
}
export interface DebugTable {
  version: string;
  proxy?: string;
  fleet?: { inSync: boolean; measuredRttMs: Record<string, number> };
  backends: { name: string; shards: { cluster: string; region: string; rateRps: number; admitShare: number; endpoints: DebugEndpoint[] }[] }[];
}

/** Starts `meridian proxy` with `config` (YAML-serialised into `dir`) and waits until it listens. */
export async function startProxyProcess(dir: string, id: string, config: Record<string, unknown>, extraArgs: string[] = [], env: Record<string, string> = {}): Promise<ProxyProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(dir, `${id}.yaml`);
  await writeFile(file, stringify({ listen: [{ host: '127.0.0.1', port }], admin: { host: '127.0.0.1', port: adminPort }, ...config }));
  const child = spawn(process.execPath, [CLI, 'proxy', '--config', file, ...extraArgs], {
    env: { ...process.env, MERIDIAN_LOG_LEVEL: 'info', MERIDIAN_PROXY_ID: id, ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(() => out.includes('listening') || child.exitCode !== null, { what: `proxy ${id} listening`, timeoutMs: 20_000 });
  if (child.exitCode !== null) throw new Error(`proxy ${id} exited with ${child.exitCode}: ${err}`);
  const admin = `http://127.0.0.1:${adminPort}`;
  const metrics = async () => (await fetch(`${admin}/metrics`)).text();
  return {
    id,
    port,
    adminPort,
    url: `http://127.0.0.1:${port}`,
    child,
    logs: () => err,
    debug: async () => (await (await fetch(`${admin}/debug/table`)).json()) as DebugTable,
    metrics,
    async metric(name: string) {
      const line = (await metrics()).split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.split(' ')[1]);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The endpoint `address` (host:port) in a proxy's debug view. */
export function endpointIn(t: DebugTable, address: string): DebugEndpoint | undefined {
  for (const b of t.backends) for (const s of b.shards) for (const e of s.endpoints) if (e.address === address) return e;
  return undefined;
}

/** Publishes `table` to the fleet's store the way the controller does (version, checksum, notification). */
export async function publishTable(store: FleetStore, table: Record<string, unknown>, version: string): Promise<void> {
  const body = JSON.stringify({ ...table, version });
  await store.publishTable({ version, body, sha256: createHash('sha256').update(body).digest('hex'), publishedAt: Date.now(), publisher: 'test' });
}
