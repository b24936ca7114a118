// The capacity waterfall end to end: `meridian demo`, the seed's objects created with real
// kubectl, the federated Ingress annotated with meridian.dev/max-rate-per-endpoint, then an
// open-loop load at a fixed rate from a client inside gce-asia-east1-b. Printed: requests per
// second served by each zone once the proxy has learnt the demand — its own cluster first, then
// the rest of its region, and only the excess in the next region (us-central1, before Europe).
// Run: npm run build && node bench/seed-spillover.js [--rate 300] [--max-rate 50] [--seconds 8]
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const { values } = parseArgs({ options: { rate: { type: 'string', default: '300' }, 'max-rate': { type: 'string', default: '50' }, seconds: { type: 'string', default: '8' } } });
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const root = join(new URL('.', import.meta.url).pathname, '..');
const cli = join(root, 'dist', 'cli', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'meridian-seed-spillover-'));
const kubeconfig = join(work, 'kubeconfig');
const VIP = { host: '127.0.0.1', port: 18081 };
const CLIENT = '127.17.0.250'; // inside gce-asia-east1-b

const demo = spawn(process.execPath, [cli, 'demo', '--kubeconfig', kubeconfig, '--vip', `${VIP.host}:${VIP.port}`, '--proxy-admin', '127.0.0.1:19912'], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve, reject) => {
  let out = '';
  demo.stdout.on('data', (d) => {
    out += d;
    if (/^ready$/m.test(out)) resolve();
  });
  demo.once('exit', (code) => reject(new Error(`demo exited with ${code}`)));
});
const kubectl = (...args) => run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(work, 'kube-cache'), '--context=federation-cluster', ...args]);
for (const f of ['examples/services/nginx.yaml', 'examples/ingress/ingress.yaml', 'examples/replicasets/nginx-rs.yaml']) await kubectl('create', '-f', join(root, f));
await kubectl('annotate', 'ingress', 'nginx', `meridian.dev/max-rate-per-endpoint=${values['max-rate']}`);

const agent = new Agent({ keepAlive: true, maxSockets: 50 });
function get() {
  return new Promise((resolve) => {
    const req = request({ ...VIP, path: '/', agent, localAddress: CLIENT }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(res.statusCode === 200 ? (/served from ([\w-]+)/.exec(text)?.[1] ?? '?') : `HTTP ${res.statusCode}`));
    });
    req.on('error', () => resolve('error'));
    req.end();
  });
}
// Wait until the table (with the annotation) has reached the proxy and the pods answer.
const deadline = Date.now() + 30_000;
while ((await get()) !== 'asia-east1-b' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
await new Promise((r) => setTimeout(r, 1500));

const counted = new Map();
const t0 = performance.now();
const measureFrom = Math.max(0, seconds - 3) * 1000;
const pending = [];
let sent = 0;
while (performance.now() - t0 < seconds * 1000) {
  const due = Math.floor(((performance.now() - t0) / 1000) * rate);
  for (; sent < due; sent++) {
    const counts = performance.now() - t0 >= measureFrom;
    pending.push(get().then((zone) => counts && counted.set(zone, (counted.get(zone) ?? 0) + 1)));
  }
  await new Promise((r) => setTimeout(r, 5));
}
await Promise.all(pending);
agent.destroy();
const window = (seconds * 1000 - measureFrom) / 1000;
console.log(`${rate} req/s offered from a pod in gce-asia-east1-b, ${values['max-rate']} req/s per endpoint (1 pod per cluster); per second over the last ${window} s:`);
for (const [zone, n] of [...counted].sort((a, b) => b[1] - a[1])) console.log(`  ${zone.padEnd(16)} ${Math.round(n / window)}`);
demo.kill('SIGINT');
await new Promise((r) => demo.once('exit', r));
process.exit(0);
