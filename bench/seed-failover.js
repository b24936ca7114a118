// The seed's failover promise end to end: `meridian demo` (sandbox federation, controller, proxy
// on the VIP), the seed's Service, Ingress and ReplicaSet created with real kubectl, then load
// from a client inside gce-asia-east1-b (its pod range) while, phase by phase, its pod dies, its
// zone goes down, its whole region goes down, and a U.S. cluster's API becomes unreachable.
// Reported per phase: requests, failed requests (target 0) and where they were served, before
// and after the fault.
// Run: npm run build && node bench/seed-failover.js [--seconds 6] [--fault-at 2] [--connections 20]
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';

const run = promisify(execFile);
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, 'fault-at': { type: 'string', default: '2' }, connections: { type: 'string', default: '20' } } });
const seconds = Number(values.seconds);
const faultAtMs = Number(values['fault-at']) * 1000;
const connections = Number(values.connections);
const root = join(new URL('.', import.meta.url).pathname, '..');
const cli = join(root, 'dist', 'cli', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'meridian-seed-failover-'));
const kubeconfig = join(work, 'kubeconfig');
const VIP = { host: '127.0.0.1', port: 18080 };
const CLIENT = '127.17.0.250'; // inside gce-asia-east1-b (member 1: 127.17.0.0/16)

const demo = spawn(process.execPath, [cli, 'demo', '--kubeconfig', kubeconfig, '--vip', `${VIP.host}:${VIP.port}`, '--proxy-admin', '127.0.0.1:19911'], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve, reject) => {
  let out = '';
  demo.stdout.on('data', (d) => {
    out += d;
    if (/^ready$/m.test(out)) resolve();
  });
  demo.once('exit', (code) => reject(new Error(`demo exited with ${code}`)));
});

const kubectl = (...args) => run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(work, 'kube-cache'), ...args]);
const fault = (...args) => run(process.execPath, [cli, 'sandbox', 'fault', '--kubeconfig', kubeconfig, ...args]);
for (const f of ['examples/services/nginx.yaml', 'examples/ingress/ingress.yaml', 'examples/replicasets/nginx-rs.yaml']) await kubectl('--context=federation-cluster', 'create', '-f', join(root, f));

const agent = new Agent({ keepAlive: true, maxSockets: connections });
function get() {
  return new Promise((resolve) => {
    const req = request({ ...VIP, path: '/', agent, localAddress: CLIENT }, (res) => {
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

async function waitFor(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
await waitFor(async () => (await get()).zone === 'asia-east1-b', 'the seed page from asia-east1-b through the VIP');

/**
 * Load for `seconds`, the fault at `faultAtMs`; counts by zone before the fault command starts,
 * while it runs (the fault takes effect somewhere in there) and after it returned.
 */
async function phase(name, inject) {
  const before = new Map();
  const during = new Map();
  const after = new Map();
  let ok = 0;
  let failed = 0;
  let stage = before;
  const t0 = performance.now();
  const timer = setTimeout(() => {
    stage = during;
    void inject().then(() => (stage = after));
  }, faultAtMs);
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() - t0 < seconds * 1000) {
        const r = await get();
        if (r.status !== 200) {
          failed++;
          continue;
        }
        ok++;
        stage.set(r.zone, (stage.get(r.zone) ?? 0) + 1);
      }
    }),
  );
  clearTimeout(timer);
  const show = (m) => [...m].sort((a, b) => b[1] - a[1]).map(([z, n]) => `${z} ${n}`).join(', ') || '–';
  console.log(`${name.padEnd(34)} requests ${String(ok + failed).padStart(7)}  failed ${failed}\n    before: ${show(before)}\n    while injecting: ${show(during)}\n    after: ${show(after)}`);
  return failed;
}

let failures = 0;
const { stdout: podName } = await kubectl('--context=gce-asia-east1-b', 'get', 'pods', '-o', 'jsonpath={.items[0].metadata.name}');
failures += await phase('its pod is killed', () => fault('kill-pod', 'gce-asia-east1-b', `default/${podName}`));
await waitFor(async () => (await get()).zone === 'asia-east1-b', 'asia-east1-b serving again (the ReplicaSet replaced the pod)');
failures += await phase('its zone goes down', () => fault('--scope', 'zone', 'pods-down', 'asia-east1-b'));
failures += await phase('its whole region goes down', () => fault('--scope', 'region', 'pods-down', 'asia-east1'));
failures += await phase('us-central1-a\'s API unreachable', () => fault('api-refuse', 'gce-us-central1-a'));
failures += await phase('Asia comes back', () => fault('--scope', 'region', 'pods-up', 'asia-east1'));

agent.destroy();
demo.kill('SIGINT');
await new Promise((r) => demo.once('exit', r));
console.log(failures === 0 ? 'no failed requests' : `${failures} failed requests`);
process.exit(failures === 0 ? 0 : 1);
