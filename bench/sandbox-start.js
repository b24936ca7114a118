// Sandbox start-up cost: time until N member clusters (plus the federation) answer, and heap used.
// Run: npm run build && node bench/sandbox-start.js [N ...]   (default: 9 100)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox } from '../dist/sandbox/sandbox.js';

const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
for (const n of counts.length ? counts : [9, 100]) {
  const dir = mkdtempSync(join(tmpdir(), 'meridian-bench-'));
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const sb = await startSandbox({ clusters: String(n), kubeconfigPath: join(dir, 'kubeconfig') });
  await Promise.all([sb.federation, ...sb.members.values()].map((c) => fetch(`${c.url}/readyz`).then((r) => r.text())));
  const ms = performance.now() - t0;
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  console.log(JSON.stringify({ clusters: n, readyMs: Math.round(ms), heapMiB: Math.round(heapMiB * 10) / 10 }));
  await sb.stop();
  rmSync(dir, { recursive: true, force: true });
}
