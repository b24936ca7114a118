// What the benches start and measure: CPU pinning, nginx with its one worker, and stopping.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Pins a process (all its threads) to one CPU; nothing without taskset. */
export const pin = (cpu, pid) => hasTaskset && execFileSync('taskset', ['-apc', String(cpu), String(pid)], { stdio: 'ignore' });

/** The bench itself (loaders, origins, samplers) and what it starts sit on CPU 0 unless moved. */
export function pinBenchToCpu0() {
  if (hasTaskset) execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
}

/**
 * nginx from `conf` (its text, written to `dir/nginx.conf`), with `worker_processes 1`: the worker
 * is the one to measure (`cpuPid`). It outlives a SIGKILLed master and would hold the port for
 * the next run, so `track` is given a handle that kills it too, until the master exits.
 */
export async function startNginx(nginxBin, dir, conf, track) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = track(spawn(nginxBin, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' }));
  await new Promise((r) => setTimeout(r, 500));
  const worker = Number(execFileSync('pgrep', ['-P', String(child.pid)]).toString().trim().split('\n')[0]);
  track({
    kill: (signal) => {
      try {
        process.kill(worker, signal);
      } catch {
        // already gone with its master
      }
    },
    once: (event, listener) => child.once(event, listener),
  });
  return { child, cpuPid: worker };
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
export async function stop(proc) {
  if (!proc.child || proc.child.exitCode !== null) return;
  const gone = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/** CPU time of a process and its threads so far (utime + stime), in clock ticks (USER_HZ = 100). */
export function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/**
 * A `track(child)` that has every child it is given killed when the bench exits, also when it
 * fails half-way (a left-over origin or proxy would hold its port and stall the next run).
 */
export function killedOnExit() {
  const started = new Set();
  process.on('exit', () => {
    for (const c of started) c.kill('SIGKILL');
  });
  return (child) => (started.add(child), child.once('exit', () => started.delete(child)), child);
}
