import { shardCapacity } from '../routing/choose.js';
import { deriveHealth, type LiveState } from '../routing/live.js';
import type { RoutingSnapshot } from '../routing/snapshot.js';
import type { LatLon } from '../routing/table.js';
import type { MemberRecord } from '../state/store.js';
import { proxyRows, type ProxyRow } from './fleet-view.js';
import { largestFirst, type Flow, type FlowsReading } from './flows.js';
import type { TlsStatus } from './tls/status.js';

/**
 * What the status page shows, as JSON documents scripts can read too (GET /status and its parts
 * on the admin port). Pure shaping of the proxy's routing state: no I/O, the clock a parameter.
 */

/**
 * A cluster's state on the map: `up` every endpoint healthy; `degraded` some not, or a shard
 * drained; `drained` every shard with healthy endpoints drained (capacity scaler 0, or under 25 %
 * healthy); `down` no healthy endpoint; `idle` no backend has a shard there; `absent` no longer in
 * the routing table (the controller lists Ready members only).
 */
export type ClusterState = 'up' | 'degraded' | 'drained' | 'down' | 'idle' | 'absent';

export interface ClusterStatus {
  name: string;
  region: string;
  zone: string | null;
  /** Where the map puts it: the cluster's own location, else its shards', else its region's; null when unknown. */
  location: LatLon | null;
  state: ClusterState;
  /** Why, in words (for the page's tooltip and for scripts' logs). */
  reason: string;
  shards: number;
  endpoints: number;
  healthy: number;
  /** Requests per second its shards took in the last second (the fleet's when in a fleet). */
  rateRps: number;
}

export interface ShardStatus {
  backend: string;
  cluster: string;
  region: string;
  zone: string | null;
  endpoints: number;
  healthy: number;
  drained: boolean;
  /** The fleet's rate when known, else this proxy's (requests per second, last second). */
  rateRps: number;
  localRateRps: number;
  /** Healthy endpoints × max rate per endpoint × capacity scaler. */
  capacityRps: number | 'unlimited';
  capacityScaler: number;
  /** Shares of the traffic reaching the shard, and its region, that they admit (the rest spills on). */
  admitShare: number;
  regionAdmitShare: number;
}

export interface ProxyStatus {
  id: string;
  version: string;
  region: string | null;
  tableVersion: string;
  hasTable: boolean;
  draining: boolean;
  startedAt: number;
  now: number;
}

export interface FleetStatus {
  /** `standalone`: a proxy with no state store; `fleet`: proxies sharing one. */
  mode: 'standalone' | 'fleet';
  name: string | null;
  store: string | null;
  /** This proxy reads the fleet's state in time (a standalone proxy always is). */
  inSync: boolean;
  storeUp: boolean;
  /** Seconds since this proxy's last full read of the fleet (null: standalone, or never). */
  syncLagSeconds: number | null;
  proxies: ProxyRow[];
}

/** The flow counter's window, with where each client region is (for the map's arcs). */
export interface FlowsStatus extends Omit<FlowsReading, 'flows'> {
  flows: (Flow & { fromLocation: LatLon | null; rps: number })[];
}

/** Which workers of `meridian proxy --workers N` a document comes from (absent for a single process). */
export interface WorkersStatus {
  /** Workers asked (those connected to the primary when the document was asked for). */
  asked: number;
  /** Workers that answered within the deadline: the flows are their sum. */
  answered: number;
  /** The answering workers, the first the one whose table, health and fleet the document shows. */
  answeredBy: { worker: number; pid: number; proxy: string; flowRequests: number }[];
}

export interface StatusDocument {
  proxy: ProxyStatus;
  clusters: ClusterStatus[];
  shards: ShardStatus[];
  flows: FlowsStatus;
  fleet: FleetStatus;
  /** The certificates of the `tls: true` listeners (tls/status.ts); absent when the proxy has none. */
  tls?: TlsStatus;
  workers?: WorkersStatus;
}

/** The flows with their client regions' locations and their mean rate over the window (pure). */
export function flowsStatus(reading: FlowsReading, snapshot: RoutingSnapshot): FlowsStatus {
  return {
    ...reading,
    flows: reading.flows.map((f) => ({
      ...f,
      fromLocation: (f.from !== null ? regionLocation(snapshot, f.from) : undefined) ?? null,
      rps: reading.seconds > 0 ? round(f.requests / reading.seconds, 2) : 0,
    })),
  };
}

/**
 * Several processes' flows as one host's (pure): requests summed per (client region, cluster),
 * timelines summed second by second on the wall clock they share, over the window ending at the
 * latest closed second. A process a second behind the others still adds its whole window to the
 * flows' totals (its oldest second too), so totals can exceed the timeline's sum by that second.
 */
export function sumFlows(readings: readonly FlowsStatus[]): FlowsStatus {
  const windowSeconds = Math.max(0, ...readings.map((r) => r.windowSeconds));
  const timed = readings.filter((r) => r.from !== null && r.until !== null);
  const until = timed.length ? Math.max(...timed.map((r) => r.until!)) : null;
  const from = until === null ? null : Math.max(Math.min(...timed.map((r) => r.from!)), until - windowSeconds * 1000);
  const seconds = until === null ? 0 : Math.round((until - from!) / 1000);
  const timeline: Record<string, number[]> = {};
  for (const r of readings) {
    for (const [cluster, counts] of Object.entries(r.timeline)) {
      const sum = (timeline[cluster] ??= new Array<number>(seconds).fill(0));
      if (r.from === null || from === null) continue;
      const offset = Math.round((r.from - from) / 1000);
      counts.forEach((v, i) => {
        if (offset + i >= 0 && offset + i < seconds) sum[offset + i]! += v;
      });
    }
  }
  const byPair = new Map<string, FlowsStatus['flows'][number]>();
  for (const r of readings) {
    for (const f of r.flows) {
      const key = `${f.from ?? ''}\u0000${f.to}`;
      const seen = byPair.get(key);
      if (seen) {
        seen.requests += f.requests;
        seen.fromLocation ??= f.fromLocation;
      } else byPair.set(key, { ...f });
    }
  }
  const flows = [...byPair.values()].map((f) => ({ ...f, rps: seconds > 0 ? round(f.requests / seconds, 2) : 0 }));
  flows.sort(largestFirst);
  return { windowSeconds, seconds, from, until, flows, timeline };
}

const round = (v: number, places = 1) => Math.round(v * 10 ** places) / 10 ** places;

/** Per shard of the current table: healthy endpoints, rate against capacity, admission shares. */
export function shardStatus(snapshot: RoutingSnapshot, live: LiveState): ShardStatus[] {
  deriveHealth(live);
  const groupOf = new Int32Array(snapshot.shards.length);
  for (const b of snapshot.backends) for (const g of b.regions) for (const id of g.shards) groupOf[id] = g.id;
  return snapshot.shards.map((s) => {
    const cap = shardCapacity(live, s.id);
    return {
      backend: s.backendName,
      cluster: s.cluster,
      region: s.region,
      zone: s.zone ?? null,
      endpoints: s.endpointCount,
      healthy: live.healthyCount[s.id]!,
      drained: live.drained[s.id] === 1 || s.capacityScaler === 0,
      rateRps: round(live.shardRate[s.id]!),
      localRateRps: round(live.localRate[s.id]!),
      capacityRps: cap === Number.POSITIVE_INFINITY ? 'unlimited' : round(cap),
      capacityScaler: s.capacityScaler,
      admitShare: round(live.shardAdmit[s.id]!, 3),
      regionAdmitShare: round(live.regionAdmit[groupOf[s.id]!]!, 3),
    };
  });
}

/** A cluster the map showed, remembered after it left the table (see ClusterMemory). */
interface Remembered {
  region: string;
  zone: string | null;
  location: LatLon | null;
  /** When it was last in the table (ms). */
  lastSeen: number;
}

/**
 * Clusters the page has shown, remembered for `forgetAfterMs` after they leave the routing table:
 * a member that goes NotReady or Offline leaves the controller's table at once, and a map where
 * it silently disappears would hide the very outage it should show.
 */
export class ClusterMemory {
  private readonly seen = new Map<string, Remembered>();

  constructor(
    readonly forgetAfterMs = 15 * 60_000,
    /** Bound on the clusters remembered, the oldest forgotten first. */
    readonly max = 1_000,
  ) {}

  /** The table's clusters at `now`, then the remembered ones no longer in it. */
  clusters(snapshot: RoutingSnapshot, live: LiveState, now: number): ClusterStatus[] {
    const current = clusterStatus(snapshot, live);
    for (const c of current) {
      this.seen.delete(c.name); // re-inserted last: the Map keeps them by last sighting, so the bound drops the longest gone
      this.seen.set(c.name, { region: c.region, zone: c.zone, location: c.location, lastSeen: now });
    }
    const absent: ClusterStatus[] = [];
    const inTable = new Set(current.map((c) => c.name));
    for (const [name, r] of this.seen) {
      if (inTable.has(name)) continue;
      if (now - r.lastSeen > this.forgetAfterMs) {
        this.seen.delete(name);
        continue;
      }
      absent.push({
        name,
        region: r.region,
        zone: r.zone,
        location: r.location,
        state: 'absent',
        reason: `not in the routing table for ${Math.round((now - r.lastSeen) / 1000)} s: the controller lists Ready members only (NotReady, Offline, or removed from the federation)`,
        shards: 0,
        endpoints: 0,
        healthy: 0,
        rateRps: 0,
      });
    }
    while (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value!);
    return [...current, ...absent.sort((a, b) => a.name.localeCompare(b.name))];
  }
}

/** Per cluster of the current table: where it is and how healthy, summed over its shards (pure). */
export function clusterStatus(snapshot: RoutingSnapshot, live: LiveState): ClusterStatus[] {
  deriveHealth(live);
  const out: ClusterStatus[] = [];
  for (let c = 0; c < snapshot.clusters.length; c++) {
    const name = snapshot.clusters[c]!;
    const info = snapshot.table.clusters[name];
    const shards = snapshot.shards.filter((s) => s.clusterIdx === c);
    const cell = snapshot.clusterCell[c]!;
    const region = info?.region ?? shards[0]?.region ?? (cell >= 0 ? snapshot.regions[cell]! : 'unknown');
    const location = info?.location ?? shardLocation(snapshot, name) ?? regionLocation(snapshot, region) ?? null;
    let endpoints = 0;
    let healthy = 0;
    let rate = 0;
    let drained = 0;
    let withoutHealthy = 0;
    for (const s of shards) {
      endpoints += s.endpointCount;
      healthy += live.healthyCount[s.id]!;
      rate += live.shardRate[s.id]!;
      if (live.healthyCount[s.id]! === 0) withoutHealthy++;
      else if (live.drained[s.id] === 1 || s.capacityScaler === 0) drained++;
    }
    const [state, reason] = ((): [ClusterState, string] => {
      if (shards.length === 0) return ['idle', 'no backend has a shard here'];
      if (healthy === 0) return ['down', endpoints === 0 ? 'no ready endpoint: the cluster lists none for its Services' : `none of its ${endpoints} endpoints is healthy`];
      if (drained + withoutHealthy === shards.length) return ['drained', 'every shard with healthy endpoints is drained (capacity scaler 0, or under 25 % healthy)'];
      if (healthy < endpoints || drained > 0 || withoutHealthy > 0) return ['degraded', `${healthy} of ${endpoints} endpoints healthy${drained ? `, ${drained} shard(s) drained` : ''}`];
      return ['up', `${healthy} of ${endpoints} endpoints healthy`];
    })();
    out.push({
      name,
      region,
      zone: shards.find((s) => s.zone)?.zone ?? null,
      location,
      state,
      reason,
      shards: shards.length,
      endpoints,
      healthy,
      rateRps: round(rate),
    });
  }
  return out;
}

function shardLocation(snapshot: RoutingSnapshot, cluster: string): LatLon | undefined {
  for (const b of Object.values(snapshot.table.backends)) for (const s of b.shards) if (s.cluster === cluster && s.location) return s.location;
  return undefined;
}

function regionLocation(snapshot: RoutingSnapshot, region: string): LatLon | undefined {
  const i = snapshot.regionByName.get(region);
  return i === undefined ? undefined : snapshot.regionLocations[i];
}

/** A proxy with a state store: the fleet as it last read it; without one, itself alone. */
export function fleetStatus(
  self: MemberRecord,
  fleet: { fleet: string; store: string; members: readonly MemberRecord[]; lastSyncAt: number; storeUp: boolean; inSync: boolean } | undefined,
  now: number,
): FleetStatus {
  if (!fleet) return { mode: 'standalone', name: null, store: null, inSync: true, storeUp: true, syncLagSeconds: null, proxies: proxyRows([self], now) };
  return {
    mode: 'fleet',
    name: fleet.fleet,
    store: fleet.store,
    inSync: fleet.inSync,
    storeUp: fleet.storeUp,
    syncLagSeconds: fleet.lastSyncAt ? round(Math.max(0, (now - fleet.lastSyncAt) / 1000), 2) : null,
    proxies: proxyRows(fleet.members.some((m) => m.id === self.id) ? fleet.members : [...fleet.members, self], now),
  };
}
