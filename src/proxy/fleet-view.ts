import { createHash } from 'node:crypto';
import { MeridianError } from '../common/errors.js';
import { assignProbers, tally, type Tally } from '../health/fleet-health.js';
import { fleetLatency } from '../routing/latency.js';
import { LiveState } from '../routing/live.js';
import { buildSnapshot, type RoutingSnapshot } from '../routing/snapshot.js';
import type { EjectionRecord, FleetStore, LoadTotal, MemberRecord, PublishedTable, VoteSet } from '../state/store.js';

/** What the fleet's store holds, read at one moment (see readFleet). */
export interface FleetState {
  fleet: string;
  store: string;
  now: number;
  table: PublishedTable | undefined;
  members: MemberRecord[];
  votes: Map<string, VoteSet>;
  ejections: EjectionRecord[];
  /** The last whole second's summed load, and which second it is. */
  load: { second: number; total: LoadTotal } | undefined;
}

export async function readFleet(store: FleetStore, now = Date.now()): Promise<FleetState> {
  const second = Math.floor(now / 1000) - 1;
  const [table, members, ejections, total] = await Promise.all([store.readTable(), store.members(), store.ejections(now), store.readLoad(second)]);
  const votes = await store.votes(
    members.map((m) => m.id),
    new Map(),
  );
  return { fleet: store.fleet, store: store.description, now, table, members, votes, ejections, load: total ? { second, total } : undefined };
}

export interface ProxyRow {
  id: string;
  host: string;
  region: string | null;
  version: string;
  tableVersion: string;
  /** Seconds since its last full read of the fleet. */
  syncLagSeconds: number;
  ageSeconds: number;
  probing: MemberRecord['probing'];
  rttMs: Record<string, number>;
}

export interface EndpointRow {
  address: string;
  /** The fleet's verdict: down when a majority of its probers vote so. */
  up: boolean;
  downVotes: number;
  probers: number;
  ejected: { until: number; by: string } | null;
}

export interface ShardRow {
  backend: string;
  cluster: string;
  region: string;
  endpoints: EndpointRow[];
  healthy: number;
  /** Requests per second the whole fleet sent it in the last whole second. */
  rateRps: number | null;
  capacityRps: number | 'unlimited';
}

export interface FleetView {
  fleet: string;
  store: string;
  table: { version: string; publishedAt: number; publisher: string; valid: boolean; error?: string } | null;
  proxies: ProxyRow[];
  probersPerEndpoint: number;
  loadSecond: number | null;
  shards: ShardRow[];
  /** The fleet's measured round trips, `from|to` → ms. */
  measuredRttMs: Record<string, number>;
}

/** The table of a published entry as a snapshot, or the reason it is not one. */
export function snapshotOf(t: PublishedTable): { snapshot?: RoutingSnapshot; error?: string } {
  if (createHash('sha256').update(t.body).digest('hex') !== t.sha256) return { error: 'its body does not match its checksum' };
  try {
    return { snapshot: buildSnapshot(JSON.parse(t.body)) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The most common probers-per-endpoint setting among the proxies (they should all agree). */
function fleetK(members: MemberRecord[]): number {
  const counts = new Map<number, number>();
  for (const m of members) counts.set(m.probing.k, (counts.get(m.probing.k) ?? 0) + 1);
  let best = 3;
  let n = 0;
  for (const [k, c] of counts) if (c > n) [best, n] = [k, c];
  return best;
}

/** Per endpoint of `snapshot`: its probers' tally, its ejection, and whether the fleet routes to it. */
export function fleetHealth(snapshot: RoutingSnapshot, s: FleetState): { tallies: Tally[]; ejections: (EjectionRecord | undefined)[]; healthy: boolean[] } {
  const assignment = assignProbers(snapshot.endpointKeys, s.members.map((m) => m.id), fleetK(s.members));
  const down = new Map([...s.votes].map(([id, v]) => [id, new Set(v.down) as ReadonlySet<string>]));
  const byEndpoint = new Map(s.ejections.map((r) => [r.endpoint, r]));
  const tallies = snapshot.endpointKeys.map((key, e) => tally(assignment, e, key, down));
  const ejections = snapshot.endpointKeys.map((key) => byEndpoint.get(key));
  return { tallies, ejections, healthy: tallies.map((t, e) => !(2 * t.down > t.probers) && !ejections[e]) };
}

/**
 * The fleet's view as routing state (pure): health from its verdicts and ejections, each shard's
 * fleet-wide rate, and the measured latencies — what `meridian route --redis` explains against.
 */
export function liveFromFleet(snapshot: RoutingSnapshot, s: FleetState): LiveState {
  const live = new LiveState(snapshot);
  fleetHealth(snapshot, s).healthy.forEach((h, e) => live.setHealthy(e, h));
  for (let id = 0; id < snapshot.shards.length; id++) live.shardRate[id] = s.load?.total.shards.get(snapshot.shardKeys[id]!)?.rate ?? 0;
  live.setMeasuredRtt(fleetLatency(s.members));
  return live;
}

/** The fleet's proxies at `now`, by id: each one's table, sync lag, age, probing and round trips (pure). */
export function proxyRows(members: readonly MemberRecord[], now: number): ProxyRow[] {
  return members
    .map((m) => ({
      id: m.id,
      host: m.host,
      region: m.region ?? null,
      version: m.version,
      tableVersion: m.tableVersion,
      syncLagSeconds: m.lastSyncAt ? Math.max(0, (now - m.lastSyncAt) / 1000) : Number.POSITIVE_INFINITY,
      ageSeconds: Math.max(0, (now - m.startedAt) / 1000),
      probing: m.probing,
      rttMs: m.rttMs,
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * The fleet as its proxies see it together (pure): each proxy's sync state, and per shard the
 * fleet's health verdict with its votes, ejections, and the fleet-wide rate against capacity.
 */
export function describeFleet(s: FleetState): FleetView {
  const k = fleetK(s.members);
  const proxies = proxyRows(s.members, s.now);
  const view: FleetView = {
    fleet: s.fleet,
    store: s.store,
    table: null,
    proxies,
    probersPerEndpoint: k,
    loadSecond: s.load?.second ?? null,
    shards: [],
    measuredRttMs: Object.fromEntries(fleetLatency(s.members)),
  };
  if (!s.table) return view;
  const { snapshot, error } = snapshotOf(s.table);
  view.table = { version: s.table.version, publishedAt: s.table.publishedAt, publisher: s.table.publisher, valid: !error, ...(error ? { error } : {}) };
  if (!snapshot) return view;
  const health = fleetHealth(snapshot, s);
  for (const sh of snapshot.shards) {
    const endpoints: EndpointRow[] = [];
    let healthy = 0;
    for (let e = sh.endpointStart; e < sh.endpointStart + sh.endpointCount; e++) {
      const t = health.tallies[e]!;
      const ej = health.ejections[e];
      const ep = snapshot.endpoints[e]!;
      endpoints.push({ address: `${ep.address.includes(':') ? `[${ep.address}]` : ep.address}:${ep.port}`, up: !(2 * t.down > t.probers), downVotes: t.down, probers: t.probers, ejected: ej ? { until: ej.until, by: ej.by } : null });
      if (health.healthy[e]) healthy++;
    }
    const load = s.load?.total.shards.get(snapshot.shardKeys[sh.id]!);
    const perEndpoint = sh.maxRatePerEndpoint;
    view.shards.push({
      backend: sh.backendName,
      cluster: sh.cluster,
      region: sh.region,
      endpoints,
      healthy,
      rateRps: s.load ? Math.round((load?.rate ?? 0) * 10) / 10 : null,
      capacityRps: perEndpoint === Number.POSITIVE_INFINITY ? 'unlimited' : healthy * perEndpoint * sh.capacityScaler,
    });
  }
  return view;
}

/** Columns padded to their widest cell, as kubectl prints. */
export function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n');
}

function age(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 120) return `${Math.floor(seconds)}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** The fleet as text: proxies, then shards with the fleet's verdicts and load. */
export function renderFleet(v: FleetView, wide = false): string {
  const out: string[] = [];
  const tableNote = v.table ? `table ${v.table.version}${v.table.valid ? '' : ` (INVALID: ${v.table.error})`}` : 'no routing table published';
  out.push(`Fleet ${v.fleet} at ${v.store}: ${v.proxies.length} ${v.proxies.length === 1 ? 'proxy' : 'proxies'}, ${tableNote}, ${v.probersPerEndpoint} probers per endpoint`);
  out.push('');
  if (v.proxies.length === 0) out.push('No proxies.');
  else {
    const head = ['NAME', 'HOST', 'REGION', 'TABLE', 'SYNC LAG', 'PROBES', 'AGE'];
    if (wide) head.push('RTT (MS)');
    out.push(
      columns([
        head,
        ...v.proxies.map((p) => {
          const row = [p.id, p.host, p.region ?? '-', p.tableVersion || '-', Number.isFinite(p.syncLagSeconds) ? `${p.syncLagSeconds.toFixed(1)}s` : 'never', `${p.probing.endpoints} (${p.probing.assigned} voting)`, age(p.ageSeconds)];
          if (wide) row.push(Object.entries(p.rttMs).map(([r, ms]) => `${r}=${ms}`).join(',') || '-');
          return row;
        }),
      ]),
    );
  }
  if (v.shards.length) {
    out.push('');
    const head = ['BACKEND', 'CLUSTER', 'REGION', 'HEALTHY', 'DOWN (VOTES)', 'EJECTED', 'RATE/CAPACITY'];
    out.push(
      columns([
        head,
        ...v.shards.map((s) => {
          const down = s.endpoints.filter((e) => e.downVotes > 0).map((e) => `${e.address} ${e.up ? 'up' : 'down'} ${e.downVotes}/${e.probers}`);
          const ejected = s.endpoints.filter((e) => e.ejected).map((e) => e.address);
          const cap = s.capacityRps === 'unlimited' ? 'unlimited' : String(Math.round(s.capacityRps));
          return [s.backend, s.cluster, s.region, `${s.healthy}/${s.endpoints.length}`, down.join(', ') || '-', ejected.join(', ') || '-', `${s.rateRps ?? '-'}/${cap}`];
        }),
      ]),
    );
  }
  const rtt = Object.entries(v.measuredRttMs);
  if (rtt.length) {
    out.push('');
    out.push(`Measured round trips: ${rtt.map(([pair, ms]) => `${pair.replace('|', ' → ')} ${Math.round(ms)} ms`).join(', ')}`);
  }
  return `${out.join('\n')}\n`;
}

/** A fleet with neither proxies nor a table is most likely a wrong name: say which fleets exist. */
export function unknownFleet(v: FleetView, others: string[]): MeridianError | undefined {
  if (v.proxies.length > 0 || v.table) return undefined;
  return new MeridianError(
    'E_FLEET_UNKNOWN',
    `no fleet "${v.fleet}" at ${v.store.replace(/ \(fleet .*\)$/, '')}: no proxies and no routing table`,
    others.length ? `fleets there: ${others.join(', ')} (--fleet NAME)` : 'nothing of Meridian\'s is there yet: proxies join with `meridian proxy --redis URL`, the controller publishes with `meridian controller --redis URL`',
  );
}
