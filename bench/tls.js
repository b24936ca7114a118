// HTTPS at the edge: Meridian against nginx (one worker) with the same ECDSA P-256 certificate, in
// front of the same origin, and bare Node HTTPS proxies (servers/bare-undici-tls.js: what Node's
// TLS and HTTP stacks cost by themselves, HTTP/2 through the compat API as Meridian's; for HTTP/2
// also servers/bare-undici-h2-core.js, on the core 'stream' API), measured in one run (issue 15's targets: CPU per request within 2× of
// nginx's, handshakes per second within 1.5× of nginx's).
//  - keep-alive HTTPS/1.1: wrk, 50 connections (requests/s, proxy CPU µs per request)
//  - HTTP/2: h2load (Debian's nghttp2-client), 10 connections × 10 streams
//  - full handshakes per second: openssl s_time -new -tls1_3 (a new session each time)
//  - resumed handshakes per second: openssl s_time -reuse -tls1_2 (session tickets)
// As bench/proxy.js: origin and loaders on CPU 0, the proxy on CPU 1 (taskset); each round starts
// every proxy afresh for each measurement and warms it up; rounds interleaved, the order rotating; medians and ranges.
// Run on a quiet machine: npm run build && node bench/tls.js [--duration 5] [--rounds 3] [--only h2,h1,full,resumed]
//   [--compare DIST] (adds Meridian from another build's dist/, as bench/proxy.js's --compare: e.g.
//   .bench/before/dist, with package.json and geoip/ beside it) [--h2-rps N] (h2load offers N
//   requests/s per connection instead of saturating: CPU per request then compares at the same
//   load — at saturation a slower proxy batches more per read and write, which flatters it)
//   [--floors] (HTTP/2 only: adds two floors that are not proxies — node:http2 answering by itself,
//   and node:http2 with a minimal hand-written upstream client — to show what of the gap to nginx
//   is TLS/HTTP/2/Node and what is the upstream HTTP/1.1 client)
import { execFile, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { cpuTicks, hasTaskset, killedOnExit, pin, pinBenchToCpu0, startNginx as startNginxWorker, stop } from './lib/processes.js';

const run = promisify(execFile);
const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, only: { type: 'string', default: '' }, compare: { type: 'string' }, 'h2-rps': { type: 'string' }, floors: { type: 'boolean', default: false } } });
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const here = new URL('.', import.meta.url).pathname;
const need = (bins, what) => {
  const found = bins.find((p) => existsSync(p));
  if (!found) throw new Error(`${what} is not installed`);
  return found;
};
const wrkBin = need(['/usr/bin/wrk', '/usr/local/bin/wrk'], 'wrk (apt-get install -y wrk)');
const h2loadBin = need(['/usr/bin/h2load'], 'h2load (apt-get install -y nghttp2-client)');
const nginxBin = need(['/usr/sbin/nginx', '/usr/bin/nginx'], 'nginx (apt-get install -y nginx-light)');
pinBenchToCpu0();
const work = mkdtempSync(join(tmpdir(), 'meridian-bench-tls-'));

// One ECDSA P-256 certificate for both.
const cert = join(work, 'cert.pem');
const key = join(work, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=bench.test', '-addext', 'subjectAltName=DNS:bench.test'], { stdio: 'ignore' });

const track = killedOnExit();

async function startMeridian(port, originPort, dist = join(here, '..', 'dist')) {
  const config = join(work, `meridian-${port}.yaml`);
  writeFileSync(
    config,
    [
      `listen: [{ host: 127.0.0.1, port: ${port}, tls: true }]`,
      `admin: { host: 127.0.0.1, port: ${port + 1000} }`,
      `tls: { certificates: [{ certFile: ${cert}, keyFile: ${key} }] }`,
      'region: us-central1',
      'limits: { keepAliveTimeoutMs: 60000 }',
      'table:',
      '  version: bench',
      '  defaultBackend: web',
      '  backends:',
      '    web:',
      '      shards:',
      `        - { cluster: local, region: us-central1, endpoints: [{ address: 127.0.0.1, port: ${originPort} }] }`,
    ].join('\n'),
  );
  const child = track(spawn(process.execPath, [join(dist, 'cli', 'main.js'), 'proxy', '--config', config], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'ignore'] }));
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`meridian exited with ${code} before listening`)));
  });
  return { child, cpuPid: child.pid };
}

async function startNginx(port, originPort) {
  const dir = join(work, 'nginx');
  // Mozilla intermediate, tickets on (nginx's default), no shared session cache: as Meridian.
  return startNginxWorker(nginxBin, dir, `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; upstream o { server 127.0.0.1:${originPort}; keepalive 128; }
  server { listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${cert}; ssl_certificate_key ${key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    keepalive_timeout 60s;
    # nginx ends a connection after 1,000 requests by default (HTTP/2 too): h2load does not reconnect.
    keepalive_requests 10000000;
    location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`, track);
}


/** Each measurement: { ops, seconds } from its tool; the proxy's CPU is read around it. */
const measures = {
  async h1(port, seconds) {
    const { stdout } = await run(wrkBin, ['-t1', '-c50', `-d${seconds}s`, `https://127.0.0.1:${port}/`]);
    const ops = Number(/(\d+) requests in/.exec(stdout)[1]);
    const errors = /Socket errors|Non-2xx/.test(stdout);
    return { ops, seconds, errors };
  },
  async h2(port, seconds) {
    const rate = values['h2-rps'] ? [`--rps=${values['h2-rps']}`] : [];
    const { stdout } = await run(h2loadBin, ['-c10', '-m10', '-t1', ...rate, `-D${seconds}`, '--warm-up-time=0', `https://127.0.0.1:${port}/`]);
    const ops = Number(/requests: \d+ total, \d+ started, (\d+) done/.exec(stdout)[1]);
    // With -D, requests still out at the deadline count as failed: errors are the errored ones.
    const errored = Number(/(\d+) errored/.exec(stdout)?.[1] ?? 0);
    return { ops, seconds, errors: errored > 0 };
  },
  async full(port, seconds) {
    return sTime(port, seconds, ['-new', '-tls1_3']);
  },
  // TLS 1.2: its ticket comes within the handshake (s_time closes before a TLS 1.3 ticket arrives,
  // and would measure full handshakes again).
  async resumed(port, seconds) {
    return sTime(port, seconds, ['-reuse', '-tls1_2']);
  },
};

async function sTime(port, seconds, mode) {
  // s_time counts connections in its time budget; its "real seconds" line is the wall clock.
  const { stdout } = await run('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, ...mode, '-time', String(seconds)]);
  const m = [...stdout.matchAll(/(\d+) connections in (\d+) real seconds/g)].pop();
  return { ops: Number(m[1]), seconds: Number(m[2]) || seconds, errors: false };
}

const originPort = 19200;
const origin = track(fork(join(here, 'servers', 'origin.js'), [String(originPort)], { stdio: 'ignore' }));
await new Promise((r) => origin.once('message', r));
pin(0, origin.pid);
const startBareServer = (file) => async (port, originPort) => {
  const child = track(fork(join(here, 'servers', file), [String(port), String(originPort), cert, key], { stdio: 'ignore' }));
  await new Promise((r) => child.once('message', r));
  return { child, cpuPid: child.pid };
};

const targets = [
  { name: 'meridian', port: 19201, start: startMeridian },
  { name: 'nginx (1 worker)', port: 19202, start: startNginx },
  // Node's own TLS/HTTP stacks with a raw undici handler: the floor for a Node proxy.
  { name: 'bare node https', port: 19203, start: startBareServer('bare-undici-tls.js') },
  // The same on node:http2's core API: what the compat request/response objects cost.
  { name: 'bare node h2 core', port: 19204, start: startBareServer('bare-undici-h2-core.js'), kinds: ['h2'] },
];
const floors = values.floors
  ? [
      { name: 'floor: h2 answering itself', port: 19206, start: startBareServer('h2-floor-static.js'), kinds: ['h2'] },
      { name: 'floor: h2 + minimal client', port: 19207, start: startBareServer('h2-floor-minimal-client.js'), kinds: ['h2'] },
    ]
  : [];
targets.push(...floors);
const compared = values.compare ? `meridian@${values.compare}` : undefined;
if (compared) targets.push({ name: compared, port: 19205, start: (port, o) => startMeridian(port, o, values.compare) });
const kinds = values.only ? values.only.split(',').filter((k) => k in measures) : Object.keys(measures);
const results = Object.fromEntries(targets.map((t) => [t.name, Object.fromEntries(kinds.map((k) => [k, []]))]));
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < targets.length; i++) {
    const t = targets[(i + round) % targets.length];
    const own = kinds.filter((k) => !t.kinds || t.kinds.includes(k));
    if (own.length === 0) continue;
    // A fresh process per measurement: one that has just served another kind (50 keep-alive
    // HTTPS/1.1 connections, their upstream connections, its heap) measured HTTP/2 ~15 µs/req
    // dearer than one that had not — and the HTTP/2-only core-API floor never paid that.
    for (const kind of own) {
      const proc = await t.start(t.port, originPort);
      pin(1, proc.cpuPid);
      await measures[kind](t.port, Math.min(2, duration)).catch(() => {}); // warm-up
      const before = cpuTicks(proc.cpuPid);
      const r = await measures[kind](t.port, duration);
      const ticks = cpuTicks(proc.cpuPid) - before;
      results[t.name][kind].push({ perSecond: r.ops / r.seconds, usPerOp: (ticks * 10_000) / r.ops, errors: r.errors });
      await stop(proc);
    }
  }
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs) => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
const label = { h1: 'HTTPS/1.1 keep-alive req/s', h2: 'HTTP/2 req/s', full: 'full handshakes/s (1.3)', resumed: 'resumed handshakes/s (1.2)' };
console.log(`\n${'measure'.padEnd(28)} ${'meridian'.padStart(10)} ${'(range)'.padStart(13)} ${'µs/op'.padStart(7)} ${'nginx'.padStart(10)} ${'(range)'.padStart(13)} ${'µs/op'.padStart(7)}  cpu ratio  rate ratio  ${'bare node'.padStart(10)} ${'µs/op'.padStart(7)}  ${'h2 core'.padStart(10)} ${'µs/op'.padStart(7)}`);
// A round in which the loader got nothing through (seen once on a loaded VM) has no CPU per
// request: it is left out of the medians and the row is marked (errors).
const rowOf = (xs) => {
  if (!xs.length) return undefined;
  const ok = xs.filter((x) => x.perSecond > 0);
  return { perSecond: median(ok.map((x) => x.perSecond)), usPerOp: median(ok.map((x) => x.usPerOp)), range: range(ok.map((x) => x.perSecond)), usRange: range(ok.map((x) => x.usPerOp)), errors: ok.length < xs.length || xs.some((x) => x.errors) };
};
const summary = {};
for (const kind of kinds) {
  const m = results.meridian[kind];
  const n = results['nginx (1 worker)'][kind];
  const row = { meridian: rowOf(m), nginx: rowOf(n), bare: rowOf(results['bare node https'][kind]), core: rowOf(results['bare node h2 core'][kind]) };
  summary[kind] = row;
  console.log(
    `${label[kind].padEnd(28)} ${String(Math.round(row.meridian.perSecond)).padStart(10)} ${row.meridian.range.padStart(13)} ${row.meridian.usPerOp.toFixed(1).padStart(7)} ${String(Math.round(row.nginx.perSecond)).padStart(10)} ${row.nginx.range.padStart(13)} ${row.nginx.usPerOp.toFixed(1).padStart(7)}  ${(row.meridian.usPerOp / row.nginx.usPerOp).toFixed(2).padStart(9)}  ${(row.meridian.perSecond / row.nginx.perSecond).toFixed(2).padStart(10)}  ${String(Math.round(row.bare.perSecond)).padStart(10)} ${row.bare.usPerOp.toFixed(1).padStart(7)}  ${row.core ? `${String(Math.round(row.core.perSecond)).padStart(10)} ${row.core.usPerOp.toFixed(1).padStart(7)}` : ''}${[row.meridian, row.nginx, row.bare, row.core].some((r) => r?.errors) ? '  (errors)' : ''}`,
  );
  console.log(
    `${'  µs/op ranges'.padEnd(28)} meridian ${row.meridian.usRange}, nginx ${row.nginx.usRange}, bare node ${row.bare.usRange}${row.core ? `, h2 core ${row.core.usRange}` : ''}`,
  );
  for (const f of floors) {
    const r = rowOf(results[f.name][kind]);
    if (!r) continue;
    (row.floors ??= {})[f.name] = r;
    console.log(`${`  ${f.name}`.padEnd(28)} ${String(Math.round(r.perSecond)).padStart(10)} ${r.range.padStart(13)} ${r.usPerOp.toFixed(1).padStart(7)} µs/op (${r.usRange}); it/nginx ${(r.usPerOp / row.nginx.usPerOp).toFixed(2)}${r.errors ? '  (errors)' : ''}`);
  }
  if (compared) {
    const c = (row.compared = rowOf(results[compared][kind]));
    console.log(`${`  ${compared}`.padEnd(28)} ${String(Math.round(c.perSecond)).padStart(10)} ${c.range.padStart(13)} ${c.usPerOp.toFixed(1).padStart(7)} µs/op (${c.usRange}); meridian/it ${(row.meridian.usPerOp / c.usPerOp).toFixed(2)}${c.errors ? '  (errors)' : ''}`);
  }
}
mkdirSync(join(here, 'results'), { recursive: true });
const file = join(here, 'results', `tls-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ duration, rounds, pinned: hasTaskset, freshProcessPerRound: true, summary, results }, null, 2));
console.log(`results: ${file}`);
origin.kill('SIGTERM');
process.exit(0);
