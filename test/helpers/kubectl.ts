import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** A kubectl binary bound to one kubeconfig and its own discovery cache. */
export class Kubectl {
  constructor(
    readonly binary: string,
    readonly kubeconfig: string,
    readonly cacheDir: string,
  ) {}

  private args(args: string[]): string[] {
    return ['--kubeconfig', this.kubeconfig, '--cache-dir', this.cacheDir, ...args];
  }

  async run(args: string[], input?: string): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.binary, this.args(args), { env: { ...process.env, KUBECACHEDIR: this.cacheDir } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ stdout, stderr, code: code ?? -1 }));
      if (input !== undefined) child.stdin.end(input);
      else child.stdin.end();
    });
  }

  /** Runs and insists on exit code 0; returns stdout. */
  async ok(args: string[], input?: string): Promise<string> {
    const r = await this.run(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Starts a long-running kubectl (e.g. `get -w`); the caller kills it. */
  spawn(args: string[]): ChildProcessWithoutNullStreams {
    return spawn(this.binary, this.args(args), { env: { ...process.env, KUBECACHEDIR: this.cacheDir } });
  }
}

/** The kubectl on PATH (a dispatcher that runs the bundled kubectl matching the server's minor). */
export function pathKubectl(): string {
  return 'kubectl';
}

const KUBECTL_120_DIR = join(process.cwd(), 'node_modules', '.cache', 'meridian', 'kubectl-1.20');

/**
 * Debian's kubectl 1.20 (package kubernetes-client), unpacked into a folder of its own so the
 * PATH kubectl stays untouched: `apt-get download` + `dpkg -x`, cached under node_modules/.cache.
 */
export async function debianKubectl120(): Promise<string> {
  const binary = join(KUBECTL_120_DIR, 'usr', 'bin', 'kubectl');
  if (existsSync(binary)) return binary;
  const work = await mkdtemp(join(tmpdir(), 'kubectl-120-'));
  try {
    const download = () => run('apt-get', ['download', 'kubernetes-client'], { cwd: work, timeout: 120_000 });
    try {
      await download();
    } catch {
      // Package lists may be missing on a fresh machine.
      await run('apt-get', ['update', '-qq'], { timeout: 300_000 });
      await download();
    }
    const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download kubernetes-client produced no .deb');
    await mkdir(KUBECTL_120_DIR, { recursive: true });
    await run('dpkg', ['-x', join(work, deb), KUBECTL_120_DIR]);
    if (!existsSync(binary)) throw new Error(`kubernetes-client unpacked but ${binary} is missing`);
    return binary;
  } catch (err) {
    throw new Error(`cannot provide Debian's kubectl 1.20 (apt-get download kubernetes-client; needs root and Debian's package lists): ${String(err)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
