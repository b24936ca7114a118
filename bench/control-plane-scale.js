// The control plane at 100+ clusters (issue 13): what an idle controller costs the member API
// servers and the federation API, its CPU and memory (and whether memory stays flat across
// resyncs), propagation of one new object while thousands exist, and how long a member that was
// unreachable during changes takes to catch up. The sandbox runs in this process, the controller
// as its own process (`node --inspect dist/cli/main.js controller`), both on this machine.
// Run: npm run build && node bench/control-plane-scale.js [--clusters 100] [--objects 1000,2000]
//        [--resync 30s] [--soak-resyncs 4] [--propagate 20] [--propagate-budget 3m] [--catchup 20]
//        [--settle 5s] [--sync-timeout 20m] [--phase-timeout 10m] [--json]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startSandbox } from '../dist/sandbox/sandbox.js';
import { liveHeap } from './lib/inspector.js';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: '100' },
    objects: { type: 'string', default: '1000,2000' },
    resync: { type: 'string', default: '30s' },
    'soak-resyncs': { type: 'string', default: '4' },
    settle: { type: 'string', default: '5s' },
    propagate: { type: 'string', default: '20' },
    catchup: { type: 'string', default: '20' },
    'sync-timeout': { type: 'string', default: '20m' },
    'propagate-budget': { type: 'string', default: '3m' },
    'phase-timeout': { type: 'string', default: '10m' },
    json: { type: 'boolean', default: false },
  },
});

function duration(text, flag) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new Error(`--${flag} "${text}" is not a duration (examples: 500ms, 10s, 1m)`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
}
function count(text, flag, min = 0) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} "${text}" is not a whole number ≥ ${min}`);
  return n;
}

const RESYNC_MS = duration(values.resync, 'resync');
const SOAK_RESYNCS = count(values['soak-resyncs'], 'soak-resyncs');
const SETTLE_MS = duration(values.settle, 'settle');
const PROPAGATE = count(values.propagate, 'propagate');
const CATCHUP = count(values.catchup, 'catchup');
const SYNC_TIMEOUT_MS = duration(values['sync-timeout'], 'sync-timeout');
const PROPAGATE_BUDGET_MS = duration(values['propagate-budget'], 'propagate-budget');
const PHASE_TIMEOUT_MS = duration(values['phase-timeout'], 'phase-timeout');
const CLUSTERS = values.clusters.split(',').map((c) => count(c, 'clusters', 1));
const OBJECTS = values.objects.split(',').map((o) => count(o, 'objects', 2 * CATCHUP));

const CM = { group: '', resource: 'configmaps' };
const CLUSTERS_REF = { group: 'federation.meridian.dev', resource: 'clusters' };
const NS = 'default';
/** The ConfigMaps this bench makes; member copies of anything else are ignored. */
const OURS = /^(scale|prop|catchup)-/;
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

const DESIGN =
  'One controller process per scenario, never restarted (a restart would reset its memory). Memory ' +
  '(live heap after two full GCs through the inspector; RSS from /proc) is sampled once the initial ' +
  'sync is in every member, again after the idle window (2 resync periods) and after each of ' +
  '--soak-resyncs more resync periods at the same --resync. Growth per resync period is the ' +
  'least-squares slope over the samples from the idle one on (the first resyncs after a sync are ' +
  'warm-up, shown as their own step); the hour figure projects it to 3600 s ÷ --resync periods ' +
  '(a projection, not an hour run). "Resync passes" counts the ConfigMap reconciles the controller ' +
  'reports since the first sample divided by the objects, i.e. the resync work it actually did. The ' +
  'heap slope is the leak figure; RSS also moves with the allocator keeping freed pages, so read its ' +
  'slope over a short soak with care.';

const t0 = performance.now();
const log = (msg) => process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (x, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–');
const MiB = (b) => b / 2 ** 20;
/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? NaN : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}
const name = (prefix, i) => `${prefix}-${String(i).padStart(5, '0')}`;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Waits for `check()` to hold, polling; fails with `what` after `ms`, or as soon as the controller exits. */
async function waitFor(check, ms, what, { every = 100, ctl } = {}) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (ctl && ctl.exitCode !== null) throw new Error(`the controller exited (code ${ctl.exitCode}, signal ${ctl.signalCode}) while waiting for ${what}`);
    if (await check()) return;
    await sleep(every);
  }
  throw new Error(`timed out after ${(ms / 1000).toFixed(0)} s waiting for ${what}`);
}

/** Sleeps `ms`, failing early if the controller exits meanwhile. */
async function idle(ms, ctl, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (ctl.exitCode !== null) throw new Error(`the controller exited (code ${ctl.exitCode}, signal ${ctl.signalCode}) during ${what}`);
    await sleep(Math.min(500, end - Date.now()));
  }
}

/** CPU time (user + system, seconds) and resident memory (bytes) of a process, from /proc. */
function proc(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime (14), stime (15)
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds, rssBytes: rss ? Number(rss[1]) * 1024 : NaN };
}

/** Sum of a Prometheus metric's series whose labels contain every `labels` pair. */
async function metricSum(url, metricName, labels = {}) {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!(line.startsWith(`${metricName} `) || line.startsWith(`${metricName}{`))) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.split(' ').pop());
  }
  return sum;
}

/**
 * A member's copies of this bench's ConfigMaps, kept by a watch on its store (cheaper than listing
 * 100 stores of thousands on every poll); `onAdded` hears each copy as it lands.
 */
function mirror(member, onAdded) {
  const copies = new Map();
  for (const o of member.store.list(CM, NS).items) if (OURS.test(o.metadata.name)) copies.set(o.metadata.name, o);
  const stop = member.store.watch(CM, NS, undefined, (type, o) => {
    const n = o.metadata.name;
    if (!OURS.test(n)) return;
    if (type === 'DELETED') copies.delete(n);
    else copies.set(n, o);
    if (type === 'ADDED') onAdded(member.name, n);
  });
  return { copies, stop };
}

const sameData = (a = {}, b = {}) => {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
};

/** What every member should hold: the federation's live ConfigMaps of this bench (those being deleted excluded). */
function federationWants(sb) {
  const want = new Map();
  for (const o of sb.federation.store.list(CM, NS).items) if (OURS.test(o.metadata.name) && !o.metadata.deletionTimestamp) want.set(o.metadata.name, o.data);
  return want;
}
function matches(copies, want) {
  if (copies.size !== want.size) return false;
  for (const [n, data] of want) {
    const c = copies.get(n);
    if (!c || !sameData(c.data, data)) return false;
  }
  return true;
}

/** Requests by key summed over servers. */
function requestCounts(servers) {
  const sum = {};
  for (const s of servers) for (const [k, v] of Object.entries(s.requestCounts())) sum[k] = (sum[k] ?? 0) + v;
  return sum;
}
/** The target at idle is watches and the leader lease only; anything else is reported as beyond it. */
const category = (key) => (key.startsWith('watch ') ? 'watch' : / leases$/.test(key) ? 'lease' : 'beyond target');

function spawnController(sb, metricsPort, inspectorPort) {
  const ctl = spawn(
    process.execPath,
    [`--inspect=127.0.0.1:${inspectorPort}`, 'dist/cli/main.js', 'controller', '--kubeconfig', sb.kubeconfigPath, '--probe-interval', '1s', '--resync', `${RESYNC_MS}ms`, '--metrics-addr', `127.0.0.1:${metricsPort}`],
    { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'error' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // The controller's output goes to our stderr (stdout stays the report), minus the inspector's banner.
  for (const stream of [ctl.stdout, ctl.stderr]) {
    let rest = '';
    stream.setEncoding('utf8').on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const l of lines) if (!/^(Debugger listening on|For help, see:|Debugger attached|Debugger ending on|Waiting for the debugger)/.test(l)) process.stderr.write(`  controller: ${l}\n`);
    });
  }
  return ctl;
}

async function stopController(ctl) {
  if (ctl.exitCode !== null || ctl.signalCode !== null) return;
  const exited = new Promise((r) => ctl.once('exit', r));
  ctl.kill('SIGTERM');
  const timeout = sleep(15_000).then(() => 'timeout');
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    log(`controller pid ${ctl.pid} did not exit 15 s after SIGTERM; sending SIGKILL`);
    ctl.kill('SIGKILL');
    await exited;
  }
}

/** What stops the current scenario's processes, for the signal handlers. */
let cleanup;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    log(`${sig}: stopping the controller and the sandbox`);
    void (cleanup ?? (() => Promise.resolve()))().finally(() => process.exit(130));
  });
}

async function phase(what, run) {
  try {
    return await run();
  } catch (err) {
    log(`${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * One new ConfigMap at a time, created through the federation API, timed until the last member's
 * store has it. Stops early when --propagate-budget is spent (a sample in flight still finishes);
 * a sample that takes longer than --phase-timeout ends the phase and is reported as a lower bound.
 */
async function propagation({ sb, ctl, clusters, pending }) {
  log(`propagation: up to ${PROPAGATE} new ConfigMaps, one at a time (budget ${PROPAGATE_BUDGET_MS / 1000} s)`);
  const latencies = [];
  const budgetEnd = Date.now() + PROPAGATE_BUDGET_MS;
  let timedOut;
  for (let i = 1; i <= PROPAGATE && !(i > 1 && Date.now() > budgetEnd); i++) {
    const n = name('prop', i);
    const entry = { start: performance.now(), members: new Set(), last: 0 };
    pending.set(n, entry);
    const res = await fetch(`${sb.federation.url}/api/v1/namespaces/${NS}/configmaps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n }, data: { i: String(i) } }),
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status !== 201) throw new Error(`creating ${n} in the federation: HTTP ${res.status} ${await res.text()}`);
    try {
      await waitFor(() => entry.members.size >= clusters, PHASE_TIMEOUT_MS, `${n} in all ${clusters} members`, { every: 5, ctl });
    } catch (err) {
      if (ctl.exitCode !== null) throw err;
      timedOut = { name: n, afterMs: performance.now() - entry.start, membersReached: entry.members.size };
      break;
    }
    latencies.push(entry.last - entry.start);
    if (latencies.length === 1 || latencies[latencies.length - 1] > 1000) log(`  ${n}: ${fmt(latencies[latencies.length - 1])} ms`);
  }
  return {
    requested: PROPAGATE,
    samples: latencies.length,
    p50Ms: latencies.length ? pct(latencies, 50) : NaN,
    p99Ms: latencies.length ? pct(latencies, 99) : NaN,
    maxMs: latencies.length ? Math.max(...latencies) : NaN,
    ...(timedOut ? { timedOut } : {}),
  };
}

/**
 * A member refuses connections; once the controller has marked it not Ready, --catchup ConfigMaps
 * are created, as many updated and as many deleted in the federation; once every other member holds
 * the changes, the member comes back and is timed until its store matches the federation exactly.
 */
async function catchUp({ sb, ctl, members, mirrors }) {
  const victim = members[members.length - 1];
  const clusterState = () => sb.federation.store.get(CLUSTERS_REF, undefined, victim.name)?.status?.state;
  log(`catch-up: ${victim.name} refuses connections`);
  const off0 = performance.now();
  await victim.server.setAvailability('refuse');
  await waitFor(() => clusterState() !== 'Ready', 60_000, `the controller to mark ${victim.name} not Ready`, { ctl });
  const notReadySeconds = (performance.now() - off0) / 1000;
  const store = sb.federation.store;
  for (let i = 1; i <= CATCHUP; i++) store.create(CM, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name('catchup', i), namespace: NS }, data: { i: String(i) } });
  for (let i = 1; i <= CATCHUP; i++) {
    const o = store.get(CM, NS, name('scale', i));
    store.update(CM, { ...o, metadata: { ...o.metadata }, data: { i: String(i), changed: 'while-offline' } });
  }
  for (let i = CATCHUP + 1; i <= 2 * CATCHUP; i++) store.delete(CM, NS, name('scale', i));
  const others = members.filter((m) => m !== victim);
  const changed0 = performance.now();
  await waitFor(
    () => {
      const want = federationWants(sb);
      return others.every((m) => matches(mirrors.get(m.name).copies, want));
    },
    PHASE_TIMEOUT_MS,
    `the ${others.length} reachable members to hold the changes (--phase-timeout)`,
    { every: 250, ctl },
  );
  const othersSeconds = (performance.now() - changed0) / 1000;
  log(`catch-up: the other ${others.length} members hold the changes after ${fmt(othersSeconds, 1)} s`);
  if (matches(mirrors.get(victim.name).copies, federationWants(sb))) throw new Error(`${victim.name} already matches the federation while refusing connections: nothing to catch up`);
  log(`catch-up: ${victim.name} back up`);
  const up0 = performance.now();
  await victim.server.setAvailability('up');
  let readySeconds;
  await waitFor(
    () => {
      if (readySeconds === undefined && clusterState() === 'Ready') readySeconds = (performance.now() - up0) / 1000;
      return matches(mirrors.get(victim.name).copies, federationWants(sb));
    },
    PHASE_TIMEOUT_MS,
    `${victim.name} to match the federation again (--phase-timeout)`,
    { every: 20, ctl },
  );
  const matchesAfterSeconds = (performance.now() - up0) / 1000;
  log(`catch-up: ${victim.name} matches the federation ${fmt(matchesAfterSeconds, 2)} s after it came back`);
  return {
    member: victim.name,
    created: CATCHUP,
    updated: CATCHUP,
    deleted: CATCHUP,
    notReadyAfterSeconds: notReadySeconds,
    othersHoldChangesAfterSeconds: othersSeconds,
    readyAfterSeconds: readySeconds ?? matchesAfterSeconds,
    matchesAfterSeconds,
  };
}

async function scenario(clusters, objects) {
  const result = { clusters, objects, resyncSeconds: RESYNC_MS / 1000 };
  const dir = mkdtempSync(join(tmpdir(), 'meridian-cps-'));
  let sb;
  let ctl;
  const mirrors = new Map();
  let stopped;
  cleanup = () =>
    (stopped ??= (async () => {
      for (const m of mirrors.values()) m.stop();
      if (ctl) await stopController(ctl);
      if (sb) await sb.stop();
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    log(`${clusters} members × ${objects} ConfigMaps: starting the sandbox`);
    sb = await startSandbox({ clusters: String(clusters), kubeconfigPath: join(dir, 'kubeconfig') });
    const members = [...sb.members.values()];
    for (let i = 1; i <= objects; i++) {
      sb.federation.store.create(CM, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name('scale', i), namespace: NS }, data: { i: String(i) } });
    }

    // Propagation samples: name → members that have it, and when the last one got it.
    const pending = new Map();
    for (const m of members) {
      mirrors.set(
        m.name,
        mirror(m, (member, n) => {
          const p = pending.get(n);
          if (!p || p.members.has(member)) return;
          p.members.add(member);
          p.last = performance.now();
        }),
      );
    }

    const metricsPort = await freePort();
    const inspectorPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    const syncStart = performance.now();
    ctl = spawnController(sb, metricsPort, inspectorPort);
    log(`controller pid ${ctl.pid} (metrics :${metricsPort}, inspector :${inspectorPort}); waiting for ${fmt(clusters * objects)} member copies`);
    let lastReport = Date.now();
    await waitFor(
      () => {
        const have = [...mirrors.values()].reduce((s, m) => s + m.copies.size, 0);
        if (Date.now() - lastReport > 15_000) {
          lastReport = Date.now();
          log(`  ${fmt(have)} / ${fmt(clusters * objects)} copies`);
        }
        return have >= clusters * objects;
      },
      SYNC_TIMEOUT_MS,
      `every member to hold all ${objects} ConfigMaps (--sync-timeout)`,
      { every: 250, ctl },
    );
    result.initialSyncSeconds = (performance.now() - syncStart) / 1000;
    log(`initial sync done in ${result.initialSyncSeconds.toFixed(1)} s; settling ${SETTLE_MS / 1000} s`);
    await idle(SETTLE_MS, ctl, 'the settle pause');

    // -- memory after sync, then the idle window --------------------------------------------
    const reconciles = () => metricSum(metricsUrl, 'meridian_controller_reconciles_total', { kind: 'ConfigMap' });
    const sample = async (label, elapsedResyncs) => ({ label, elapsedResyncs, heapBytes: await liveHeap(inspectorPort), rssBytes: proc(ctl.pid).rssBytes, reconciles: await reconciles() });
    const memory = [await sample('synced', 0)];

    const servers = members.map((m) => m.server);
    for (const s of [...servers, sb.federation.server]) s.resetRequestCounts();
    const cpu0 = proc(ctl.pid).cpuSeconds;
    const bench0 = process.cpuUsage();
    const w0 = performance.now();
    log(`idle window: ${(2 * RESYNC_MS) / 1000} s (2 × resync)`);
    await idle(2 * RESYNC_MS, ctl, 'the idle window');
    const seconds = (performance.now() - w0) / 1000;
    const memberCounts = requestCounts(servers);
    const fedCounts = requestCounts([sb.federation.server]);
    const cpu1 = proc(ctl.pid).cpuSeconds;
    const bench1 = process.cpuUsage(bench0);
    const keys = [...new Set([...Object.keys(memberCounts), ...Object.keys(fedCounts)])].sort();
    result.idle = {
      windowSeconds: seconds,
      requestsPerSecond: Object.fromEntries(keys.map((k) => [k, { members: (memberCounts[k] ?? 0) / seconds, federation: (fedCounts[k] ?? 0) / seconds, category: category(k) }])),
      beyondTargetPerSecond: {
        members: keys.filter((k) => category(k) === 'beyond target').reduce((s, k) => s + (memberCounts[k] ?? 0), 0) / seconds,
        federation: keys.filter((k) => category(k) === 'beyond target').reduce((s, k) => s + (fedCounts[k] ?? 0), 0) / seconds,
      },
      controllerCpuPercent: ((cpu1 - cpu0) / seconds) * 100,
      sandboxCpuPercent: ((bench1.user + bench1.system) / 1e6 / seconds) * 100,
    };
    memory.push(await sample('idle', 2));

    if (SOAK_RESYNCS > 0) log(`soak: ${(SOAK_RESYNCS * RESYNC_MS) / 1000} s (${SOAK_RESYNCS} more resync periods, a memory sample after each)`);
    for (let k = 1; k <= SOAK_RESYNCS; k++) {
      await idle(RESYNC_MS, ctl, 'the soak');
      memory.push(await sample(`soak ${k}`, 2 + k));
    }
    // The slope starts at the idle sample, not at the end of the initial sync: the first resyncs
    // after a sync still fill per-copy bookkeeping once, which is not growth per resync.
    const fit = memory.length > 2 ? memory.slice(1) : memory;
    const last = memory[memory.length - 1];
    result.memory = {
      samples: memory.map((s) => ({ ...s, resyncPasses: (s.reconciles - memory[0].reconciles) / objects })),
      slopeOver: fit.map((s) => s.label),
      heapGrowthBytesPerResync: slope(fit.map((s) => [s.elapsedResyncs, s.heapBytes])),
      rssGrowthBytesPerResync: slope(fit.map((s) => [s.elapsedResyncs, s.rssBytes])),
      resyncsPerHour: 3600_000 / RESYNC_MS,
      heapBytesPer10kMemberCopies: memory[1].heapBytes / ((clusters * objects) / 10_000),
    };

    log(
      `idle: ${fmt(result.idle.beyondTargetPerSecond.members, 1)} member req/s beyond watch+lease, controller CPU ${fmt(result.idle.controllerCpuPercent)} %, ` +
        `heap ${fmt(MiB(memory[1].heapBytes), 1)} → ${fmt(MiB(last.heapBytes), 1)} MiB, resync passes ${fmt(result.memory.samples[result.memory.samples.length - 1].resyncPasses, 1)} in ${last.elapsedResyncs} periods`,
    );

    // Propagation and catch-up are measured even when the controller is too busy to meet their
    // targets: a phase that runs out of time is reported as such and the scenario goes on.
    const ctx = { sb, ctl, clusters, members, mirrors, pending };
    result.propagation = await phase('propagation', () => propagation(ctx));
    if (CATCHUP > 0) result.catchUp = await phase('catch-up', () => catchUp(ctx));
    return result;
  } finally {
    await cleanup();
    cleanup = undefined;
  }
}

function report(r) {
  const out = [];
  const p = (s = '') => out.push(s);
  p(`== ${r.clusters} members × ${fmt(r.objects)} ConfigMaps (resync ${r.resyncSeconds} s) ==`);
  p(`initial sync: ${fmt(r.initialSyncSeconds, 1)} s (controller spawned → every member holds every copy; ${fmt(r.clusters * r.objects)} copies)`);
  p();
  const i = r.idle;
  p(`Idle requests per second, ${fmt(i.windowSeconds, 0)} s window (2 × resync), summed over the ${r.clusters} members / the federation API`);
  p('(a watch is counted when it is opened: watches open through the whole window do not appear):');
  const rows = Object.entries(i.requestsPerSecond);
  const w = Math.max(24, ...rows.map(([k]) => k.length));
  p(`  ${'request'.padEnd(w)}  ${'members/s'.padStart(11)}  ${'federation/s'.padStart(12)}  kind`);
  for (const [k, v] of rows) p(`  ${k.padEnd(w)}  ${fmt(v.members, 1).padStart(11)}  ${fmt(v.federation, 1).padStart(12)}  ${v.category}`);
  p(`  ${'beyond target (not watch/lease)'.padEnd(w)}  ${fmt(i.beyondTargetPerSecond.members, 1).padStart(11)}  ${fmt(i.beyondTargetPerSecond.federation, 1).padStart(12)}  target: 0`);
  p(`Controller CPU over the window: ${fmt(i.controllerCpuPercent, 1)} % of one core (the sandbox serving it, in this process: ${fmt(i.sandboxCpuPercent, 1)} %)`);
  p();
  const m = r.memory;
  p('Controller memory:');
  const signed = (b, unit, div) => `${b >= 0 ? '+' : ''}${fmt(b / div, 1)} ${unit}`;
  p(`  ${'sample'.padEnd(8)}  ${'resyncs'.padStart(7)}  ${'resync passes'.padStart(13)}  ${'live heap'.padStart(10)}  ${'step'.padStart(11)}  ${'RSS'.padStart(10)}  ${'step'.padStart(11)}`);
  m.samples.forEach((s, k) => {
    const prev = m.samples[k - 1];
    p(
      `  ${s.label.padEnd(8)}  ${String(s.elapsedResyncs).padStart(7)}  ${fmt(s.resyncPasses, 1).padStart(13)}  ${`${fmt(MiB(s.heapBytes), 1)} MiB`.padStart(10)}  ${(prev ? signed(s.heapBytes - prev.heapBytes, 'MiB', 2 ** 20) : '').padStart(11)}  ` +
        `${`${fmt(MiB(s.rssBytes), 1)} MiB`.padStart(10)}  ${(prev ? signed(s.rssBytes - prev.rssBytes, 'MiB', 2 ** 20) : '').padStart(11)}`,
    );
  });
  p(`  growth per resync period (least-squares over ${m.slopeOver[0]} … ${m.slopeOver[m.slopeOver.length - 1]}): heap ${signed(m.heapGrowthBytesPerResync, 'KiB', 1024)}, RSS ${signed(m.rssGrowthBytesPerResync, 'KiB', 1024)}`);
  p(`  projected over an hour (${fmt(m.resyncsPerHour)} resyncs): heap ${fmt(MiB(m.heapGrowthBytesPerResync * m.resyncsPerHour), 1)} MiB, RSS ${fmt(MiB(m.rssGrowthBytesPerResync * m.resyncsPerHour), 1)} MiB`);
  p(`  live heap per 10k member copies (idle sample; the whole heap, fixed baseline included): ${fmt(MiB(m.heapBytesPer10kMemberCopies), 2)} MiB`);
  p();
  const pr = r.propagation;
  if (pr.error) p(`Propagation: failed: ${pr.error}`);
  else {
    p(
      `Propagation of one new ConfigMap to all ${r.clusters} members (${pr.samples} of ${pr.requested} samples${pr.samples < pr.requested && !pr.timedOut ? ', --propagate-budget spent' : ''}): ` +
        `p50 ${fmt(pr.p50Ms)} ms, p99 ${fmt(pr.p99Ms)} ms, max ${fmt(pr.maxMs)} ms (target p99 ≤ 500 ms)`,
    );
    if (pr.timedOut) p(`  ${pr.timedOut.name} had reached ${pr.timedOut.membersReached} of ${r.clusters} members after ${fmt(pr.timedOut.afterMs / 1000, 1)} s (--phase-timeout); sampling stopped`);
  }
  const c = r.catchUp;
  if (c?.error) p(`Catch-up: failed: ${c.error}`);
  else if (c) {
    p(
      `Catch-up: ${c.member} refused connections (not Ready after ${fmt(c.notReadyAfterSeconds, 1)} s); meanwhile ${c.created} created, ${c.updated} updated, ${c.deleted} deleted ` +
        `(in the other members after ${fmt(c.othersHoldChangesAfterSeconds, 1)} s); back up → Ready after ${fmt(c.readyAfterSeconds, 2)} s, its store matches the federation after ${fmt(c.matchesAfterSeconds, 2)} s`,
    );
  }
  p();
  return out.join('\n');
}

const results = [];
try {
  for (const clusters of CLUSTERS) {
    for (const objects of OBJECTS) {
      const r = await scenario(clusters, objects);
      results.push(r);
      if (!values.json) process.stdout.write(`${report(r)}\n`);
    }
  }
} catch (err) {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
/**
 * Heap per 10k member copies between two scenarios with the same members: the difference of their
 * idle live heaps over the difference of their copies, so the fixed baseline (code, sockets, the
 * 100 members' clients and informers) is not counted as if copies cost it.
 */
function marginalHeap(all) {
  const out = [];
  for (const a of all) {
    for (const b of all) {
      if (a.clusters !== b.clusters || b.objects <= a.objects) continue;
      const copies = a.clusters * (b.objects - a.objects);
      out.push({ clusters: a.clusters, fromObjects: a.objects, toObjects: b.objects, heapBytesPer10kMemberCopies: ((b.memory.samples[1].heapBytes - a.memory.samples[1].heapBytes) / copies) * 10_000 });
    }
  }
  return out;
}
const marginal = marginalHeap(results);

if (values.json) process.stdout.write(`${JSON.stringify({ design: DESIGN, results, marginalHeap: marginal }, (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v), 2)}\n`);
else if (results.length) {
  process.stdout.write(`Memory design: ${DESIGN}\n\n`);
  process.stdout.write('| members | objects | initial sync | idle member req/s beyond watch+lease | federation req/s beyond | controller CPU | live heap (idle) | heap/10k copies | heap growth/resync | RSS (idle) | RSS growth/resync | propagation p50 / p99 | catch-up |\n');
  process.stdout.write('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n');
  for (const r of results) {
    const idleMem = r.memory.samples[1];
    process.stdout.write(
      `| ${r.clusters} | ${fmt(r.objects)} | ${fmt(r.initialSyncSeconds, 1)} s | ${fmt(r.idle.beyondTargetPerSecond.members, 1)} | ${fmt(r.idle.beyondTargetPerSecond.federation, 1)} | ${fmt(r.idle.controllerCpuPercent)} % | ` +
        `${fmt(MiB(idleMem.heapBytes))} MiB | ${fmt(MiB(r.memory.heapBytesPer10kMemberCopies), 1)} MiB | ${fmt(r.memory.heapGrowthBytesPerResync / 1024)} KiB | ${fmt(MiB(idleMem.rssBytes))} MiB | ${fmt(r.memory.rssGrowthBytesPerResync / 1024)} KiB | ` +
        `${fmt(r.propagation.p50Ms)} / ${fmt(r.propagation.p99Ms)} ms${r.propagation.timedOut ? ` (+1 > ${fmt(r.propagation.timedOut.afterMs / 1000)} s)` : ''} | ${r.catchUp?.matchesAfterSeconds !== undefined ? `${fmt(r.catchUp.matchesAfterSeconds, 2)} s` : '–'} |\n`,
    );
  }
  for (const h of marginal) {
    process.stdout.write(`\nLive heap per 10k member copies, ${h.clusters} members, ${fmt(h.fromObjects)} → ${fmt(h.toObjects)} objects (difference of the idle heaps over the difference of copies): ${fmt(MiB(h.heapBytesPer10kMemberCopies), 2)} MiB\n`);
  }
}
