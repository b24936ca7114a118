// Differential harness: the raw probes of the adversarial tests (bench/lib/security-probes.js:
// smuggling, header syntax, hostile origin answers) sent to Meridian and to nginx, both proxying
// to the same recording origin, with each one's behaviour side by side: the statuses the client
// got, whether the connection closed, what reached the origin — and whether that breaks the
// probe's invariant (✗; the tests in test/integration/security/ judge the same invariants more
// strictly: the forwarded requests field by field, every answer matched to its request).
// Run: npm run build && node bench/security-diff.js [--only NAME-SUBSTRING]
// nginx's column is there when nginx is installed (apt-get install -y nginx-light); one worker,
// started in a temp dir with `daemon off`, upstream keep-alive, timeouts like Meridian's here (2 s).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hostilePath, PROBES } from './lib/security-probes.js';
import { sendRaw, startRecordingOrigin } from './lib/raw-wire.js';

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const here = new URL('.', import.meta.url).pathname;
const cli = join(here, '..', 'dist', 'cli', 'main.js');
if (!existsSync(cli)) throw new Error('dist/ is missing: run npm run build first');
const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const work = mkdtempSync(join(tmpdir(), 'meridian-security-diff-'));
const PROBE_PATH = '/__probe';

// Everything started here is killed by PID on the way out, also after a failure half-way.
const pids = new Set();
function killAll() {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  pids.clear();
}
process.on('exit', () => {
  killAll();
  rmSync(work, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on `port` (10 s at most). */
async function listening(port, what) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} is not listening on ${port} after 10 s`);
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
  pids.delete(child.pid);
}

async function startMeridian(originPort) {
  const port = await freePort();
  const config = join(work, 'meridian.yaml');
  writeFileSync(
    config,
    [
      `listen: [{ host: 127.0.0.1, port: ${port} }]`,
      `admin: { host: 127.0.0.1, port: ${await freePort()} }`,
      'region: us-central1',
      'limits: { headersTimeoutMs: 2000, upstreamHeadersTimeoutMs: 2000, upstreamBodyTimeoutMs: 2000, drainTimeoutMs: 500 }',
      'healthCheck: { intervalMs: 60000 }',
      'outlier: { consecutiveErrors: 100000 }',
      'table:',
      '  version: security-diff',
      '  routes: [{ host: app.test, path: /, backend: app }]',
      '  backends:',
      '    app:',
      `      healthCheckPath: ${PROBE_PATH}`,
      `      shards: [{ cluster: c1, region: us-central1, endpoints: [{ address: 127.0.0.1, port: ${originPort} }] }]`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, [cli, 'proxy', '--config', config], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent' }, stdio: 'ignore' });
  pids.add(child.pid);
  await listening(port, 'meridian');
  return { port, stop: () => stop(child) };
}

async function startNginx(originPort) {
  const port = await freePort();
  const dir = join(work, 'nginx');
  execFileSync('mkdir', ['-p', dir]);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`).join(' ');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `${process.getuid?.() === 0 ? 'user root;' : ''} worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 1024; }
http { access_log off; ${temp}
  client_header_timeout 2s; client_body_timeout 2s; send_timeout 2s; keepalive_timeout 5s;
  upstream o { server 127.0.0.1:${originPort}; keepalive 16; }
  server { listen 127.0.0.1:${port}; server_name app.test;
    location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host;
      proxy_connect_timeout 2s; proxy_read_timeout 2s; proxy_send_timeout 2s; } } }\n`,
  );
  const child = spawn(nginxBin, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  pids.add(child.pid);
  await listening(port, 'nginx');
  // Its worker outlives a killed master (and would hold the port): tracked by PID as well.
  for (const w of execFileSync('pgrep', ['-P', String(child.pid)]).toString().trim().split('\n').filter(Boolean)) pids.add(Number(w));
  return {
    port,
    async stop() {
      await stop(child);
      killAll(); // the worker, should it still be there
    },
  };
}

const pathOf = (url) => (url ?? '').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '') || '/';

/** One proxy's behaviour with one probe, and the invariants it breaks. */
async function run(proxyPort, origin, probe) {
  const mark = origin.mark();
  const hostile = probe.theme === 'hostile-origin';
  const r = await sendRaw(proxyPort, probe.request, hostile ? { idleMs: 3500, stopWhenAnswered: true } : { idleMs: 400 });
  await origin.quiet(100);
  const { seen, parseErrors } = origin.since(mark);
  const complete = seen.filter((s) => s.complete);
  const broken = [];
  if (parseErrors.length) broken.push(`origin parse error ${parseErrors.join(',')}`);
  if (complete.length > probe.allowed.length) broken.push(`${complete.length} requests at the origin`);
  const allowed = probe.allowed.map(pathOf);
  for (const s of complete) if (!allowed.includes(pathOf(s.url))) broken.push(`origin got ${s.url}`);
  for (const never of probe.neverForward ?? []) if (seen.some((s) => `${s.url} ${JSON.stringify(s.headers)} ${s.body}`.includes(never))) broken.push(`${never} forwarded`);
  if (probe.forwardBody !== undefined) for (const s of complete) if (s.body !== probe.forwardBody) broken.push(`origin got the body ${JSON.stringify(s.body.slice(0, 20))}`);
  const st = r.statuses;
  const a = probe.answer;
  if (!hostile && st.length > probe.allowed.length + 1) broken.push(`${st.length} answers to at most ${probe.allowed.length + 1} requests`);
  // A first answer that is a refusal and closes: nothing may have reached the origin (the origin
  // answers these probes 200, so such a refusal is the proxy's own, and it ends the connection).
  if (!hostile && st[0] >= 400 && r.closes[0] && complete.length) broken.push(`refused with Connection: close, yet ${complete.map((s) => s.url).join(', ')} reached the origin`);
  if (r.malformed) broken.push('malformed answer');
  if (hostile) {
    if (probe.mustPass && st[0] !== 200) broken.push('valid answer lost');
    if (probe.cut && st.some((s) => s < 300) && !r.cut) broken.push('cut answer passed as complete');
    if (!st.length && !r.cut && r.bytes.length === 0) broken.push(r.closed ? 'closed without a status' : 'no answer');
  } else if (a === 'serve') {
    if (st.length < probe.allowed.length || st.slice(0, probe.allowed.length).some((s) => s >= 300)) broken.push('valid requests not served');
  } else if (a === 'reject') {
    const served = probe.served ?? 0;
    // The origin answers 200 to these: a refusal among the first answers stands in for one it gave.
    if (st.slice(0, Math.min(served, complete.length)).some((s) => s >= 400)) broken.push('a refusal in place of an answer the origin gave');
    if (st.slice(served).some((s) => s < 400)) broken.push('not refused');
    if (st.length <= served && !r.closed) broken.push('no answer, still open');
  } else if (a === 'reject-or-close') {
    if (st.slice(0, Math.min(probe.served ?? 0, complete.length)).some((s) => s >= 400)) broken.push('a refusal in place of an answer the origin gave');
    if (!(st[0] >= 400) && !(r.closed && st.length <= probe.allowed.length)) broken.push('neither refused nor closed');
  } else if (Array.isArray(a) && !a.includes(st[0])) broken.push(`want ${a.join('/')}`);
  const origin1 = seen.length ? seen.map((s) => `${s.method} ${s.url.length > 20 ? `${s.url.slice(0, 17)}...` : s.url}${s.complete ? '' : ' (head only)'}`).join(' + ') : '—';
  const text = `${st.join(',') || '—'}${r.cut ? ' cut' : ''} ${r.closed ? 'closed' : 'open'}; origin: ${origin1}`;
  return { text, broken };
}

const probes = PROBES.filter((p) => !values.only || p.name.includes(values.only));
const hostile = Object.fromEntries(probes.filter((p) => p.theme === 'hostile-origin').map((p) => [hostilePath(p.name), { steps: p.origin ?? [], then: p.then ?? 'keep' }]));
const origin = await startRecordingOrigin({ hostile, probePath: PROBE_PATH });
const meridian = await startMeridian(origin.port);
const nginx = nginxBin ? await startNginx(origin.port) : undefined;
const rows = [];
try {
  for (const p of probes) {
    const m = await run(meridian.port, origin, p);
    const n = nginx ? await run(nginx.port, origin, p) : undefined;
    rows.push([p.theme, p.name, m, n]);
  }
} finally {
  await meridian.stop();
  await nginx?.stop();
  await origin.close();
}

const cell = (c) => (c ? `${c.text}${c.broken.length ? ` ✗ ${c.broken.join('; ')}` : ' ✓'}` : 'n/a');
const table = [['theme', 'probe', 'Meridian', nginx ? 'nginx' : 'nginx (not installed)', 'same?'], ...rows.map(([theme, name, m, n]) => [theme, name, cell(m), cell(n), n ? (m.text === n.text ? 'same' : 'different') : '']).map((r) => r.map(String))];
const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
for (const [i, r] of table.entries()) {
  console.log(`| ${r.map((c, j) => c.padEnd(widths[j])).join(' | ')} |`);
  if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
if (!nginx) console.log('\nnote: nginx is not installed (apt-get install -y nginx-light): its column is empty');
const count = (k) => rows.filter((r) => r[k]?.broken.length).length;
console.log(`\n${rows.length} probes; invariant broken: Meridian ${count(2)}${nginx ? `, nginx ${count(3)}` : ''}${nginx ? `; behaviour differs on ${rows.filter((r) => r[2].text !== r[3].text).length}` : ''}`);
