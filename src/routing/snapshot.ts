import { MeridianError } from '../common/errors.js';
import { CidrMap } from './cidr.js';
import { greatCircleKm, MEASURED_REGIONS, REGION_LOCATIONS, REGION_RTT_MS, regionRttMs } from './geo.js';
import { NO_MEASUREMENTS, rttKey, type MeasuredRtt } from './latency.js';
import { compileRoutes, defaultRoute, type CompiledRoute } from './match.js';
import { RoutingTableSchema, type LatLon, type RoutingTable } from './table.js';

export interface EndpointView {
  address: string;
  port: number;
  name?: string;
  shard: number;
}

export interface ShardView {
  id: number;
  backend: number;
  backendName: string;
  cluster: string;
  clusterIdx: number;
  region: string;
  regionIdx: number;
  zone?: string;
  /** Endpoint ids are contiguous per shard: [endpointStart, endpointStart + endpointCount). */
  endpointStart: number;
  endpointCount: number;
  /** Requests per second per endpoint; Infinity when unlimited. */
  maxRatePerEndpoint: number;
  capacityScaler: number;
}

export interface RegionGroup {
  id: number;
  regionIdx: number;
  shards: number[];
}

export interface BackendView {
  name: string;
  shards: number[];
  byCluster: Map<number, number>;
  /** Shards grouped by region (`regionIdx` into `regions` of the snapshot; `id` numbers the groups of all backends). */
  regions: RegionGroup[];
  /** Per client cell: the order in which this backend's regions are tried (indices into `regions`). */
  orderByCell: Map<number, Int32Array>;
}

/**
 * An immutable, pre-computed view of a routing table: what the per-request choice reads. Built
 * once per table version; everything a request needs is an index lookup away.
 */
export interface RoutingSnapshot {
  version: string;
  table: RoutingTable;
  routes: CompiledRoute[];
  defaultBackend: number;
  /** What requests no route matches take (backend -1 without a default backend). */
  defaultRoute: CompiledRoute;
  backends: BackendView[];
  backendByName: Map<string, number>;
  shards: ShardView[];
  endpoints: EndpointView[];
  clusters: string[];
  clusterByName: Map<string, number>;
  /** Client address → index of the cluster it is inside of. */
  clientCIDRs: CidrMap<number>;
  /** Per cluster index, the cell (region index) of the cluster: where its in-cluster clients are. */
  clusterCell: Int32Array;
  /** Every region known by location: the table's and geoip/regions.json's. */
  regions: string[];
  regionByName: Map<string, number>;
  regionLocations: (LatLon | undefined)[];
  /** The cell used for clients of unknown location (the proxy's own region), or -1. */
  defaultCell: number;
  /** Per region: 1 when the measured latency table knows it or the table has shards there (preferred as a cell). */
  regionPreferred: Uint8Array;
  /** How many region groups the backends have in all. */
  groupCount: number;
  /**
   * Identities that outlive this snapshot, by index: learned state (health, ejections, admission)
   * is keyed by them, so a new table and every proxy of the fleet find it again.
   * Endpoint `backend|cluster|address:port`, shard `backend|cluster`, region group `backend|region`.
   */
  endpointKeys: string[];
  shardKeys: string[];
  groupKeys: string[];
  endpointByKey: Map<string, number>;
  shardByKey: Map<string, number>;
  groupByKey: Map<string, number>;
}

export interface SnapshotOptions {
  /** The proxy's own region: where clients of unknown location are assumed to be. */
  region?: string;
  location?: LatLon;
}

export function buildSnapshot(input: unknown, opts: SnapshotOptions = {}): RoutingSnapshot {
  const parsed = RoutingTableSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MeridianError('E_TABLE_INVALID', `routing table: ${issue.path.join('.') || '(root)'}: ${issue.message}`, 'see the routing table format in the README');
  }
  const table = parsed.data;

  const regions: string[] = [];
  const regionByName = new Map<string, number>();
  const regionLocations: (LatLon | undefined)[] = [];
  const addRegion = (name: string, loc?: LatLon) => {
    let i = regionByName.get(name);
    if (i === undefined) {
      i = regions.length;
      regions.push(name);
      regionByName.set(name, i);
      regionLocations.push(loc ?? REGION_LOCATIONS.get(name));
    } else if (loc && !regionLocations[i]) regionLocations[i] = loc;
    return i;
  };
  for (const [name, loc] of REGION_LOCATIONS) addRegion(name, loc);

  const clusters: string[] = [];
  const clusterByName = new Map<string, number>();
  const addCluster = (name: string) => {
    let i = clusterByName.get(name);
    if (i === undefined) {
      clusterByName.set(name, (i = clusters.length));
      clusters.push(name);
    }
    return i;
  };
  const cidrEntries: [string, number][] = [];
  for (const [name, info] of Object.entries(table.clusters)) {
    const idx = addCluster(name);
    addRegion(info.region, info.location);
    for (const cidr of info.clientCIDRs) cidrEntries.push([cidr, idx]);
  }

  const backends: BackendView[] = [];
  const backendByName = new Map<string, number>();
  const shards: ShardView[] = [];
  const endpoints: EndpointView[] = [];
  let groupCount = 0;
  for (const [name, backend] of Object.entries(table.backends)) {
    const b = backends.length;
    backendByName.set(name, b);
    const view: BackendView = { name, shards: [], byCluster: new Map(), regions: [], orderByCell: new Map() };
    for (const shard of backend.shards) {
      const id = shards.length;
      const clusterIdx = addCluster(shard.cluster);
      const regionIdx = addRegion(shard.region, shard.location);
      if (view.byCluster.has(clusterIdx)) {
        throw new MeridianError('E_TABLE_INVALID', `backend "${name}" has two shards in cluster "${shard.cluster}"`, 'merge their endpoints into one shard');
      }
      shards.push({
        id,
        backend: b,
        backendName: name,
        cluster: shard.cluster,
        clusterIdx,
        region: shard.region,
        regionIdx,
        ...(shard.zone ? { zone: shard.zone } : {}),
        endpointStart: endpoints.length,
        endpointCount: shard.endpoints.length,
        maxRatePerEndpoint: shard.maxRatePerEndpoint ?? Number.POSITIVE_INFINITY,
        capacityScaler: shard.capacityScaler,
      });
      for (const e of shard.endpoints) endpoints.push({ address: e.address, port: e.port, ...(e.name ? { name: e.name } : {}), shard: id });
      view.shards.push(id);
      view.byCluster.set(clusterIdx, id);
      let group = view.regions.find((g) => g.regionIdx === regionIdx);
      if (!group) view.regions.push((group = { id: groupCount++, regionIdx, shards: [] }));
      group.shards.push(id);
    }
    backends.push(view);
  }

  const shardKeys = shards.map((sh) => shardKey(sh.backendName, sh.cluster));
  const endpointKeys = endpoints.map((e) => endpointKey(shardKeys[e.shard]!, e.address, e.port));
  const groupKeys: string[] = new Array<string>(groupCount);
  for (const b of backends) for (const g of b.regions) groupKeys[g.id] = `${b.name}|${regions[g.regionIdx]}`;

  const routes = compileRoutes(table.routes, backendByName);
  let defaultBackend = -1;
  if (table.defaultBackend !== undefined) {
    defaultBackend = backendByName.get(table.defaultBackend) ?? -1;
    if (defaultBackend < 0) throw new MeridianError('E_TABLE_INVALID', `defaultBackend "${table.defaultBackend}" is not a backend of the table`, `backends: ${[...backendByName.keys()].join(', ')}`);
  }

  const clusterCell = new Int32Array(clusters.length).fill(-1);
  for (const [name, info] of Object.entries(table.clusters)) clusterCell[clusterByName.get(name)!] = regionByName.get(info.region) ?? -1;
  for (const sh of shards) if (clusterCell[sh.clusterIdx] === -1) clusterCell[sh.clusterIdx] = sh.regionIdx;
  const regionPreferred = new Uint8Array(regions.length + 1);
  for (const sh of shards) regionPreferred[sh.regionIdx] = 1;
  for (let i = 0; i < regions.length; i++) if (MEASURED_REGIONS.has(regions[i]!)) regionPreferred[i] = 1;
  const ownRegion = opts.region !== undefined ? addRegion(opts.region, opts.location) : opts.location ? nearestCellTo(opts.location, regionLocations, regionPreferred) : -1;
  return {
    version: table.version,
    table,
    routes,
    defaultBackend,
    defaultRoute: defaultRoute(defaultBackend, table.defaultHttps),
    backends,
    backendByName,
    shards,
    endpoints,
    clusters,
    clusterByName,
    clientCIDRs: new CidrMap(cidrEntries, 'clientCIDR'),
    clusterCell,
    regions,
    regionByName,
    regionLocations,
    defaultCell: ownRegion,
    regionPreferred,
    groupCount,
    endpointKeys,
    shardKeys,
    groupKeys,
    endpointByKey: indexByKey(endpointKeys),
    shardByKey: indexByKey(shardKeys),
    groupByKey: indexByKey(groupKeys),
  };
}

export function shardKey(backend: string, cluster: string): string {
  return `${backend}|${cluster}`;
}

export function endpointKey(shard: string, address: string, port: number): string {
  return `${shard}|${address.includes(':') ? `[${address}]` : address}:${port}`;
}

function indexByKey(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  // An address listed twice in one shard is one endpoint: the first index stands for it.
  keys.forEach((k, i) => {
    if (!m.has(k)) m.set(k, i);
  });
  return m;
}

type NumberArray = Int8Array | Uint8Array | Int32Array | Float64Array;

/** Copies into `into[i]` the value `from[index[i]]` wherever the identity was known (index ≥ 0). */
export function carryValues<T extends NumberArray>(into: T, from: T, index: Int32Array): T {
  for (let i = 0; i < index.length; i++) {
    const j = index[i]!;
    if (j >= 0) into[i] = from[j]!;
  }
  return into;
}

/**
 * For each index of `next`, the index of the same identity in `previous` (-1 when new): how
 * learned state follows its owner from one snapshot to the next.
 */
export function carryIndex(previous: ReadonlyMap<string, number>, nextKeys: readonly string[]): Int32Array {
  const out = new Int32Array(nextKeys.length);
  for (let i = 0; i < nextKeys.length; i++) out[i] = previous.get(nextKeys[i]!) ?? -1;
  return out;
}

/**
 * The known region nearest to `loc`. Several clouds often have a region in the same city (Tokyo:
 * GCP's asia-northeast1, AWS's ap-northeast-1, Azure's japaneast); among those within
 * SAME_PLACE_KM of the nearest, a region the measured latency table knows (or one this table has
 * shards in) is preferred, so a client there is ranked by measured round trips rather than by
 * distance — which would send Tokyo to Europe before the U.S.
 */
function nearestCellTo(loc: LatLon, locations: readonly (LatLon | undefined)[], preferred?: Uint8Array): number {
  let best = -1;
  let bestKm = Number.POSITIVE_INFINITY;
  const km = new Float64Array(locations.length).fill(Number.POSITIVE_INFINITY);
  for (let i = 0; i < locations.length; i++) {
    const l = locations[i];
    if (!l) continue;
    km[i] = greatCircleKm(loc, l);
    if (km[i]! < bestKm) {
      bestKm = km[i]!;
      best = i;
    }
  }
  if (!preferred || best < 0 || preferred[best]) return best;
  let pick = best;
  let pickKm = Number.POSITIVE_INFINITY;
  for (let i = 0; i < locations.length; i++) {
    if (preferred[i] && km[i]! <= bestKm + SAME_PLACE_KM && km[i]! < pickKm) {
      pick = i;
      pickKm = km[i]!;
    }
  }
  return pick;
}

/** Regions this close to the nearest one are in the same place, for choosing a client's cell. */
const SAME_PLACE_KM = 150;

/**
 * The client's cell: the known region nearest to its location (see nearestCellTo). Costs a scan
 * of the regions, so callers cache it with the GeoIP answer (per /24).
 */
export function locateClient(snapshot: RoutingSnapshot, location: LatLon | undefined): number {
  return location ? nearestCellTo(location, snapshot.regionLocations, snapshot.regionPreferred) : snapshot.defaultCell;
}

export type RttSource = 'same-region' | 'fleet' | 'table' | 'distance' | 'unknown';

/**
 * Estimated RTT from a client cell to a region (ms), and where it comes from: the fleet's fresh
 * measurements (proxies in the client's region timing their probes), else the static table of
 * measured inter-region figures, else great-circle distance.
 */
export function cellRtt(snapshot: RoutingSnapshot, cell: number, regionIdx: number, measured: MeasuredRtt = NO_MEASUREMENTS): { ms: number; source: RttSource } {
  if (cell < 0) return { ms: 0, source: 'unknown' };
  const from = snapshot.regions[cell]!;
  const to = snapshot.regions[regionIdx]!;
  if (from === to) return { ms: 0, source: 'same-region' };
  const fleet = measured.get(rttKey(from, to));
  if (fleet !== undefined) return { ms: fleet, source: 'fleet' };
  if (REGION_RTT_MS.has(`${from}|${to}`)) return { ms: REGION_RTT_MS.get(`${from}|${to}`)!, source: 'table' };
  const locations = new Map<string, LatLon>();
  const fl = snapshot.regionLocations[cell];
  const tl = snapshot.regionLocations[regionIdx];
  if (fl) locations.set(from, fl);
  if (tl) locations.set(to, tl);
  const ms = regionRttMs(from, to, locations);
  return { ms, source: Number.isFinite(ms) ? 'distance' : 'unknown' };
}

/** The order in which a backend's regions are tried for clients of a cell; memoized until the measurements change. */
export function regionOrder(snapshot: RoutingSnapshot, backend: BackendView, cell: number, measured: MeasuredRtt = NO_MEASUREMENTS): Int32Array {
  let order = backend.orderByCell.get(cell);
  if (order) return order;
  const idx = backend.regions.map((_, i) => i);
  const rtt = backend.regions.map((g) => cellRtt(snapshot, cell, g.regionIdx, measured).ms);
  idx.sort((a, b) => rtt[a]! - rtt[b]! || snapshot.regions[backend.regions[a]!.regionIdx]!.localeCompare(snapshot.regions[backend.regions[b]!.regionIdx]!));
  order = Int32Array.from(idx);
  backend.orderByCell.set(cell, order);
  return order;
}

/** Forgets the memoized region orders (the measured latencies changed). */
export function forgetRegionOrders(snapshot: RoutingSnapshot): void {
  for (const b of snapshot.backends) b.orderByCell.clear();
}
