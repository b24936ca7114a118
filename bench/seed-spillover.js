// The capacity waterfall end to end: `meridian demo`, the seed's objects created with real
// kubectl, the federated Ingress annotated with meridian.dev/max-rate-per-endpoint, then an
// open-loop load at a fixed rate from a client inside gce-asia-east1-b. Printed: requests per
// second served by each zone once the proxy has learnt the demand — its own cluster first, then
// the rest of its region, and only the excess in the next region (us-central1, before Europe).
// Run: npm run build && node bench/seed-spillover.js [--rate 300] [--max-rate 50] [--seconds 8]
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { askVip, startSeedDemo, waitFor } from './lib/seed-demo.js';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '300' }, 'max-rate': { type: 'string', default: '50' }, seconds: { type: 'string', default: '8' } } });
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const CLIENT = '127.17.0.250'; // inside gce-asia-east1-b

const seed = await startSeedDemo({ name: 'seed-spillover', vipPort: 18081, vipTlsPort: 18444, adminPort: 19912 });
await seed.kubectl('--context=federation-cluster', 'annotate', 'ingress', 'nginx', `meridian.dev/max-rate-per-endpoint=${values['max-rate']}`);
const agent = new Agent({ keepAlive: true, maxSockets: 50 });
const get = async () => {
  const r = await askVip(seed.vip, agent, CLIENT);
  return r.status === 200 ? (r.zone ?? '?') : r.status ? `HTTP ${r.status}` : 'error';
};
// Wait until the table (with the annotation) has reached the proxy and the pods answer.
await waitFor(async () => (await get()) === 'asia-east1-b', 'the seed page from asia-east1-b through the VIP');
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
await seed.stop();
process.exit(0);
