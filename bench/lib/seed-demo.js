// Shared by the seed benches: `meridian demo` in a child process on its own kubeconfig and VIP,
// the seed's Service, Ingress and ReplicaSet created with real kubectl, and a client that asks
// the VIP from a pod address and reports which zone served it.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const root = join(new URL('.', import.meta.url).pathname, '..', '..');
const cli = join(root, 'dist', 'cli', 'main.js');

/** Starts the demo and creates the seed's objects; resolves once `ready` and the objects exist. */
export async function startSeedDemo({ name, vipPort, vipTlsPort, adminPort }) {
  const work = mkdtempSync(join(tmpdir(), `meridian-${name}-`));
  const kubeconfig = join(work, 'kubeconfig');
  const vip = { host: '127.0.0.1', port: vipPort };
  // --empty: the benches create the seed's objects with kubectl themselves, as the blog post does.
  const demo = spawn(process.execPath, [cli, 'demo', '--empty', '--kubeconfig', kubeconfig, '--vip', `${vip.host}:${vip.port}`, '--vip-tls', `${vip.host}:${vipTlsPort}`, '--proxy-admin', `127.0.0.1:${adminPort}`, '--controller-metrics', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let out = '';
    demo.stdout.on('data', (d) => {
      out += d;
      if (/^ready$/m.test(out)) resolve();
    });
    demo.once('exit', (code) => reject(new Error(`demo exited with ${code}`)));
  });
  const kubectl = (...args) => run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(work, 'kube-cache'), ...args]);
  for (const f of ['examples/services/nginx.yaml', 'examples/ingress/ingress.yaml', 'examples/replicasets/nginx-rs.yaml']) await kubectl('--context=federation-cluster', 'create', '-f', join(root, f));
  return {
    vip,
    kubectl,
    fault: (...args) => run(process.execPath, [cli, 'sandbox', 'fault', '--kubeconfig', kubeconfig, ...args]),
    async stop() {
      demo.kill('SIGINT');
      await new Promise((r) => demo.once('exit', r));
    },
  };
}

/** One GET of the VIP from `localAddress`; resolves with the zone that served it, or what went wrong. */
export function askVip(vip, agent, localAddress) {
  return new Promise((resolve) => {
    const req = request({ ...vip, path: '/', agent, localAddress }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, zone: /served from ([\w-]+)/.exec(text)?.[1] }));
      res.on('error', () => resolve({ status: 0 }));
    });
    req.on('error', () => resolve({ status: 0 }));
    req.end();
  });
}

export async function waitFor(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
