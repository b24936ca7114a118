// Proxy throughput, latency and CPU per request: Meridian (routing, GeoIP and metrics on) against
// baselines measured in the same run — direct to the origin, a bare undici dispatch proxy,
// node http-proxy, fastify + @fastify/reply-from, and nginx (one worker) when installed.
// Like the reference figures: origin + loader on CPU 0, the proxy on CPU 1 (taskset), 50
// connections, keep-alive on both legs, interleaved rounds (each proxy started afresh and warmed
// up in every round), medians.
// Run: npm run build && node bench/proxy.js [--duration 5] [--rounds 3] [--connections 50] [--rate R]
//      [--only meridian,http-proxy] (substrings of the row names; direct and meridian always run)
//      [--compare DIST] (adds a row for another build's dist/ directory, e.g. .bench/before/dist:
//      a copy taken before a change, kept inside the checkout with geoip/ beside it so that its
//      imports and data files resolve).
//        [--loader wrk|autocannon]
// Saturation runs use wrk when installed (apt-get install -y wrk: one C thread, µs latency
// resolution, so the loader takes less of CPU 0), else autocannon. --rate R holds the offered
// load at R requests/s (below saturation: the added-latency figure) with the paced loader below:
// open loop, `connections` keep-alive connections, each request timed in µs from its send.
import { execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { cpuTicks, hasTaskset, killedOnExit, pin, pinBenchToCpu0, startNginx as startNginxWorker, stop } from './lib/processes.js';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '50' }, rate: { type: 'string', default: '0' }, loader: { type: 'string' }, only: { type: 'string' }, compare: { type: 'string' } } });
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const rate = Number(values.rate);
const here = new URL('.', import.meta.url).pathname;
pinBenchToCpu0();
const wrkBin = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p));
const loader = rate > 0 ? 'paced' : (values.loader ?? (wrkBin ? 'wrk' : 'autocannon'));
if (loader === 'wrk' && !wrkBin) throw new Error('--loader wrk: wrk is not installed (apt-get install -y wrk)');
const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const work = mkdtempSync(join(tmpdir(), 'meridian-bench-'));

const track = killedOnExit();

function startNode(script, args) {
  return new Promise((resolve, reject) => {
    const child = track(fork(script, args, { stdio: 'ignore', env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' } }));
    child.once('message', () => resolve(child));
    child.once('error', reject);
  });
}

async function startMeridian(port, originPort, dist = join(here, '..', 'dist')) {
  const config = join(work, `meridian-${port}.yaml`);
  writeFileSync(
    config,
    [
      `listen: [{ host: 127.0.0.1, port: ${port} }]`,
      `admin: { host: 127.0.0.1, port: ${port + 1000} }`,
      'region: us-central1',
      'healthCheck: { intervalMs: 1000 }',
      'table:',
      '  version: bench',
      '  defaultBackend: web',
      '  backends:',
      '    web:',
      '      shards:',
      `        - { cluster: local, region: us-central1, endpoints: [{ address: 127.0.0.1, port: ${originPort} }] }`,
      '        - { cluster: far, region: europe-west1, endpoints: [{ address: 127.0.0.1, port: 9 }], capacityScaler: 0 }',
    ].join('\n'),
  );
  const child = track(spawn(process.execPath, [join(dist, 'cli', 'main.js'), 'proxy', '--config', config], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'ignore'] }));
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`meridian (${dist}) exited with ${code} before listening`)));
  });
  return child;
}

async function startNginx(port, originPort) {
  const dir = join(work, 'nginx');
  return startNginxWorker(nginxBin, dir, `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; upstream o { server 127.0.0.1:${originPort}; keepalive 128; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`, track);
}

/** wrk's duration string ("812.00us", "1.20ms", "2.00s") in milliseconds. */
function wrkMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) throw new Error(`unexpected wrk latency ${text}`);
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}

function loadWrk(port, seconds) {
  // One loader thread, pinned with this process to CPU 0 (the child inherits the affinity).
  const out = execFileSync(wrkBin, ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`]).toString();
  const pct = (p) => wrkMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)[1]);
  const total = Number(/(\d+) requests in/.exec(out)[1]);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    requests: { average: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]), total },
    latency: { p50: pct(50), p99: pct(99) },
    errors: socketErrors ? socketErrors.slice(1).reduce((n, x) => n + Number(x), 0) : 0,
    non2xx,
  };
}

/**
 * Open-loop load at `rate` requests/s: requests are sent on schedule whether or not earlier ones
 * have answered (so a slow proxy cannot slow the loader down and hide its latency), each timed
 * from its send to its last body byte.
 */
function loadPaced(port, seconds) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections });
  const histogram = createHistogram();
  const total = Math.round(rate * seconds);
  const intervalMs = 1000 / rate;
  let sent = 0;
  let done = 0;
  let errors = 0;
  let non2xx = 0;
  return new Promise((resolve) => {
    const start = performance.now();
    const finish = () => {
      void pool.close();
      resolve({ requests: { average: total / ((performance.now() - start) / 1000), total }, latency: { p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6 }, errors, non2xx });
    };
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
      for (; sent < due; sent++) {
        const t0 = performance.now();
        pool
          .request({ path: '/', method: 'GET' })
          .then(async (r) => {
            await r.body.dump();
            if (r.statusCode !== 200) non2xx++;
          }, () => errors++)
          .finally(() => {
            histogram.record(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
            if (++done === total) finish();
          });
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
}

function load(port, seconds = duration) {
  if (loader === 'wrk') return Promise.resolve(loadWrk(port, seconds));
  if (loader === 'paced') return loadPaced(port, seconds);
  return new Promise((resolve, reject) => {
    autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds, pipelining: 1 }, (err, r) => (err ? reject(err) : resolve(r)));
  });
}

const originPort = 19100;
const origin = await startNode(join(here, 'servers', 'origin.js'), [String(originPort)]);
pin(0, origin.pid);
const targets = [
  { name: 'direct', port: originPort, start: async () => ({ child: null, cpuPid: null }) },
  { name: 'meridian', port: 19101, start: async (p) => startMeridian(p, originPort).then((c) => ({ child: c, cpuPid: c.pid })) },
  ...(values.compare ? [{ name: `meridian@${values.compare}`, port: 19106, start: async (p) => startMeridian(p, originPort, values.compare).then((c) => ({ child: c, cpuPid: c.pid })) }] : []),
  { name: 'bare undici dispatch', port: 19102, start: async (p) => startNode(join(here, 'servers', 'bare-undici.js'), [String(p), String(originPort)]).then((c) => ({ child: c, cpuPid: c.pid })) },
  { name: 'http-proxy', port: 19103, start: async (p) => startNode(join(here, 'servers', 'http-proxy.js'), [String(p), String(originPort)]).then((c) => ({ child: c, cpuPid: c.pid })) },
  { name: 'fastify reply-from', port: 19104, start: async (p) => startNode(join(here, 'servers', 'reply-from.js'), [String(p), String(originPort)]).then((c) => ({ child: c, cpuPid: c.pid })) },
  ...(nginxBin ? [{ name: 'nginx (1 worker)', port: 19105, start: (p) => startNginx(p, originPort) }] : []),
];
const only = values.only?.split(',').filter(Boolean);
if (only) targets.splice(0, targets.length, ...targets.filter((t) => t.name === 'direct' || t.name === 'meridian' || only.some((o) => t.name.includes(o))));
if (!nginxBin) console.log('note: nginx is not installed (apt-get install -y nginx); its row is skipped');

// Every round starts each proxy afresh, warms it up, measures it and stops it. A process's speed
// depends on the instance, not only on its code (memory layout, most likely): two processes of
// the same proxy, kept for all rounds, differed by 7–11% here, which medians over the rounds of
// those same two processes cannot remove.
const warmup = Math.min(2, duration);
const running = targets.map((t) => ({ ...t, results: [] }));
for (let round = 0; round < rounds; round++) {
  // Each round starts one row later: a row's place in the round is not the same every time, so
  // a drift within rounds (the VM's, or the loader's) does not favour fixed rows.
  for (let i = 0; i < running.length; i++) {
    const t = running[(i + round) % running.length];
    const proc = await t.start(t.port);
    if (proc.cpuPid) pin(1, proc.cpuPid);
    await load(t.port, warmup).catch(() => {});
    const before = proc.cpuPid ? cpuTicks(proc.cpuPid) : 0;
    const r = await load(t.port);
    const ticks = proc.cpuPid ? cpuTicks(proc.cpuPid) - before : 0;
    await stop(proc);
    t.results.push({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, usPerReq: proc.cpuPid ? (ticks * 10_000) / r.requests.total : null });
  }
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = running.map((t) => ({
  name: t.name,
  rps: Math.round(median(t.results.map((r) => r.rps))),
  p50: median(t.results.map((r) => r.p50)),
  p99: median(t.results.map((r) => r.p99)),
  usPerReq: t.results[0].usPerReq === null ? null : +median(t.results.map((r) => r.usPerReq)).toFixed(1),
  errors: t.results.reduce((n, r) => n + r.errors, 0),
}));
const meridian = rows.find((r) => r.name === 'meridian');
const direct = rows.find((r) => r.name === 'direct');
console.log(`\n${'proxy'.padEnd(22)} ${'rps'.padStart(8)} ${'×direct'.padStart(8)} ${'meridian×'.padStart(10)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'µs/req'.padStart(7)} errors`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(22)} ${String(r.rps).padStart(8)} ${(r.rps / direct.rps).toFixed(2).padStart(8)} ${(meridian.rps / r.rps).toFixed(2).padStart(10)} ${String(+r.p50.toFixed(2)).padStart(7)} ${String(+r.p99.toFixed(2)).padStart(7)} ${String(r.usPerReq ?? '–').padStart(7)} ${r.errors}`,
  );
}
console.log(`\nadded latency p50 vs direct: ${+(meridian.p50 - direct.p50).toFixed(2)} ms, p99: ${+(meridian.p99 - direct.p99).toFixed(2)} ms (loader ${loader}, ${rate > 0 ? `at ${rate} req/s offered` : `at saturation with ${connections} connections`})`);
mkdirSync(join(here, 'results'), { recursive: true });
const file = join(here, 'results', `proxy-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ loader, duration, warmup, rounds, connections, rate, pinned: hasTaskset, freshProcessPerRound: true, rows }, null, 2));
console.log(`results: ${file}`);
origin.kill('SIGTERM');
process.exit(0);
