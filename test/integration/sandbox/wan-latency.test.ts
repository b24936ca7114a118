import { spawn } from 'node:child_process';
import { Agent, request, type ClientRequest, type RequestOptions } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addSandboxFlags, sandboxOptions } from '../../../src/cli/commands/sandbox.js';
import type { KubeObject } from '../../../src/sandbox/apiserver/store.js';
import { R } from '../../../src/sandbox/cluster/store-port.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');
const ASIA = 'gce-asia-east1-a';
const US = 'gce-us-central1-a';
const EUROPE = 'gce-europe-west1-b';
/** asia-east1 ↔ us-central1 in geoip/region-latency.json. */
const ASIA_US_MS = 150;
const FAST_MS = 50;
const PORT = 8080;

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A client address inside a member's /16 pod range that no pod gets (podAddress stops far below x.y.255.250). */
function clientIn(sb: Sandbox, cluster: string): string {
  const [a, b] = sb.members.get(cluster)!.podCIDR.split('.');
  return `${a}.${b}.255.250`;
}

interface Timed {
  status: number;
  body: string;
  ms: number;
  reused: boolean;
}

function timedGet(host: string, opts: Omit<RequestOptions, 'host'> & { path?: string }): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request({ host, port: PORT, agent: false, timeout: 5000, ...opts }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - start, reused: req.reusedSocket }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A request the pod has already received and is holding on the WAN timer: with `Expect:
 * 100-continue` the pod's HTTP server writes "100 Continue" just before it runs the handler, so
 * `onHeld` runs once the delayed answer is pending.
 */
function heldGet(host: string, localAddress: string, onHeld: (req: ClientRequest) => void): Promise<{ error?: NodeJS.ErrnoException; status?: number; ms: number }> {
  return new Promise((resolve) => {
    const start = performance.now();
    const req = request({ host, port: PORT, agent: false, localAddress, headers: { expect: '100-continue' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - start }));
    });
    req.on('continue', () => onHeld(req));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error, ms: performance.now() - start }));
    req.end();
  });
}

function createPod(sb: Sandbox, cluster: string, name: string): void {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: PORT }] }] },
  };
  sb.members.get(cluster)!.store.create(R.pods, pod);
}

function runningPodIP(sb: Sandbox, cluster: string, name: string): Promise<string> {
  return waitFor(
    () => {
      const status = sb.members.get(cluster)!.store.get(R.pods, 'default', name)?.status as { phase?: string; podIP?: string } | undefined;
      return status?.phase === 'Running' ? status.podIP : undefined;
    },
    { what: `${cluster}/${name} running` },
  );
}

describe('sandbox WAN latency emulation', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let sb: Sandbox;
  let webIP: string;
  let usClient: string;

  beforeAll(async () => {
    dir = await tempDir();
    sb = await startSandbox({ kubeconfigPath: join(dir.path, 'kubeconfig'), clusters: `${ASIA},${US},${EUROPE}`, nodeShape: { nodes: 1 }, wanLatency: true });
    createPod(sb, ASIA, 'web');
    webIP = await runningPodIP(sb, ASIA, 'web');
    usClient = clientIn(sb, US);
  });

  afterAll(async () => {
    await sb?.stop();
    await dir?.remove();
  });

  it("answers a client from another region's pod range after the pair's round trip, health paths too", async () => {
    const page = await timedGet(webIP, { localAddress: usClient });
    expect(page.status).toBe(200);
    expect(page.body).toContain('You are being served from asia-east1-a');
    expect(page.ms).toBeGreaterThanOrEqual(ASIA_US_MS);
    const health = await timedGet(webIP, { localAddress: usClient, path: '/healthz' });
    expect(health.status).toBe(200);
    expect(health.ms).toBeGreaterThanOrEqual(ASIA_US_MS);
    const europe = await timedGet(webIP, { localAddress: clientIn(sb, EUROPE) });
    expect(europe.ms).toBeGreaterThanOrEqual(255);
  });

  it('answers its own region and addresses outside every pod range at once', async () => {
    const local = await timedGet(webIP, { localAddress: clientIn(sb, ASIA) });
    expect(local.status).toBe(200);
    expect(local.ms).toBeLessThan(FAST_MS);
    const loopback = await timedGet(webIP, { localAddress: '127.0.0.1' });
    expect(loopback.status).toBe(200);
    expect(loopback.ms).toBeLessThan(FAST_MS);
  });

  it('takes a run-time override on an open connection from its next request, and a reset', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await timedGet(webIP, { agent, localAddress: usClient });
      expect(before.ms).toBeGreaterThanOrEqual(ASIA_US_MS);
      sb.faults.setWanLatency('us-central1', 'asia-east1', 20);
      const after = await timedGet(webIP, { agent, localAddress: usClient });
      expect(after.reused).toBe(true);
      expect(after.ms).toBeGreaterThanOrEqual(20);
      expect(after.ms).toBeLessThan(ASIA_US_MS - 30);
      expect(sb.faults.resetWanLatency()).toBe(1);
      const reset = await timedGet(webIP, { agent, localAddress: usClient });
      expect(reset.reused).toBe(true);
      expect(reset.ms).toBeGreaterThanOrEqual(ASIA_US_MS);
    } finally {
      agent.destroy();
    }
  });

  it('takes wan-latency and wan-reset from `meridian sandbox fault`, with clear errors', async () => {
    const kubeconfig = sb.kubeconfigPath;
    const set = await runCli(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'wan-latency', 'asia-east1,us-central1', '20']);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ regions: ['asia-east1', 'us-central1'], rttMs: 20 });
    try {
      const fast = await timedGet(webIP, { localAddress: usClient });
      expect(fast.ms).toBeGreaterThanOrEqual(20);
      expect(fast.ms).toBeLessThan(ASIA_US_MS - 30);

      const noPair = await runCli(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'wan-latency', 'asia-east1', '20']);
      expect(noPair.code).toBe(2);
      expect(noPair.stderr).toContain('E_CLI_ARG: wan-latency needs two regions and a round trip in ms');
      const unknown = await runCli(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'wan-latency', 'asia-east1,nowhere', '20']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('E_SANDBOX_NO_SUCH_REGION: no member cluster is in region "nowhere"');
      const notMs = await runCli(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'wan-latency', 'asia-east1,us-central1', 'soon']);
      expect(notMs.code).toBe(2);
      expect(notMs.stderr).toContain('E_SANDBOX_CONTROL_ARG: ms must be a number of milliseconds, not "soon"');
    } finally {
      const reset = await runCli(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'wan-reset']);
      expect(reset.code, reset.stderr).toBe(0);
      expect(JSON.parse(reset.stdout)).toEqual({ wanLatency: 'reset', pairs: 1 });
    }
    expect((await timedGet(webIP, { localAddress: usClient })).ms).toBeGreaterThanOrEqual(ASIA_US_MS);
  });

  it('survives a client that gives up during the delay', async () => {
    const gaveUp = await heldGet(webIP, usClient, (req) => req.destroy());
    expect(gaveUp.error).toBeDefined();
    // This answer is due after the abandoned one was: a crash from it would have happened by then.
    const next = await timedGet(webIP, { localAddress: usClient });
    expect(next.status).toBe(200);
    expect(next.ms).toBeGreaterThanOrEqual(ASIA_US_MS);
  });

  it('resets a delayed connection at once when the pod is killed', async () => {
    createPod(sb, ASIA, 'victim');
    const victimIP = await runningPodIP(sb, ASIA, 'victim');
    sb.faults.setWanLatency('asia-east1', 'us-central1', 3000);
    try {
      const killed = await heldGet(victimIP, usClient, () => sb.faults.killPod(ASIA, 'default', 'victim'));
      expect(killed.status).toBeUndefined();
      expect(killed.error?.code).toMatch(/^(ECONNRESET|EPIPE)$/);
      expect(killed.ms).toBeLessThan(1000);
    } finally {
      sb.faults.resetWanLatency();
    }
  });

  it('is off by default: no delay, and the fault says how to turn it on', async () => {
    const plain = await startSandbox({ kubeconfigPath: join(dir.path, 'plain', 'kubeconfig'), clusters: `${ASIA},${US}`, nodeShape: { nodes: 1 } });
    try {
      createPod(plain, ASIA, 'web');
      const ip = await runningPodIP(plain, ASIA, 'web');
      const page = await timedGet(ip, { localAddress: clientIn(plain, US) });
      expect(page.status).toBe(200);
      expect(page.ms).toBeLessThan(FAST_MS);
      expect(() => plain.faults.setWanLatency('asia-east1', 'us-central1', 20)).toThrow(/start it with --wan-latency|does not emulate WAN latency/);
    } finally {
      await plain.stop();
    }
  });

  it('maps --wan-latency to the option for `meridian sandbox` and `meridian demo`', () => {
    const parse = (args: string[]) => sandboxOptions(addSandboxFlags(new Command()).parse(args, { from: 'user' }).opts() as Parameters<typeof sandboxOptions>[0]);
    expect(parse(['--wan-latency']).wanLatency).toBe(true);
    expect(parse([]).wanLatency).toBeUndefined();
  });
});
