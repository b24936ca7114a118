// The proxy fleet (proxies sharing health, load and the routing table through Redis): what
// membership costs, and what the fleet does when a region or Redis dies under load. One run, four
// parts (--only picks some):
//
//   cpu           CPU per request of one proxy in fleet mode (`store: { redis, fleet }`, the same
//                 static table, so it runs the fleet sync: heartbeats, votes, load reports; N-1 more
//                 members idle, so the fleet has N) against the same proxy standalone (no store).
//                 Target: fleet within 5 % of standalone. As bench/proxy.js: the same origin
//                 (200-byte page, keep-alive), the measured proxy alone on CPU 1 (taskset), origin,
//                 loader, Redis and the idle members on CPU 0; wrk -t1 -c50 (autocannon without
//                 wrk); rounds interleaved A B B A …, every process of a round started afresh and
//                 warmed up 2 s; medians and ranges. CPU = the proxy's utime+stime ÷ requests.
//                 The request path never awaits Redis: the difference is the background sync, so
//                 each round also measures the proxy's CPU per second over 2 s without requests
//                 (the sync's cost by itself). Rounds of the same variant differ by up to ~10 % on
//                 a noisy VM: 3 rounds cannot resolve 5 % every time; --rounds 7 narrows it.
//   redis-ops     Redis commands and bytes per proxy per second, the N-proxy fleet under load
//                 (INFO stats/commandstats before and after a window), by command.
//   region        N proxies (region us-central1) following a table published into Redis as the
//                 controller publishes it: us-central1 two clusters × 2 endpoints, europe-west1 one.
//                 open-loop load on every proxy (10 keep-alive connections, --rate req/s each, sent
//                 evenly: autocannon's overallRate sends each second's quota in one burst, which
//                 would blur "the last request to the dead region" to a second); at --kill-at s
//                 every us-central1 endpoint dies (listeners closed, sockets destroyed). Failed
//                 requests (non-2xx + errors; target 0) and time from the kill until every proxy
//                 stopped sending there (the last rise of its upstream-error counter for the dead
//                 clusters, /metrics sampled every 20 ms; target ≤ 2 s), and until every proxy's
//                 /debug/table shows every dead endpoint unhealthy.
//   redis-outage  The same fleet; redis-server SIGKILLed at --kill-at s, back empty on the same
//                 port --outage s later (longer than store.staleAfterMs, 3 s). Failed requests
//                 (target 0) and time from Redis answering again until every proxy shows
//                 meridian_store_up 1 and meridian_fleet_proxies N and the members set holds N ids
//                 (target ≤ 2 s).
//
// Every process is this bench's own (its redis-server on a free port, never 6379; proxies and
// origin on free ports), killed by PID on exit and on failure.
// Run: npm run build && node bench/fleet.js [--proxies 3] [--duration 5] [--rounds 3]
//        [--only cpu,redis-ops,region,redis-outage] [--rate 300] [--kill-at 3] [--outage 5]
//        [--connections 50] [--loader wrk|autocannon] [--json]
//      --duration: measured seconds per cpu round and of the redis-ops window; --rate: req/s offered
//      to each proxy in redis-ops, region and redis-outage; --json: the report as JSON on stdout
//      (progress on stderr either way); --logs DIR: each proxy's log (level info in the fault
//      parts) written to DIR/<proxy id>.log when it stops.
import { execFileSync, fork, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createConnection, createServer as createNetServer } from 'node:net';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { RedisStore } from '../dist/state/redis-store.js';
import { parseRedisUrl } from '../dist/state/redis-target.js';
import { hasTaskset, pin, pinBenchToCpu0 } from './lib/processes.js';

const PARTS = ['cpu', 'redis-ops', 'region', 'redis-outage'];
const { values } = parseArgs({
  options: {
    proxies: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    rate: { type: 'string', default: '300' },
    'kill-at': { type: 'string', default: '3' },
    outage: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    loader: { type: 'string' },
    json: { type: 'boolean', default: false },
    logs: { type: 'string' },
  },
});
const proxies = Number(values.proxies);
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const rate = Number(values.rate);
const killAtMs = Number(values['kill-at']) * 1000;
const outageMs = Number(values.outage) * 1000;
const connections = Number(values.connections);
const only = values.only ? values.only.split(',').filter(Boolean) : PARTS;
for (const p of only) if (!PARTS.includes(p)) throw new Error(`--only: unknown part "${p}" (parts: ${PARTS.join(', ')})`);
if (!(proxies >= 2)) throw new Error('--proxies: at least 2 (a fleet)');
const FAULT_CONNECTIONS = 10; // per proxy, in redis-ops, region and redis-outage
const FLEET = 'bench';

const here = new URL('.', import.meta.url).pathname;
const cli = join(here, '..', 'dist', 'cli', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'meridian-fleet-bench-'));
/** Progress goes to stderr; the report to stdout (JSON with --json). */
const log = (line) => process.stderr.write(`${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- processes: everything started is tracked and killed by PID on exit, also on failure ------

const started = new Set();
const endpointServers = new Set();
function cleanup() {
  for (const c of started) c.kill('SIGKILL');
  for (const s of endpointServers) s.closeAllConnections();
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
const track = (child) => (started.add(child), child.once('exit', () => started.delete(child)), child);

pinBenchToCpu0();
const wrkBin = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((p) => existsSync(p));
const loader = values.loader ?? (wrkBin ? 'wrk' : 'autocannon');
if (loader === 'wrk' && !wrkBin) throw new Error('--loader wrk: wrk is not installed (apt-get install -y wrk)');
const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in µs. */
function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / clockTicks;
}

/**
 * Time on CPU of a process's threads, in µs, from the scheduler's nanosecond counters
 * (/proc/PID/task/TID/schedstat): for short windows, where /proc/PID/stat's 10 ms ticks are too
 * coarse. Threads that ended in between are not counted.
 */
function cpuMicrosFine(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended
    }
  }
  return ns / 1000;
}

/** A free loopback port (bound right after). */
async function freePort() {
  const s = createNetServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function waitFor(check, what, timeoutMs = 15_000, intervalMs = 50) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---- redis-server --------------------------------------------------------------------------------

function ping(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok) => (socket.destroy(), resolve(ok));
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.write('PING\r\n');
  });
}

/** This bench's redis-server: nothing on disk, so a restart comes back empty; on CPU 0. */
class BenchRedis {
  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    // The bench's own connection (INFO, SCARD, FLUSHALL): fails at once while Redis is down,
    // reconnects within 50 ms of its return.
    this.client = undefined;
  }

  async start() {
    this.proc = track(spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', work], { stdio: 'ignore' }));
    pin(0, this.proc.pid);
    await waitFor(() => ping(this.port), `redis-server on ${this.port}`, 10_000, 5);
    this.answeredAt = performance.now();
    if (!this.client) {
      this.client = new Redis({ port: this.port, host: '127.0.0.1', enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50, lazyConnect: true });
      this.client.on('error', () => {}); // refused while Redis is down: expected
    }
    if (this.client.status === 'wait') await this.client.connect();
    await waitFor(async () => this.client.status === 'ready', 'the bench\'s Redis connection', 5_000, 5);
  }

  /** SIGKILL, like a crash; resolves once the process is gone. */
  async kill() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await gone;
  }

  async stop() {
    this.client?.disconnect();
    await this.kill();
  }
}

// ---- proxies ------------------------------------------------------------------------------------

/** `meridian proxy` with `config` (plus listen/admin on free ports); resolves once it listens. */
async function startProxy(id, config, logLevel = 'silent') {
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(work, `${id}.yaml`);
  // JSON is YAML.
  writeFileSync(file, JSON.stringify({ listen: [{ host: '127.0.0.1', port }], admin: { host: '127.0.0.1', port: adminPort }, ...config }));
  const child = track(spawn(process.execPath, [cli, 'proxy', '--config', file], { env: { ...process.env, MERIDIAN_LOG_LEVEL: logLevel }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let logs = '';
  child.stderr.on('data', (d) => {
    if (logs.length < 1_000_000) logs += d;
  });
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('listening')) resolve();
    });
    child.once('exit', (code, signal) => reject(new Error(`proxy ${id} exited (${code ?? signal}) before listening: ${logs.slice(-2000)}`)));
  });
  const admin = `http://127.0.0.1:${adminPort}`;
  return {
    id,
    port,
    pid: child.pid,
    url: `http://127.0.0.1:${port}`,
    logs: () => logs,
    metrics: async () => (await fetch(`${admin}/metrics`)).text(),
    debug: async () => (await fetch(`${admin}/debug/table`)).json(),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await gone;
        clearTimeout(timer);
      }
      if (values.logs) writeFileSync(join(values.logs, `${id}.log`), logs);
    },
  };
}

/** A metric sample without labels. */
const metric = (text, name) => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};
const sumOf = (text, re) => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);

/** Every proxy a member of an N-proxy fleet, in sync through the store. */
async function inSync(ps, n = ps.length) {
  const texts = await Promise.all(ps.map((p) => p.metrics()));
  return texts.every((t) => metric(t, 'meridian_store_up') === 1 && metric(t, 'meridian_fleet_proxies') === n);
}

// ---- load -----------------------------------------------------------------------------------------

function loadWrk(port, seconds) {
  return new Promise((resolve, reject) => {
    // One loader thread; it inherits this process's CPU 0.
    const child = track(spawn(wrkBin, ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('exit', (code) => {
      const total = /(\d+) requests in/.exec(out);
      if (code !== 0 || !total) return reject(new Error(`wrk exited with ${code}: ${out}`));
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({
        total: Number(total[1]),
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
        failed: (socketErrors ? socketErrors.slice(1).reduce((n, x) => n + Number(x), 0) : 0) + Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
      });
    });
  });
}

function cannon(opts) {
  return new Promise((resolve, reject) => autocannon({ pipelining: 1, ...opts }, (err, r) => (err ? reject(err) : resolve(r))));
}

async function saturate(port, seconds) {
  if (loader === 'wrk') return loadWrk(port, seconds);
  const r = await cannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds });
  return { total: r.requests.total, rps: r.requests.average, failed: r.errors + r.non2xx };
}

/**
 * Open-loop load on one proxy: `rate` requests/s sent evenly (one every 1/rate s, whether or not
 * earlier ones have answered) over `FAULT_CONNECTIONS` keep-alive connections. Not autocannon's
 * overallRate: that sends each second's quota in a burst at the start of the second and then
 * nothing, so "the last request sent to the dead region" would only be known to within a second.
 * Same result shape as autocannon's where the bench reads it, plus when the failures happened.
 */
function pacedLoad(url, seconds) {
  const pool = new Pool(url, { connections: FAULT_CONNECTIONS });
  const histogram = createHistogram();
  const total = Math.round(rate * seconds);
  const intervalMs = 1000 / rate;
  const failedAt = [];
  /** [sent at, ms] of the requests slower than 50 ms. */
  const slow = [];
  let sent = 0;
  let done = 0;
  let errors = 0;
  let non2xx = 0;
  return new Promise((resolve) => {
    const start = performance.now();
    const finish = () => {
      void pool.close();
      const ms = (ns) => round(ns / 1e6, 2);
      resolve({ requests: { total, average: total / ((performance.now() - start) / 1000) }, errors, non2xx, latency: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) }, failedAt, slow });
    };
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
      for (; sent < due; sent++) {
        const t0 = performance.now();
        pool
          .request({ path: '/', method: 'GET' })
          .then(
            async (r) => {
              await r.body.dump();
              if (r.statusCode >= 200 && r.statusCode < 300) return;
              non2xx++;
              failedAt.push(t0);
            },
            () => {
              errors++;
              failedAt.push(t0);
            },
          )
          .finally(() => {
            const took = performance.now() - t0;
            if (took > 50) slow.push([t0, took]);
            histogram.record(Math.max(1, Math.round(took * 1e6)));
            if (++done === total) finish();
          });
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
}

/** Paced load on every proxy at once, `rate` req/s each. */
function paced(ps, seconds) {
  return Promise.all(ps.map((p) => pacedLoad(p.url, seconds)));
}

/** Requests slower than 50 ms: how many, and when they were sent (ms after the kill, first and last). */
function slowSummary(results, killedAt) {
  const all = results.flatMap((r) => r.slow).sort((a, b) => a[0] - b[0]);
  return all.length ? { count: all.length, sentFromMs: Math.round(all[0][0] - killedAt), sentToMs: Math.round(all.at(-1)[0] - killedAt), worstMs: Math.round(Math.max(...all.map((x) => x[1]))) } : { count: 0 };
}

/** The worst proxy's latency figures (each the highest over the proxies). */
const worstLatency = (results) => ({ p50: Math.max(...results.map((r) => r.latency.p50)), p99: Math.max(...results.map((r) => r.latency.p99)), max: Math.max(...results.map((r) => r.latency.max)) });
const failedOf = (results) => results.reduce((n, r) => n + r.errors + r.non2xx, 0);

// ---- statistics -----------------------------------------------------------------------------------

const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const range = (xs) => [Math.min(...xs), Math.max(...xs)];
const round = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? x : Number(x.toFixed(digits)));

// ---- 1. CPU per request, fleet member vs standalone ---------------------------------------------

async function cpuPart(redis) {
  pin(0, process.pid); // wrk and the origin inherit it
  const originPort = await freePort();
  const origin = track(fork(join(here, 'servers', 'origin.js'), [String(originPort)], { stdio: 'ignore' }));
  await new Promise((resolve, reject) => (origin.once('message', resolve), origin.once('exit', () => reject(new Error('origin exited')))));
  pin(0, origin.pid);
  // bench/proxy.js's table: the origin in the proxy's region, a far shard that takes nothing.
  const table = {
    version: 'bench',
    defaultBackend: 'web',
    backends: {
      web: {
        shards: [
          { cluster: 'local', region: 'us-central1', endpoints: [{ address: '127.0.0.1', port: originPort }] },
          { cluster: 'far', region: 'europe-west1', endpoints: [{ address: '127.0.0.1', port: 9 }], capacityScaler: 0 },
        ],
      },
    },
  };
  const base = { region: 'us-central1', healthCheck: { intervalMs: 1000 }, table };
  const variants = {
    standalone: async () => ({ measured: await startProxy('standalone', base), idle: [] }),
    fleet: async () => {
      await redis.client.flushall();
      const ids = Array.from({ length: proxies }, (_, i) => `cpu-${i + 1}`);
      const ps = await Promise.all(ids.map((id) => startProxy(id, { ...base, store: { redis: redis.url, fleet: FLEET, proxyId: id } })));
      await waitFor(() => inSync(ps), `${proxies} proxies in sync`);
      return { measured: ps[0], idle: ps.slice(1) };
    },
  };
  const results = { standalone: [], fleet: [] };
  for (let r = 0; r < rounds; r++) {
    // A B, B A, A B …: neither variant always goes first in a round.
    for (const name of r % 2 ? ['fleet', 'standalone'] : ['standalone', 'fleet']) {
      const { measured, idle } = await variants[name]();
      try {
        pin(1, measured.pid);
        await saturate(measured.port, 2).catch(() => {});
        const t0 = performance.now();
        const before = cpuMicros(measured.pid);
        const idleBefore = idle.map((p) => cpuMicrosFine(p.pid));
        const load = await saturate(measured.port, duration);
        const us = cpuMicros(measured.pid) - before;
        const seconds = (performance.now() - t0) / 1000;
        const idleMsPerS = idle.map((p, i) => (cpuMicrosFine(p.pid) - idleBefore[i]) / 1000 / seconds);
        // Then 2 s without requests: what the proxy costs by itself (timers, probes, and in fleet
        // mode the sync), per second — the part of the difference that does not grow with load.
        await sleep(500);
        const quietFrom = performance.now();
        const quietBefore = cpuMicrosFine(measured.pid);
        await sleep(2000);
        const quietMsPerS = (cpuMicrosFine(measured.pid) - quietBefore) / (performance.now() - quietFrom);
        const row = { usPerReq: us / load.total, rps: load.rps, requests: load.total, failed: load.failed, quietCpuMsPerS: quietMsPerS, ...(idle.length ? { idleMemberCpuMsPerS: median(idleMsPerS) } : {}) };
        if (name === 'fleet') row.inSyncAfter = await inSync([measured, ...idle]).catch(() => false);
        results[name].push(row);
        log(`  cpu round ${r + 1}/${rounds} ${name.padEnd(10)} ${round(row.usPerReq, 2)} µs/req, ${Math.round(row.rps)} req/s, ${row.failed} failed, ${round(row.quietCpuMsPerS, 2)} ms CPU/s without load${idle.length ? `, idle members ${round(row.idleMemberCpuMsPerS, 2)} ms CPU/s` : ''}`);
      } finally {
        await Promise.all([measured, ...idle].map((p) => p.stop()));
      }
    }
  }
  origin.kill('SIGTERM');
  const summary = (rows) => ({
    usPerReq: round(median(rows.map((x) => x.usPerReq)), 2),
    usPerReqRange: range(rows.map((x) => x.usPerReq)).map((x) => round(x, 2)),
    rps: Math.round(median(rows.map((x) => x.rps))),
    rpsRange: range(rows.map((x) => x.rps)).map(Math.round),
    failed: rows.reduce((n, x) => n + x.failed, 0),
    quietCpuMsPerS: round(median(rows.map((x) => x.quietCpuMsPerS)), 2),
    quietCpuMsPerSRange: range(rows.map((x) => x.quietCpuMsPerS)).map((x) => round(x, 2)),
  });
  const standalone = summary(results.standalone);
  const fleet = { ...summary(results.fleet), idleMemberCpuMsPerS: round(median(results.fleet.map((x) => x.idleMemberCpuMsPerS)), 2), inSyncAfterEveryRound: results.fleet.every((x) => x.inSyncAfter) };
  const ratios = results.fleet.map((f, i) => f.usPerReq / results.standalone[i].usPerReq);
  const ratio = median(results.fleet.map((x) => x.usPerReq)) / median(results.standalone.map((x) => x.usPerReq));
  return { loader, connections, duration, rounds, pinned: hasTaskset, standalone, fleet, ratio: round(ratio, 3), ratioPerRoundRange: range(ratios).map((x) => round(x, 3)), target: 1.05, met: ratio <= 1.05, perRound: results };
}

// ---- the fault fleet: endpoints in two regions, a table published into Redis -------------------

const body = Buffer.alloc(200, 'x');
/** A backend endpoint in this process (probes on /healthz are not counted as served). */
async function endpoint(host, counts, cluster) {
  const server = createServer((req, res) => {
    if (req.url !== '/healthz') counts[cluster] = (counts[cluster] ?? 0) + 1;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  endpointServers.add(server);
  await new Promise((r) => server.listen(0, host, r));
  return {
    server,
    host,
    port: server.address().port,
    address: `${host}:${server.address().port}`,
    /** Dies like a killed process: the listener closes, open connections are reset. */
    kill() {
      server.close();
      server.closeAllConnections();
      endpointServers.delete(server);
    },
  };
}

const TABLE_VERSION = 'bench-v1';

async function startFaultFleet(redis, phase) {
  pin('0,1', process.pid);
  await redis.client.flushall();
  const served = {};
  const clusters = {
    'us-a': { region: 'us-central1', hosts: ['127.71.1.1', '127.71.1.2'] },
    'us-b': { region: 'us-central1', hosts: ['127.71.2.1', '127.71.2.2'] },
    'eu-a': { region: 'europe-west1', hosts: ['127.71.3.1'] },
  };
  for (const [name, c] of Object.entries(clusters)) c.endpoints = await Promise.all(c.hosts.map((h) => endpoint(h, served, name)));
  const table = {
    defaultBackend: 'web',
    backends: {
      web: {
        healthCheckPath: '/healthz',
        shards: Object.entries(clusters).map(([cluster, c]) => ({ cluster, region: c.region, endpoints: c.endpoints.map((e) => ({ address: e.host, port: e.port })) })),
      },
    },
  };
  // Published the way the controller publishes it: a hash of version, body and its sha256, then a
  // notification on the fleet's channel.
  const store = new RedisStore(parseRedisUrl(redis.url), FLEET);
  await store.ready();
  const tableBody = JSON.stringify({ ...table, version: TABLE_VERSION });
  await store.publishTable({ version: TABLE_VERSION, body: tableBody, sha256: createHash('sha256').update(tableBody).digest('hex'), publishedAt: Date.now(), publisher: 'bench' });
  await store.close();
  const ids = Array.from({ length: proxies }, (_, i) => `${phase}-${i + 1}`);
  const ps = await Promise.all(ids.map((id) => startProxy(id, { region: 'us-central1', healthCheck: { intervalMs: 1000 }, store: { redis: redis.url, fleet: FLEET, proxyId: id } }, 'info')));
  // The proxies, the endpoints and the loaders (this process) share both CPUs here (Redis stays on
  // CPU 0). With the three proxies and the 20 ms scrapes of their /metrics on CPU 1 alone, that
  // CPU saturated in bursts (every request 100–250 ms for a while): the bench measuring itself.
  for (const p of ps) pin('0,1', p.pid);
  const all = Object.values(clusters).flatMap((c) => c.endpoints.map((e) => e.address));
  await waitFor(
    async () => {
      if (!(await inSync(ps))) return false;
      const views = await Promise.all(ps.map((p) => p.debug()));
      return views.every((v) => v.version === TABLE_VERSION && all.every((a) => endpointIn(v, a)?.healthy));
    },
    `${proxies} proxies in sync on table ${TABLE_VERSION}, every endpoint healthy`,
  );
  // Each proxy listens on the fleet's channel (votes, ejections, tables travel there between the
  // once-a-second reads): how many subscribers Redis has on it, a second after all are in sync.
  await sleep(1000);
  const [, subscribers] = await redis.client.pubsub('NUMSUB', `meridian:{${FLEET}}:events`);
  if (subscribers !== proxies) log(`  note: ${subscribers} subscriber(s) on the fleet's channel, for ${proxies} proxies`);
  return {
    ps,
    subscribers,
    clusters,
    served,
    async stop() {
      await Promise.all(ps.map((p) => p.stop()));
      for (const c of Object.values(clusters)) for (const e of c.endpoints) e.kill();
    },
  };
}

function endpointIn(view, address) {
  for (const b of view.backends) for (const s of b.shards) for (const e of s.endpoints) if (e.address === address) return e;
  return undefined;
}

/** Calls `sample` every `intervalMs` (from the start of one call to the next) until stopped. */
function every(intervalMs, sample) {
  let on = true;
  const done = (async () => {
    while (on) {
      const t0 = performance.now();
      await sample().catch(() => {});
      const wait = intervalMs - (performance.now() - t0);
      if (wait > 0) await sleep(wait);
    }
  })();
  return async () => {
    on = false;
    await done;
  };
}

/** CPU used from now until the returned function is called, in % of one core: this process, the proxies. */
function cpuWatch(ps) {
  const t0 = performance.now();
  const self0 = process.cpuUsage();
  const proxies0 = ps.map((p) => cpuMicros(p.pid));
  return () => {
    const wallUs = (performance.now() - t0) * 1000;
    const self = process.cpuUsage(self0);
    const pct = (us) => Math.round((100 * us) / wallUs);
    return { benchPct: pct(self.user + self.system), proxyPct: ps.map((p, i) => pct(cpuMicros(p.pid) - proxies0[i])) };
  };
}

// ---- 2. Redis operations per proxy per second ----------------------------------------------------

function parseInfo(text) {
  const fields = {};
  const calls = {};
  const usec = {};
  for (const line of text.split('\r\n')) {
    const cmd = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (cmd) {
      calls[cmd[1]] = Number(cmd[2]);
      usec[cmd[1]] = Number(cmd[3]);
      continue;
    }
    const kv = /^(\w+):([\d.]+)$/.exec(line);
    if (kv) fields[kv[1]] = Number(kv[2]);
  }
  return { fields, calls, usec };
}

/** RESP bytes of a command as sent. */
const respLength = (args) => Buffer.byteLength(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);

async function redisOpsPart(redis) {
  const fleet = await startFaultFleet(redis, 'ops');
  try {
    await paced(fleet.ps, 2);
    const load = paced(fleet.ps, duration + 2);
    await sleep(1000);
    const INFO = ['info', 'stats', 'commandstats', 'cpu'];
    const beforeText = await redis.client.info('stats', 'commandstats', 'cpu');
    const t0 = performance.now();
    await sleep(duration * 1000);
    const afterText = await redis.client.info('stats', 'commandstats', 'cpu');
    const seconds = (performance.now() - t0) / 1000;
    const results = await load;
    const before = parseInfo(beforeText);
    const after = parseInfo(afterText);
    const perProxyPerS = (x) => x / proxies / seconds;
    const byCommand = {};
    let usec = 0;
    for (const [cmd, n] of Object.entries(after.calls)) {
      // One INFO of the window is the bench's own (the first: counted after its reply).
      const calls = n - (before.calls[cmd] ?? 0) - (cmd === 'info' ? 1 : 0);
      if (calls > 0) byCommand[cmd] = round(perProxyPerS(calls), 2);
      if (cmd !== 'info') usec += after.usec[cmd] - (before.usec[cmd] ?? 0);
    }
    // HINCRBY and PEXPIRE run inside the load script (EVALSHA): Redis counts them as commands too.
    const inScript = (byCommand.hincrby ?? 0) + (byCommand.pexpire ?? 0);
    const total = perProxyPerS(after.fields.total_commands_processed - before.fields.total_commands_processed - 1);
    // Less the bench's own bytes: the second INFO's request (read before it answered) and the first one's reply.
    const inBytes = after.fields.total_net_input_bytes - before.fields.total_net_input_bytes - respLength(INFO);
    const outBytes = after.fields.total_net_output_bytes - before.fields.total_net_output_bytes - (Buffer.byteLength(beforeText) + `$${Buffer.byteLength(beforeText)}\r\n\r\n`.length);
    const redisCpu = after.fields.used_cpu_sys + after.fields.used_cpu_user - (before.fields.used_cpu_sys + before.fields.used_cpu_user);
    const keys = await redis.client.dbsize();
    return {
      proxies,
      offeredPerProxy: rate,
      windowS: round(seconds, 2),
      servedPerProxyPerS: Math.round(results.reduce((n, r) => n + r.requests.average, 0) / proxies),
      failed: failedOf(results),
      commandsPerProxyPerS: round(total, 2),
      clientCommandsPerProxyPerS: round(total - inScript, 2),
      bytesInPerProxyPerS: Math.round(perProxyPerS(inBytes)),
      bytesOutPerProxyPerS: Math.round(perProxyPerS(outBytes)),
      byCommand: Object.fromEntries(Object.entries(byCommand).sort((a, b) => b[1] - a[1])),
      redisUsecPerProxyPerS: Math.round(perProxyPerS(usec)),
      redisCpuMsPerS: round((redisCpu * 1000) / seconds, 2),
      keysAtEnd: keys,
      channelSubscribers: fleet.subscribers,
    };
  } finally {
    await fleet.stop();
  }
}

// ---- 3. a region dies under load ----------------------------------------------------------------

async function regionPart(redis) {
  const fleet = await startFaultFleet(redis, 'region');
  try {
    const dead = ['us-a', 'us-b'];
    const deadAddresses = dead.flatMap((c) => fleet.clusters[c].endpoints.map((e) => e.address));
    const errorsRe = new RegExp(`^meridian_proxy_upstream_errors_total\\{cluster="(?:${dead.join('|')})"[^}]*\\} (\\S+)$`, 'gm');
    const scrape = async (p) => {
      const text = await p.metrics();
      return { deadErrors: sumOf(text, errorsRe), retries: metric(text, 'meridian_proxy_retries_total') ?? 0, ejections: sumOf(text, /^meridian_proxy_outlier_ejections_total\{[^}]*\} (\S+)$/gm), fleetEjections: sumOf(text, /^meridian_fleet_ejections_applied_total\{[^}]*\} (\S+)$/gm) };
    };
    await paced(fleet.ps, 2);
    const before = await Promise.all(fleet.ps.map(scrape));
    let killedAt = Infinity;
    const seen = fleet.ps.map((_, i) => ({ lastRiseAt: 0, value: before[i].deadErrors, firstRiseAt: 0, allUnhealthySince: 0, anyOwnProbeDownAt: 0, endpoints: {} }));
    const samplers = fleet.ps.flatMap((p, i) => [
      every(20, async () => {
        const s = await scrape(p);
        const at = performance.now();
        if (s.deadErrors > seen[i].value) {
          seen[i].value = s.deadErrors;
          seen[i].lastRiseAt = at;
          if (!seen[i].firstRiseAt && at > killedAt) seen[i].firstRiseAt = at;
        }
      }),
      every(25, async () => {
        const view = await p.debug();
        const at = performance.now();
        if (at < killedAt) return;
        const eps = deadAddresses.map((a) => endpointIn(view, a));
        if (!seen[i].anyOwnProbeDownAt && eps.some((e) => e && e.probed && !e.probeHealthy)) seen[i].anyOwnProbeDownAt = at;
        if (eps.every((e) => e && !e.healthy)) seen[i].allUnhealthySince ||= at;
        else seen[i].allUnhealthySince = 0;
        // Per dead endpoint, when each signal first turned: this proxy's own probes, the fleet's
        // verdict (majority of the probers' votes), an outlier ejection, and the health derived.
        eps.forEach((e, k) => {
          if (!e) return;
          const t = (seen[i].endpoints[deadAddresses[k]] ??= { ownProbeDown: 0, fleetVerdictDown: 0, ejected: 0, unhealthySince: 0, flips: 0 });
          if (!t.ownProbeDown && e.probed && !e.probeHealthy) t.ownProbeDown = at;
          if (!t.fleetVerdictDown && e.fleetVerdict === false) t.fleetVerdictDown = at;
          if (!t.ejected && e.ejected) t.ejected = at;
          if (!e.healthy) t.unhealthySince ||= at;
          else if (t.unhealthySince) {
            t.unhealthySince = 0;
            t.flips++;
          }
        });
      }),
    ]);
    // The fleet's channel as the proxies hear it: when each one's votes on the dead endpoints went out.
    const events = [];
    const sub = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true });
    sub.on('error', () => {});
    await sub.connect();
    sub.on('message', (_channel, text) => {
      const at = performance.now();
      if (at < killedAt) return;
      const m = JSON.parse(text);
      if (m.type === 'votes') events.push({ ms: Math.round(at - killedAt), proxy: m.proxy, version: m.votes.version, deadDown: m.votes.down.filter((k) => deadAddresses.some((a) => k.endsWith(`|${a}`))).length });
      else if (m.type === 'ejection') events.push({ ms: Math.round(at - killedAt), ejection: m.record.endpoint.split('|').pop(), by: m.record.by });
    });
    await sub.subscribe(`meridian:{${FLEET}}:events`);
    const runS = killAtMs / 1000 + 7;
    const servedBefore = { ...fleet.served };
    const cpu = cpuWatch(fleet.ps);
    const run = paced(fleet.ps, runS);
    await sleep(killAtMs);
    const servedAtKill = { ...fleet.served };
    killedAt = performance.now();
    for (const c of dead) for (const e of fleet.clusters[c].endpoints) e.kill();
    const results = await run;
    const cpuUse = cpu();
    await Promise.all(samplers.map((stop) => stop()));
    sub.disconnect();
    const after = await Promise.all(fleet.ps.map(scrape));
    const ms = (t) => (t ? Math.round(t - killedAt) : null);
    const perProxy = fleet.ps.map((p, i) => ({
      proxy: p.id,
      requests: results[i].requests.total,
      failed: results[i].errors + results[i].non2xx,
      deadRegionErrors: after[i].deadErrors - before[i].deadErrors,
      retries: after[i].retries - before[i].retries,
      ejections: after[i].ejections - before[i].ejections,
      fleetEjectionsApplied: after[i].fleetEjections - before[i].fleetEjections,
      // The last request it sent to the dead region, as seen by the sampler (0: none after the kill).
      stoppedSendingMs: seen[i].lastRiseAt > killedAt ? ms(seen[i].lastRiseAt) : 0,
      firstErrorMs: ms(seen[i].firstRiseAt),
      ownProbeSawDownMs: ms(seen[i].anyOwnProbeDownAt),
      allDeadUnhealthyMs: ms(seen[i].allUnhealthySince),
      // Its vote messages after the kill: when it first voted one dead endpoint down, and all of them.
      votedOneDownMs: events.find((e) => e.proxy === p.id && e.deadDown > 0)?.ms ?? null,
      votedAllDownMs: events.find((e) => e.proxy === p.id && e.deadDown === deadAddresses.length)?.ms ?? null,
      deadEndpoints: Object.fromEntries(
        Object.entries(seen[i].endpoints).map(([a, t]) => [a, { ownProbeDownMs: ms(t.ownProbeDown), fleetVerdictDownMs: ms(t.fleetVerdictDown), ejectedMs: ms(t.ejected), unhealthyMs: ms(t.unhealthySince), healthyAgainAfterUnhealthy: t.flips }]),
      ),
    }));
    const stoppedMs = Math.max(...perProxy.map((x) => x.stoppedSendingMs));
    const unhealthy = perProxy.map((x) => x.allDeadUnhealthyMs);
    const failed = failedOf(results);
    const delta = (a, b) => Object.fromEntries(Object.keys(fleet.clusters).map((c) => [c, (a[c] ?? 0) - (b[c] ?? 0)]));
    return {
      proxies,
      offeredPerProxy: rate,
      runS,
      killAtS: killAtMs / 1000,
      requests: results.reduce((n, r) => n + r.requests.total, 0),
      failed,
      errors: results.reduce((n, r) => n + r.errors, 0),
      non2xx: results.reduce((n, r) => n + r.non2xx, 0),
      stoppedSendingMs: stoppedMs,
      allDeadUnhealthyOnEveryProxyMs: unhealthy.every((x) => x !== null) ? Math.max(...unhealthy) : null,
      cpu: cpuUse,
      latencyMs: worstLatency(results),
      failedAtMs: results.flatMap((r) => r.failedAt.map((t) => Math.round(t - killedAt))).sort((a, b) => a - b),
      slowOver50ms: slowSummary(results, killedAt),
      channelSubscribers: fleet.subscribers,
      fleetMessages: events,
      servedBeforeKill: delta(servedAtKill, servedBefore),
      servedAfterKill: delta(fleet.served, servedAtKill),
      perProxy,
      target: { failed: 0, convergeMs: 2000 },
      // The target is on the traffic (stopped sending); the verdicts are the mechanism, shown beside it.
      met: failed === 0 && stoppedMs <= 2000,
      allDeadUnhealthyWithin2s: unhealthy.every((x) => x !== null && x <= 2000),
    };
  } finally {
    await fleet.stop();
  }
}

// ---- 4. Redis dies under load ----------------------------------------------------------------------

async function redisOutagePart(redis) {
  const fleet = await startFaultFleet(redis, 'outage');
  try {
    await paced(fleet.ps, 2);
    const runS = killAtMs / 1000 + outageMs / 1000 + 6;
    const cpu = cpuWatch(fleet.ps);
    const run = paced(fleet.ps, runS);
    await sleep(killAtMs);
    await redis.kill();
    const killedAt = performance.now();
    const killedAtWall = Date.now();
    // While it is down: when each proxy declares itself out of sync (meridian_store_up 0).
    const staleAt = fleet.ps.map(() => 0);
    const stopStale = every(100, async () => {
      const texts = await Promise.all(fleet.ps.map((p) => p.metrics()));
      const at = performance.now();
      texts.forEach((t, i) => {
        if (!staleAt[i] && metric(t, 'meridian_store_up') === 0) staleAt[i] = at;
      });
    });
    await sleep(outageMs - (performance.now() - killedAt));
    await stopStale();
    await redis.start(); // empty, same port
    const back = redis.answeredAt;
    const downS = (back - killedAt) / 1000;
    let convergedMs = null;
    let lastView = '';
    await waitFor(
      async () => {
        const [texts, members] = await Promise.all([Promise.all(fleet.ps.map((p) => p.metrics())), redis.client.scard(`meridian:{${FLEET}}:members`)]);
        lastView = texts.map((t) => `${metric(t, 'meridian_store_up')}/${metric(t, 'meridian_fleet_proxies')}`).join(' ') + ` members ${members}`;
        const ok = members === proxies && texts.every((t) => metric(t, 'meridian_store_up') === 1 && metric(t, 'meridian_fleet_proxies') === proxies);
        if (ok) convergedMs = Math.round(performance.now() - back);
        return ok;
      },
      'the fleet in sync again after Redis returned',
      Math.max(10_000, runS * 1000),
      20,
    ).catch((err) => log(`  ${err.message} (store_up/fleet_proxies per proxy: ${lastView})`));
    // Back on the fleet's channel after the restart (each proxy's subscriber connection reconnects).
    const [, subscribersAfter] = await redis.client.pubsub('NUMSUB', `meridian:{${FLEET}}:events`).catch(() => [null, null]);
    const results = await run;
    const cpuUse = cpu();
    const failed = failedOf(results);
    const count = (p, re) => (p.logs().match(re) ?? []).length;
    /** When the proxy logged `msg` first after the kill (pino's epoch-ms time), in ms after the kill. */
    const loggedAfter = (p, msg) => {
      for (const line of p.logs().split('\n')) {
        if (!line.includes(msg)) continue;
        const t = JSON.parse(line).time;
        if (t >= killedAtWall) return t - killedAtWall;
      }
      return null;
    };
    return {
      proxies,
      offeredPerProxy: rate,
      runS,
      killAtS: killAtMs / 1000,
      redisDownS: round(downS, 2),
      requests: results.reduce((n, r) => n + r.requests.total, 0),
      failed,
      errors: results.reduce((n, r) => n + r.errors, 0),
      non2xx: results.reduce((n, r) => n + r.non2xx, 0),
      convergedMs,
      cpu: cpuUse,
      latencyMs: worstLatency(results),
      failedAtMs: results.flatMap((r) => r.failedAt.map((t) => Math.round(t - killedAt))).sort((a, b) => a - b),
      slowOver50ms: slowSummary(results, killedAt),
      channelSubscribers: { before: fleet.subscribers, afterReturn: subscribersAfter },
      perProxy: fleet.ps.map((p, i) => ({
        proxy: p.id,
        requests: results[i].requests.total,
        failed: results[i].errors + results[i].non2xx,
        storeUp0AfterMs: staleAt[i] ? Math.round(staleAt[i] - killedAt) : null,
        // Standing alone (own probes on every endpoint, local rates) after store.staleAfterMs.
        outOfSyncAfterMs: loggedAfter(p, 'out of sync with the fleet'),
        inSyncAgainAfterReturnMs: (() => {
          const t = loggedAfter(p, 'in sync with the fleet');
          return t === null ? null : Math.round(t - (back - killedAt));
        })(),
        unreachableLogLines: count(p, /state store unreachable/g),
        outOfSyncLogLines: count(p, /out of sync with the fleet/g),
      })),
      target: { failed: 0, convergeMs: 2000 },
      met: failed === 0 && convergedMs !== null && convergedMs <= 2000,
    };
  } finally {
    await fleet.stop();
  }
}

// ---- the run -----------------------------------------------------------------------------------------

function machine() {
  const sh = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
    } catch (err) {
      return `${err.stdout ?? ''}`.trim() || undefined;
    }
  };
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model;
  const dirty = sh('git', ['-C', join(here, '..'), 'status', '--porcelain', '--', 'src'])?.split('\n').filter(Boolean).length ?? 0;
  return {
    cpu: cpuModel,
    cores: cpus().length,
    kernel: release(),
    node: process.version,
    redis: /v=(\S+)/.exec(sh('redis-server', ['--version']) ?? '')?.[1],
    loader: loader === 'wrk' ? `wrk ${/wrk (\S+)/.exec(sh(wrkBin, ['-v']) ?? '')?.[1] ?? ''}`.trim() : 'autocannon',
    taskset: hasTaskset,
    loadavg: loadavg().map((x) => round(x, 2)),
    commit: sh('git', ['-C', join(here, '..'), 'rev-parse', '--short', 'HEAD']),
    srcChangesUncommitted: dirty,
    distBuiltAt: existsSync(cli) ? statSync(cli).mtime.toISOString() : null,
  };
}

const fmtRange = ([a, b], digits = 1) => `${a.toFixed(digits)}–${b.toFixed(digits)}`;
const mark = (ok) => (ok ? 'met' : 'MISSED');

function printReport(report) {
  const m = report.machine;
  const out = [];
  out.push(`$ ${report.command}`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores, Linux ${m.kernel}; node ${m.node}; redis-server ${m.redis}; loader ${m.loader}; taskset ${m.taskset ? 'yes' : 'no (unpinned)'}; load average ${m.loadavg.join(' ')}`);
  out.push(`checkout ${m.commit}${m.srcChangesUncommitted ? ` + ${m.srcChangesUncommitted} uncommitted change(s) under src/` : ''}, dist/ built ${m.distBuiltAt}; fleet of ${report.proxies} proxies`);
  const c = report.cpu;
  if (c) {
    out.push('');
    out.push(`1. CPU per request, one proxy on CPU 1 (${c.loader} -c${c.connections}, ${c.duration} s × ${c.rounds} rounds, medians (ranges)):`);
    out.push(`   standalone    ${c.standalone.usPerReq} µs/req (${fmtRange(c.standalone.usPerReqRange, 2)})  ${c.standalone.rps} req/s (${c.standalone.rpsRange.join('–')})  failed ${c.standalone.failed}`);
    out.push(`   fleet member  ${c.fleet.usPerReq} µs/req (${fmtRange(c.fleet.usPerReqRange, 2)})  ${c.fleet.rps} req/s (${c.fleet.rpsRange.join('–')})  failed ${c.fleet.failed}; idle members ${c.fleet.idleMemberCpuMsPerS} ms CPU/s each${c.fleet.inSyncAfterEveryRound ? '' : '; NOT in sync after some round'}`);
    out.push(`   fleet/standalone ${c.ratio} (per round ${fmtRange(c.ratioPerRoundRange, 3)})   target ≤ 1.05: ${mark(c.met)}`);
    const extra = c.fleet.quietCpuMsPerS - c.standalone.quietCpuMsPerS;
    out.push(`   without load: standalone ${c.standalone.quietCpuMsPerS} ms CPU/s (${fmtRange(c.standalone.quietCpuMsPerSRange, 2)}), fleet member ${c.fleet.quietCpuMsPerS} (${fmtRange(c.fleet.quietCpuMsPerSRange, 2)}): the sync's ${round(extra, 2)} ms/s is ${round((extra * 1000) / c.fleet.rps, 2)} µs/req at ${c.fleet.rps} req/s`);
  }
  const r = report.redisOps;
  if (r) {
    out.push('');
    out.push(`2. Redis per proxy per second (${r.proxies} proxies, ${r.servedPerProxyPerS} req/s each, ${r.windowS} s window, ${r.failed} failed):`);
    out.push(`   ${r.commandsPerProxyPerS} commands (${r.clientCommandsPerProxyPerS} sent by the proxy, the rest inside the load script), ${r.bytesInPerProxyPerS} B in, ${r.bytesOutPerProxyPerS} B out; Redis time ${r.redisUsecPerProxyPerS} µs; Redis CPU ${r.redisCpuMsPerS} ms/s for the fleet; ${r.keysAtEnd} keys`);
    out.push(`   by command: ${Object.entries(r.byCommand).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (r.channelSubscribers !== r.proxies) out.push(`   NOTE: ${r.channelSubscribers} of ${r.proxies} proxies subscribed to the fleet's channel`);
  }
  const g = report.region;
  if (g) {
    out.push('');
    out.push(`3. us-central1 (us-a, us-b: 4 endpoints) dies at ${g.killAtS} s of ${g.runS} s, ${g.offeredPerProxy} req/s offered to each of ${g.proxies} proxies:`);
    out.push(`   failed requests ${g.failed} of ${g.requests} (errors ${g.errors}, non-2xx ${g.non2xx})${g.failed ? `, sent at ${g.failedAtMs.slice(0, 10).join(', ')}${g.failed > 10 ? ' …' : ''} ms after the kill` : ''}   target 0`);
    out.push(`   latency (worst proxy) p50 ${g.latencyMs.p50} ms, p99 ${g.latencyMs.p99} ms, max ${g.latencyMs.max} ms${g.slowOver50ms.count ? ` (${g.slowOver50ms.count} requests over 50 ms, sent ${g.slowOver50ms.sentFromMs}…${g.slowOver50ms.sentToMs} ms after the kill)` : ''}; CPU during the run: bench ${g.cpu.benchPct} %, proxies ${g.cpu.proxyPct.join(' + ')} % of a core`);
    out.push(`   every proxy stopped sending to us-central1 ${g.stoppedSendingMs} ms after the kill   target ≤ 2000 ms (and 0 failed): ${mark(g.met)}`);
    out.push(`   every dead endpoint unhealthy on every proxy (/debug/table) ${g.allDeadUnhealthyOnEveryProxyMs ?? 'never'} ms after the kill${g.allDeadUnhealthyWithin2s ? '' : ' (over 2000 ms)'}`);
    for (const p of g.perProxy) {
      out.push(`   ${p.proxy}: ${p.requests} requests, ${p.failed} failed; ${p.deadRegionErrors} upstream errors at the dead region (first ${p.firstErrorMs ?? '–'} ms, last ${p.stoppedSendingMs} ms), ${p.retries} retries, ${p.ejections} ejections (+${p.fleetEjectionsApplied} from peers); its votes (pub/sub): one dead endpoint down at ${p.votedOneDownMs ?? '–'} ms, all ${p.votedAllDownMs ?? '–'} ms; all dead unhealthy at ${p.allDeadUnhealthyMs ?? '–'} ms`);
      const ep = Object.entries(p.deadEndpoints).map(([a, t]) => `${a.split(':')[0]} ${t.ownProbeDownMs ?? '–'}/${t.fleetVerdictDownMs ?? '–'}/${t.ejectedMs ?? '–'}/${t.unhealthyMs ?? '–'}${t.healthyAgainAfterUnhealthy ? ` (healthy again ${t.healthyAgainAfterUnhealthy}×)` : ''}`);
      out.push(`     ms after the kill, own probe down / fleet verdict down / ejected / unhealthy: ${ep.join(', ')}`);
    }
    if (g.channelSubscribers !== g.proxies) out.push(`   NOTE: ${g.channelSubscribers} of ${g.proxies} proxies subscribed to the fleet's channel: the others learn votes and ejections only from the once-a-second read`);
    out.push(`   served before the kill: ${Object.entries(g.servedBeforeKill).map(([k, v]) => `${k} ${v}`).join(', ')}; after: ${Object.entries(g.servedAfterKill).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  const o = report.redisOutage;
  if (o) {
    out.push('');
    out.push(`4. redis-server SIGKILLed at ${o.killAtS} s, back empty ${o.redisDownS} s later (run ${o.runS} s, ${o.offeredPerProxy} req/s offered to each of ${o.proxies} proxies):`);
    out.push(`   failed requests ${o.failed} of ${o.requests} (errors ${o.errors}, non-2xx ${o.non2xx})${o.failed ? `, sent at ${o.failedAtMs.slice(0, 10).join(', ')}${o.failed > 10 ? ' …' : ''} ms after the kill` : ''}   target 0`);
    out.push(`   latency (worst proxy) p50 ${o.latencyMs.p50} ms, p99 ${o.latencyMs.p99} ms, max ${o.latencyMs.max} ms${o.slowOver50ms.count ? ` (${o.slowOver50ms.count} requests over 50 ms, sent ${o.slowOver50ms.sentFromMs}…${o.slowOver50ms.sentToMs} ms after the kill)` : ''}; CPU during the run: bench ${o.cpu.benchPct} %, proxies ${o.cpu.proxyPct.join(' + ')} % of a core`);
    out.push(`   in sync again (store_up 1, fleet_proxies ${o.proxies}, ${o.proxies} members in Redis) ${o.convergedMs ?? 'never'} ms after Redis answered   target ≤ 2000 ms: ${mark(o.met)}`);
    if (o.channelSubscribers.before !== o.proxies || o.channelSubscribers.afterReturn !== o.proxies) out.push(`   NOTE: proxies subscribed to the fleet's channel: ${o.channelSubscribers.before} of ${o.proxies} before the kill, ${o.channelSubscribers.afterReturn} once in sync again`);
    for (const p of o.perProxy) out.push(`   ${p.proxy}: ${p.requests} requests, ${p.failed} failed; store_up 0 ${p.storeUp0AfterMs ?? '–'} ms after the kill, "out of sync" logged at ${p.outOfSyncAfterMs ?? '–'} ms, "in sync" ${p.inSyncAgainAfterReturnMs ?? '–'} ms after Redis answered; log lines: ${p.unreachableLogLines} "store unreachable", ${p.outOfSyncLogLines} "out of sync"`);
  }
  console.log(out.join('\n'));
}

const report = { command: `node bench/fleet.js ${process.argv.slice(2).join(' ')}`.trim(), machine: machine(), proxies };
if (!values.json) {
  log(`$ ${report.command}`);
  log(`machine: ${report.machine.cpu}, ${report.machine.cores} cores; node ${report.machine.node}; redis-server ${report.machine.redis}; loader ${report.machine.loader}`);
}
try {
  const redis = new BenchRedis(await freePort());
  await redis.start();
  if (only.includes('cpu')) {
    log('1. cpu: standalone vs fleet member');
    report.cpu = await cpuPart(redis);
  }
  if (only.includes('redis-ops')) {
    log('2. redis-ops');
    report.redisOps = await redisOpsPart(redis);
  }
  if (only.includes('region')) {
    log('3. region dies');
    report.region = await regionPart(redis);
  }
  if (only.includes('redis-outage')) {
    log('4. redis dies');
    report.redisOutage = await redisOutagePart(redis);
  }
  await redis.stop();
} catch (err) {
  log(`bench failed: ${err.stack ?? err}`);
  process.exit(1);
}
if (values.json) console.log(JSON.stringify(report, null, 2));
else printReport(report);
process.exit(0);
