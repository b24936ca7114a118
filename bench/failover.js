// Failover under load (DESIGN.md §6): a Meridian proxy with its default health settings fronts
// three clusters of real HTTP backends — two in the proxy's region, one in Asia — while
// autocannon drives it; part-way through, every endpoint of one cluster dies (listening sockets
// closed, open connections reset). Reported: failed requests (target 0), and how long after the
// kill the proxy still sent requests to the dead cluster (target ≤ 2 s), read from its
// upstream-error counter for that cluster, sampled every 20 ms.
// Run: npm run build && node bench/failover.js [--duration 10] [--kill-at 3] [--connections 50]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, 'kill-at': { type: 'string', default: '3' }, connections: { type: 'string', default: '50' } } });
const duration = Number(values.duration);
const killAtMs = Number(values['kill-at']) * 1000;
const connections = Number(values.connections);
const here = new URL('.', import.meta.url).pathname;

const body = Buffer.alloc(200, 'x');
async function endpoint(host) {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, host, r));
  return { server, host, port: server.address().port };
}

const clusters = {
  'us-a': { region: 'us-central1', endpoints: await Promise.all(['127.70.1.1', '127.70.1.2'].map(endpoint)) },
  'us-b': { region: 'us-central1', endpoints: await Promise.all(['127.70.2.1', '127.70.2.2'].map(endpoint)) },
  'asia-a': { region: 'asia-east1', endpoints: await Promise.all(['127.70.3.1', '127.70.3.2'].map(endpoint)) },
};
const victim = 'us-a';

const work = mkdtempSync(join(tmpdir(), 'meridian-failover-'));
const config = join(work, 'proxy.yaml');
const shards = Object.entries(clusters).map(([cluster, c]) => `        - { cluster: ${cluster}, region: ${c.region}, endpoints: [${c.endpoints.map((e) => `{ address: ${e.host}, port: ${e.port} }`).join(', ')}] }`);
writeFileSync(config, ['listen: [{ host: 127.0.0.1, port: 19301 }]', 'admin: { host: 127.0.0.1, port: 19302 }', 'region: us-central1', 'table:', '  version: failover', '  defaultBackend: web', '  backends:', '    web:', '      shards:', ...shards, ''].join('\n'));
const proxy = spawn(process.execPath, [join(here, '..', 'dist', 'cli', 'main.js'), 'proxy', '--config', config], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve) => proxy.stdout.once('data', resolve));

async function scrape() {
  const text = await (await fetch('http://127.0.0.1:19302/metrics')).text();
  const sum = (re) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    victimErrors: sum(new RegExp(`^meridian_proxy_upstream_errors_total\\{cluster="${victim}"[^}]*\\} (\\S+)$`, 'gm')),
    retries: sum(/^meridian_proxy_retries_total (\S+)$/gm),
    victimKinds: Object.fromEntries([...text.matchAll(new RegExp(`^meridian_proxy_upstream_errors_total\\{cluster="${victim}",kind="([^"]+)"\\} (\\S+)$`, 'gm'))].map((m) => [m[1], Number(m[2])])),
    served: Object.fromEntries(Object.keys(clusters).map((c) => [c, sum(new RegExp(`^meridian_proxy_requests_total\\{[^}]*cluster="${c}"[^}]*code="200"\\} (\\S+)$`, 'gm'))])),
  };
}

// Warm the proxy's pools and JIT before the measured run.
await new Promise((resolve, reject) => autocannon({ url: 'http://127.0.0.1:19301/', connections, duration: 2 }, (err, r) => (err ? reject(err) : resolve(r))));

let killedAt = 0;
let lastVictimError = { at: 0, value: 0 };
let sampling = true;
const sampler = (async () => {
  while (sampling) {
    const s = await scrape().catch(() => undefined);
    if (s && s.victimErrors > lastVictimError.value) lastVictimError = { at: performance.now(), value: s.victimErrors };
    await new Promise((r) => setTimeout(r, 20));
  }
})();
const before = await scrape();
const run = new Promise((resolve, reject) => autocannon({ url: 'http://127.0.0.1:19301/', connections, duration }, (err, r) => (err ? reject(err) : resolve(r))));
setTimeout(() => {
  killedAt = performance.now();
  for (const e of clusters[victim].endpoints) {
    e.server.close();
    e.server.closeAllConnections();
  }
}, killAtMs);
const result = await run;
sampling = false;
await sampler;
const after = await scrape();

const failed = result.errors + result.non2xx;
const stoppedAfterMs = lastVictimError.at > killedAt ? Math.round(lastVictimError.at - killedAt) : 0;
console.log(`requests: ${result.requests.total} in ${duration} s (${Math.round(result.requests.average)}/s), ${connections} connections; ${victim} killed at ${killAtMs / 1000} s`);
console.log(`failed requests: ${failed} (errors ${result.errors}, non-2xx ${result.non2xx})   target 0`);
console.log(`requests still sent to ${victim} until: ${stoppedAfterMs} ms after the kill (${after.victimErrors - before.victimErrors} upstream errors there, ${after.retries - before.retries} retried on another shard)   target ≤ 2000 ms`);
console.log(`upstream errors at ${victim} by kind: ${Object.entries(after.victimKinds).map(([k, n]) => `${k} ${n - (before.victimKinds[k] ?? 0)}`).join(', ')}`);
console.log(`served per cluster during the run: ${Object.entries(after.served).map(([c, n]) => `${c} ${n - before.served[c]}`).join(', ')}`);
proxy.kill('SIGTERM');
for (const c of Object.values(clusters)) for (const e of c.endpoints) e.server.close();
process.exit(failed === 0 ? 0 : 1);
