import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const CLI = join(process.cwd(), 'dist', 'cli', 'main.js');

function portOpen(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = createConnection({ host: hostname, port: Number(port) });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('meridian sandbox (the command)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let child: ChildProcessWithoutNullStreams;
  let out = '';
  let kubeconfig: string;

  beforeAll(async () => {
    dir = await tempDir();
    kubeconfig = join(dir.path, 'kubeconfig');
    child = spawn(process.execPath, [CLI, 'sandbox', '--kubeconfig', kubeconfig, '--clusters', 'gce-asia-east1-a,gce-us-central1-b'], {
      env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' },
    });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('ready\n'), { what: '"ready"', timeoutMs: 20_000 });
  });

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await dir?.remove();
  });

  it('serves kubectl through the kubeconfig it wrote, one context per cluster', async () => {
    const k = new Kubectl(pathKubectl(), kubeconfig, join(dir.path, 'cache'));
    expect((await k.ok(['config', 'get-contexts', '-o', 'name'])).trim().split('\n').sort()).toEqual(['federation-cluster', 'gce-asia-east1-a', 'gce-us-central1-b']);
    expect(await k.ok(['--context', 'gce-asia-east1-a', 'get', 'nodes'])).toMatch(/^gce-asia-east1-a-node-1\s+Ready/m);
    expect(await k.ok(['--context', 'federation-cluster', 'get', 'clusters', '-o', 'name'])).toBe(
      'cluster.federation.meridian.dev/gce-asia-east1-a\ncluster.federation.meridian.dev/gce-us-central1-b\n',
    );
  });

  it('takes faults from `meridian sandbox fault`, with clear errors', async () => {
    const state = JSON.parse(await readFile(`${kubeconfig}.sandbox.json`, 'utf8')) as { members: { name: string; url: string }[] };
    const asia = state.members.find((m) => m.name === 'gce-asia-east1-a')!;
    const down = await run(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'api-refuse', 'gce-asia-east1-a']);
    expect(down.code, down.stderr).toBe(0);
    expect(await portOpen(asia.url)).toBe(false);
    expect((await run(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'api-up', 'gce-asia-east1-a'])).code).toBe(0);
    expect(await portOpen(asia.url)).toBe(true);
    const bad = await run(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'api-refuse', 'nowhere']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('E_SANDBOX_NO_SUCH_CLUSTER: no member cluster named "nowhere"');
  });

  it('forbids and allows again the list of one resource in a member, as RBAC would, with `list-forbid`/`list-allow`', async () => {
    const k = new Kubectl(pathKubectl(), kubeconfig, join(dir.path, 'cache'));
    const listConfigMaps = () => k.run(['--context', 'gce-asia-east1-a', 'get', 'configmaps', '--all-namespaces']);
    const forbid = await run(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'list-forbid', 'gce-asia-east1-a', 'configmaps']);
    expect(forbid.code, forbid.stderr).toBe(0);
    const refused = await listConfigMaps();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Error from server \(Forbidden\): configmaps is forbidden: User "[^"]+" cannot list resource "configmaps" in API group "" at the cluster scope/);
    // Only that resource, only in that member.
    expect((await k.run(['--context', 'gce-asia-east1-a', 'get', 'secrets', '--all-namespaces'])).code).toBe(0);
    expect((await k.run(['--context', 'gce-us-central1-b', 'get', 'configmaps', '--all-namespaces'])).code).toBe(0);
    expect((await run(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'list-allow', 'gce-asia-east1-a', 'configmaps'])).code).toBe(0);
    expect((await listConfigMaps()).code).toBe(0);
    const typo = await run(['sandbox', 'fault', '--kubeconfig', kubeconfig, 'list-forbid', 'gce-asia-east1-a', 'configmap']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('E_SANDBOX_NO_SUCH_RESOURCE: cluster gce-asia-east1-a serves no resource "configmap"');
  });

  it('exits cleanly on SIGTERM and releases its ports', async () => {
    const state = JSON.parse(await readFile(`${kubeconfig}.sandbox.json`, 'utf8')) as { controlUrl: string; federation: { url: string }; members: { url: string }[] };
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const url of [state.controlUrl, state.federation.url, ...state.members.map((m) => m.url)]) expect(await portOpen(url)).toBe(false);
  });

  it('rejects a bad --clusters value with a stable code', async () => {
    const r = await run(['sandbox', '--kubeconfig', join(dir.path, 'k2'), '--clusters', 'Bad_Name=r/z']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_SANDBOX_CLUSTERS');
  });
});
