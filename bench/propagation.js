// Propagation latency (create in the federation API → present in every member) and controller
// memory, with the controller as its own process against the sandbox.
// Run: npm run build && node bench/propagation.js [--clusters 9,100] [--objects 200] [--memory-objects 2000]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startSandbox } from '../dist/sandbox/sandbox.js';
import { liveHeap } from './lib/inspector.js';

const { values } = parseArgs({ options: { clusters: { type: 'string', default: '9,100' }, objects: { type: 'string', default: '200' }, 'memory-objects': { type: 'string', default: '2000' } } });
const CM = { group: '', resource: 'configmaps' };
const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function waitFor(check, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out');
}

for (const n of values.clusters.split(',').map(Number)) {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-prop-'));
  const sb = await startSandbox({ clusters: String(n), kubeconfigPath: join(dir, 'kubeconfig') });
  const port = 19000 + Math.floor(Math.random() * 1000);
  const inspectorPort = port + 1000;
  const ctl = spawn(process.execPath, [`--inspect=127.0.0.1:${inspectorPort}`, 'dist/cli/main.js', 'controller', '--kubeconfig', sb.kubeconfigPath, '--probe-interval', '1s', '--resync', '60s', '--metrics-addr', `127.0.0.1:${port}`], {
    env: { ...process.env, MERIDIAN_LOG_LEVEL: 'error' },
    stdio: 'inherit',
  });
  const metricsUrl = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await metric(metricsUrl, 'meridian_controller_cluster_ready').catch(() => 0)) >= 0 && sb.federation.store.list({ group: 'federation.meridian.dev', resource: 'clusters' }).items.every((c) => c.status?.state === 'Ready'), 60_000);
    // Every member tells us when each object lands.
    const seen = new Map();
    for (const m of sb.members.values()) {
      m.store.watch(CM, 'default', undefined, (type, obj) => {
        if (type !== 'ADDED' || !obj.metadata.name.startsWith('prop-')) return;
        const s = seen.get(obj.metadata.name);
        if (!s) return;
        s.count++;
        s.last = performance.now();
      });
    }
    const objects = Number(values.objects);
    const latencies = [];
    for (let i = 0; i < objects; i++) {
      const name = `prop-${i}`;
      const entry = { start: performance.now(), count: 0, last: 0 };
      seen.set(name, entry);
      await fetch(`${sb.federation.url}/api/v1/namespaces/default/configmaps`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { i: String(i) } }),
      });
      await waitFor(() => entry.count >= n, 30_000);
      latencies.push(entry.last - entry.start);
    }
    const heapBefore = await liveHeap(inspectorPort);
    const bulk = Number(values['memory-objects']);
    if (n <= 9 && bulk > 0) {
      for (let i = 0; i < bulk; i++) {
        sb.federation.store.create(CM, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `mem-${i}`, namespace: 'default' }, data: { i: String(i) } });
      }
      await waitFor(() => [...sb.members.values()].every((m) => m.store.list(CM, 'default').items.length >= objects + bulk), 600_000);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const heapAfter = await liveHeap(inspectorPort);
    const rss = await metric(metricsUrl, 'meridian_controller_process_resident_memory_bytes');
    console.log(
      JSON.stringify({
        clusters: n,
        objects,
        p50Ms: Math.round(pct(latencies, 50)),
        p99Ms: Math.round(pct(latencies, 99)),
        maxMs: Math.round(Math.max(...latencies)),
        ...(n <= 9 && bulk > 0 ? { heapMiBPer10kObjects: Math.round((((heapAfter - heapBefore) / bulk) * 10_000) / 2 ** 20), rssMiB: Math.round(rss / 2 ** 20), memoryObjects: bulk } : {}),
      }),
    );
  } finally {
    ctl.kill('SIGTERM');
    await new Promise((r) => ctl.once('exit', r));
    await sb.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
