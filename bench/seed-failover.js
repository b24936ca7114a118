// The seed's failover promise end to end: `meridian demo` (sandbox federation, controller, proxy
// on the VIP), the seed's Service, Ingress and ReplicaSet created with real kubectl, then load
// from a client inside gce-asia-east1-b (its pod range) while, phase by phase, its pod dies, its
// zone goes down, its whole region goes down, and a U.S. cluster's API becomes unreachable.
// Reported per phase: requests, failed requests (target 0) and where they were served, before
// and after the fault.
// Run: npm run build && node bench/seed-failover.js [--seconds 6] [--fault-at 2] [--connections 20]
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { askVip, startSeedDemo, waitFor } from './lib/seed-demo.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, 'fault-at': { type: 'string', default: '2' }, connections: { type: 'string', default: '20' } } });
const seconds = Number(values.seconds);
const faultAtMs = Number(values['fault-at']) * 1000;
const connections = Number(values.connections);
const CLIENT = '127.17.0.250'; // inside gce-asia-east1-b (member 1: 127.17.0.0/16)

const seed = await startSeedDemo({ name: 'seed-failover', vipPort: 18080, vipTlsPort: 18443, adminPort: 19911 });
const { kubectl, fault } = seed;
const agent = new Agent({ keepAlive: true, maxSockets: connections });
const get = () => askVip(seed.vip, agent, CLIENT);
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
await seed.stop();
console.log(failures === 0 ? 'no failed requests' : `${failures} failed requests`);
process.exit(failures === 0 ? 0 : 1);
