import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { CLI } from './proxy-process.js';
import { waitFor } from './wait.js';

/** `meridian demo` as a child process, as `npm start` runs it. */
export interface DemoProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Its stdout and stderr so far. */
  output(): string;
  /** Ctrl-C (SIGINT), as a user stops it, and its exit. */
  stop(): Promise<void>;
}

/**
 * Starts `meridian demo ARGS` and waits until it prints `ready`. A demo that exits first, or is
 * not ready in time, is killed and its output thrown: nothing is left holding ports.
 */
export async function startDemo(args: readonly string[], opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<DemoProcess> {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const demo: DemoProcess = {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    },
  };
  try {
    await waitFor(() => /^ready$/m.test(out) || child.exitCode !== null, { what: 'the demo ready', timeoutMs: opts.timeoutMs ?? 90_000, intervalMs: opts.intervalMs ?? 20 });
    if (child.exitCode !== null) throw new Error(`the demo exited: ${out}`);
  } catch (err) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw err;
  }
  return demo;
}

/** `meridian sandbox fault ARGS` against the sandbox of `kubeconfig`. */
export function sandboxFault(kubeconfig: string, ...args: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, 'sandbox', 'fault', '--kubeconfig', kubeconfig, ...args]);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`fault ${args.join(' ')} exited ${code}`))));
  });
}
