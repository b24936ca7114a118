// choose() cost at 100 clusters × 1,000 endpoints per cluster, against a round-robin baseline
// measured in the same run, and the GeoIP path (cached vs uncached).
// Run: npm run build && node bench/choose.js
import { choose, newDecision } from '../dist/routing/choose.js';
import { GeoLocator } from '../dist/routing/geoip.js';
import { LiveState } from '../dist/routing/live.js';
import { buildSnapshot, locateClient } from '../dist/routing/snapshot.js';

const REGIONS = ['asia-east1', 'europe-west1', 'us-central1', 'us-east1', 'us-west1', 'asia-northeast1', 'europe-west4', 'southamerica-east1', 'australia-southeast1', 'asia-southeast1'];
const CLUSTERS = 100;
const ENDPOINTS = 1000;
const shards = Array.from({ length: CLUSTERS }, (_, c) => ({
  cluster: `c${c}`,
  region: REGIONS[c % REGIONS.length],
  endpoints: Array.from({ length: ENDPOINTS }, (_, e) => ({ address: `10.${c}.${e >> 8}.${e & 255}`, port: 80 })),
  maxRatePerEndpoint: 100,
}));
const snap = buildSnapshot({ version: 'bench', backends: { svc: { shards } }, defaultBackend: 'svc' });
const live = new LiveState(snap);
for (let i = 0; i < snap.endpoints.length; i += 7) live.setHealthy(i, false);
for (let s = 0; s < snap.shards.length; s++) live.shardRate[s] = Math.random() * 50_000;

let seed = 1;
const rng = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const cells = [{ lat: 25, lon: 121 }, { lat: 51.5, lon: 0 }, { lat: 41.9, lon: -87.6 }, { lat: -33.9, lon: 151.2 }].map((l) => locateClient(snap, l));
const out = newDecision();

function time(label, n, fn) {
  for (let i = 0; i < n / 10; i++) fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  return { label, nsPerOp: Math.round(ns) };
}

let rr = 0;
const baseline = time('round-robin baseline', 2_000_000, () => {
  rr = (rr + 1) % snap.endpoints.length;
  out.endpoint = rr;
});
const chooseCost = time(`choose() ${CLUSTERS} clusters × ${ENDPOINTS} endpoints`, 1_000_000, (i) => choose({ cell: cells[i & 3], sourceCluster: -1 }, snap, live, 0, rng, undefined, out));

const geo = await GeoLocator.open();
const ips = Array.from({ length: 1000 }, (_, i) => `${1 + (i % 200)}.${(i * 7) % 256}.${(i * 13) % 256}.${i % 256}`);
const cached = time('GeoIP lookup, warm /24 cache', 1_000_000, (i) => geo.lookup(ips[i % ips.length]));
const cold = await GeoLocator.open({ cacheSize: 1 });
const uncached = time('GeoIP lookup, no cache', 100_000, (i) => cold.lookup(`${1 + (i % 200)}.${i % 256}.${(i >> 8) % 256}.1`));

for (const r of [baseline, chooseCost, cached, uncached]) console.log(`${r.label.padEnd(48)} ${String(r.nsPerOp).padStart(7)} ns/op`);
console.log(JSON.stringify({ chooseNs: chooseCost.nsPerOp, chooseVsRoundRobin: +(chooseCost.nsPerOp / baseline.nsPerOp).toFixed(1), geoCachedNs: cached.nsPerOp, geoUncachedNs: uncached.nsPerOp }));
