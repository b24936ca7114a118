import { createHash } from 'node:crypto';
import { MeridianError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { assignedTo, assignProbers, fleetVerdicts, type ProbeAssignment } from '../health/fleet-health.js';
import type { Prober } from '../health/prober.js';
import type { FleetLoad, PeriodLoad } from '../routing/admission.js';
import { fleetLatency, latencyMoved } from '../routing/latency.js';
import type { RoutingSnapshot } from '../routing/snapshot.js';
import type { EjectionRecord, FleetMessage, FleetStore, LoadReport, LoadTotal, MemberRecord, VoteSet } from '../state/store.js';
import type { ProxyMetrics } from './metrics.js';
import { parseCertificateBundle, type CertificateBundle } from './tls/bundle.js';
import type { RoutingState } from './routing-state.js';

export interface FleetSyncOptions {
  store: FleetStore;
  state: RoutingState;
  prober: Prober;
  metrics: ProxyMetrics;
  logger: Logger;
  id: string;
  host: string;
  region?: string;
  version: string;
  /** The routing table comes from the store (else from this proxy's config). */
  follow: boolean;
  probersPerEndpoint: number;
  staleAfterMs: number;
  memberTtlMs: number;
  /** The fleet's session-ticket key (TLS listeners only): read with the rest each second, and on its message. */
  ticketKeys?: { refresh(): Promise<void>; heard(generation: number): Promise<void>; storeUnreachable(): void };
  /** Applies a table from the store; throws when it is not valid (it is then not applied). */
  applyTable: (table: unknown) => void;
  /** When following: applies the federation's certificates from the store (the proxy has a TLS listener and no certificatesFile). */
  applyCertificates?: (bundle: CertificateBundle) => void;
  now?: () => number;
}

/** Keyed by identity, so it still means something after the table changed. */
interface OwnReport {
  second: number;
  report: LoadReport;
  stored: boolean;
}

/**
 * One proxy's membership of the fleet: a background loop around the state store that never
 * holds a request up. Once a second, on the wall clock's second, it adds this proxy's load of
 * the second just closed to the fleet's sum; half a second later it reads the fleet (members,
 * votes, ejections, the summed load, the table's version) and refreshes its votes in one
 * pipeline, then its heartbeat. Between those, pub/sub carries what must travel fast: a new table,
 * a changed vote, an ejection, a recovery.
 *
 * While the store cannot be read for `staleAfterMs`, the proxy stands on its own: it probes every
 * endpoint itself (starting from the fleet's last verdicts), admits against the part of each
 * shard's capacity it last had, keeps the ejections it knows, and keeps serving the last good
 * table. When the store is back it republishes what it knows and rejoins.
 */
export class FleetSync {
  private readonly now: () => number;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly startedAt: number;
  private members: MemberRecord[] = [];
  private memberIds = '';
  private assignment: ProbeAssignment | undefined;
  private assignmentFor: { snapshot: RoutingSnapshot; ids: string } | undefined;
  /** Endpoints this proxy votes on (1 = assigned). */
  private assigned: Uint8Array = new Uint8Array(0);
  /** Every prober's down set, this proxy's own included (kept from its live state). */
  private readonly votes = new Map<string, { version: number; down: Set<string> }>();
  private ownVotes: VoteSet = { version: 0, down: [] };
  private readonly reports: OwnReport[] = [];
  private lastTotal: { second: number; total: LoadTotal } | undefined;
  private lastSyncAt = 0;
  private gathering = false;
  private fresh = false;
  private storeUp = true;
  private tableVersion = '';
  private tableFetch: Promise<void> | undefined;
  private readonly rejectedTables = new Set<string>();
  private certificatesVersion = '';
  private certificatesFetch: Promise<void> | undefined;
  private readonly rejectedCertificates = new Set<string>();

  constructor(private readonly o: FleetSyncOptions) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
    this.ownVotes.version = this.startedAt; // a restarted proxy's votes always read as new
  }

  get isFresh(): boolean {
    return this.fresh;
  }

  /** The fleet as this proxy last read it, and its own sync state (for the status page: no store read). */
  get view(): { fleet: string; store: string; members: readonly MemberRecord[]; lastSyncAt: number; storeUp: boolean; inSync: boolean } {
    return { fleet: this.o.store.fleet, store: this.o.store.description, members: this.members, lastSyncAt: this.lastSyncAt, storeUp: this.storeUp, inSync: this.fresh };
  }

  /** The table version this proxy serves ('' before it has one). */
  get servingVersion(): string {
    return this.tableVersion;
  }

  /** Joins: subscribes, fetches the table (when following) and the fleet's state, then syncs every second. */
  async start(): Promise<void> {
    const { store, state, metrics } = this.o;
    store.onConnectionChange((up, reason) => this.setStoreUp(up, reason));
    state.onOwnVerdict = (e) => this.ownVerdictChanged(e);
    state.onEjected = (e, since, until, times) => this.ejected(e, since, until, times);
    state.onRecovered = (e, at) => this.recovered(e, at);
    state.fleetLoad = () => this.fleetLoad();
    metrics.storeSource = () => ({ up: this.storeUp && this.fresh, lagSeconds: this.lastSyncAt ? (this.now() - this.lastSyncAt) / 1000 : Number.NaN, proxies: this.members.length });
    await store.subscribe((m) => this.onMessage(m)).catch((err: unknown) => this.failed('subscribe', err));
    if (this.o.follow) await this.fetchTable();
    if (this.followsCertificates) await this.fetchCertificates();
    await this.gather();
    this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.o.store.leave(this.o.id).catch(() => {});
    await this.o.store.close();
  }

  /** Half a second after each wall-clock second: read the fleet. */
  private arm(): void {
    if (this.stopped) return;
    const now = this.now();
    const next = 1000 - (now % 1000) + 500;
    this.timer = setTimeout(() => {
      void this.gather().finally(() => this.arm());
    }, next % 1000 || 1000);
    this.timer.unref();
  }

  // ---- load -------------------------------------------------------------------------------

  /**
   * The period `second` has closed with this proxy's load `own` (by the snapshot's indices):
   * add it to the fleet's sum. Called from the routing state's tick, before admission.
   */
  periodClosed(second: number, own: PeriodLoad): void {
    const snap = this.o.state.snapshot;
    const report: LoadReport = { shards: {}, groups: {} };
    for (let s = 0; s < snap.shards.length; s++) if (own.shardRate[s]! > 0 || own.shardDemand[s]! > 0) report.shards[snap.shardKeys[s]!] = [own.shardRate[s]!, own.shardDemand[s]!];
    for (let g = 0; g < snap.groupCount; g++) if (own.groupDemand[g]! > 0) report.groups[snap.groupKeys[g]!] = own.groupDemand[g]!;
    const entry: OwnReport = { second, report, stored: false };
    this.reports.push(entry);
    if (this.reports.length > 5) this.reports.shift();
    this.o.store.reportLoad(second, report).then(
      () => (entry.stored = true),
      (err: unknown) => this.failed('report', err),
    );
  }

  /**
   * The fleet's load for admission: the newest second the fleet has summed (with this proxy's part
   * in it), in the current snapshot's indices. Undefined when there is none fresh, or this proxy
   * is alone (then its own load is the fleet's, one period sooner).
   */
  fleetLoad(): FleetLoad | undefined {
    const live = this.o.state.live;
    const latest = this.lastTotal;
    const nowSecond = Math.floor(this.now() / 1000);
    if (!this.fresh || !latest || latest.second < nowSecond - 3) return undefined;
    const own = this.reports.find((r) => r.second === latest.second && r.stored);
    if (!own) return undefined;
    if (latest.total.proxies <= 1) {
      // Alone now (the others left): the whole capacity is this proxy's again.
      live.freshShare = 1;
      live.shardLocalShare.fill(1);
      live.groupLocalShare.fill(1);
      return undefined;
    }
    const snap = live.snapshot;
    const total = toPeriodLoad(snap, latest.total.proxies, (k) => latest.total.shards.get(k), (k) => latest.total.groups.get(k));
    const mine = toPeriodLoad(snap, 1, (k) => {
      const v = own.report.shards[k];
      return v && { rate: v[0], demand: v[1] };
    }, (k) => own.report.groups[k]);
    return { total, own: mine };
  }

  // ---- the periodic read ----------------------------------------------------------------------

  private async gather(): Promise<void> {
    if (this.stopped || this.gathering) return;
    this.gathering = true;
    try {
      await this.gatherOnce();
    } finally {
      this.gathering = false;
    }
  }

  private async gatherOnce(): Promise<void> {
    const { store, state } = this.o;
    const now = this.now();
    const second = Math.floor(now / 1000) - 1;
    const others = this.members.map((m) => m.id).filter((id) => id !== this.o.id);
    const known = new Map([...this.votes].map(([id, v]) => [id, v.version]));
    try {
      const [members, ejections, load, version, certificates, votes] = await Promise.all([
        store.members(),
        store.ejections(now),
        store.readLoad(second),
        this.o.follow ? store.tableVersion() : Promise.resolve(undefined),
        this.followsCertificates ? store.certificatesVersion() : Promise.resolve(undefined),
        store.votes(others, known),
        store.putVotes(this.o.id, this.ownVotes, this.o.memberTtlMs),
      ]);
      if (this.stopped) return;
      this.lastSyncAt = now;
      // The heartbeat after the read, so it tells when this proxy last saw the whole fleet.
      store.heartbeat(this.memberRecord(this.now()), this.o.memberTtlMs).catch((err: unknown) => this.failed('heartbeat', err));
      this.setMembers(members);
      if (!this.fresh) this.becomeFresh();
      this.setStoreUp(true);
      for (const [id, v] of votes) this.votes.set(id, { version: v.version, down: new Set(v.down) });
      for (const r of ejections) this.applyEjection(r);
      if (load) this.lastTotal = { second, total: load };
      const measured = fleetLatency(members);
      if (latencyMoved(state.live.measuredRtt, measured)) state.live.setMeasuredRtt(measured);
      this.recomputeVerdicts();
      if (this.o.follow && version !== undefined && version !== this.tableVersion && !this.rejectedTables.has(version)) void this.fetchTable();
      if (certificates !== undefined && certificates !== this.certificatesVersion && !this.rejectedCertificates.has(certificates)) void this.fetchCertificates();
      this.o.ticketKeys?.refresh().catch((err: unknown) => this.failed('ticket-keys', err));
    } catch (err) {
      this.failed('sync', err);
      this.o.ticketKeys?.storeUnreachable();
    }
    if (this.fresh && this.now() - this.lastSyncAt > this.o.staleAfterMs) this.becomeStale();
  }

  private memberRecord(now: number): MemberRecord {
    const n = this.o.state.snapshot.endpoints.length;
    const targets = this.o.state.probeTargets;
    let probed = n;
    if (targets) {
      probed = 0;
      for (let e = 0; e < n; e++) probed += targets[e]!;
    }
    let assigned = 0;
    for (let e = 0; e < this.assigned.length; e++) assigned += this.assigned[e]!;
    return {
      id: this.o.id,
      host: this.o.host,
      pid: process.pid,
      ...(this.o.region ? { region: this.o.region } : {}),
      version: this.o.version,
      tableVersion: this.tableVersion || this.o.state.snapshot.version,
      startedAt: this.startedAt,
      heartbeatAt: now,
      lastSyncAt: this.lastSyncAt,
      rttMs: this.o.state.regionRtt(),
      probing: { endpoints: probed, assigned, k: this.o.probersPerEndpoint },
    };
  }

  private setMembers(members: MemberRecord[]): void {
    // This proxy is a member even when its own heartbeat has not landed yet.
    if (!members.some((m) => m.id === this.o.id)) members.push(this.memberRecord(this.now()));
    this.members = members;
    const ids = members.map((m) => m.id).sort().join('\n');
    for (const id of this.votes.keys()) if (id !== this.o.id && !members.some((m) => m.id === id)) this.votes.delete(id);
    this.memberIds = ids;
    // A shard the fleet has no demand for yet is shared evenly: a proxy that joins, or a shard
    // traffic has not reached, must not let one proxy take the whole capacity in a surge.
    const live = this.o.state.live;
    const snap = live.snapshot;
    const even = 1 / members.length;
    live.freshShare = even;
    const total = this.lastTotal?.total;
    for (let s = 0; s < snap.shards.length; s++) if (!((total?.shards.get(snap.shardKeys[s]!)?.demand ?? 0) > 0)) live.shardLocalShare[s] = even;
    for (let g = 0; g < snap.groupCount; g++) if (!((total?.groups.get(snap.groupKeys[g]!) ?? 0) > 0)) live.groupLocalShare[g] = even;
  }

  /** Re-assigns probing when the members or the table changed; sets what the prober probes. */
  private assign(): void {
    const { state } = this.o;
    const snap = state.snapshot;
    if (this.assignmentFor?.snapshot === snap && this.assignmentFor.ids === this.memberIds && this.assignment) return;
    this.assignment = assignProbers(snap.endpointKeys, this.memberIds ? this.memberIds.split('\n') : [this.o.id], this.o.probersPerEndpoint);
    this.assignmentFor = { snapshot: snap, ids: this.memberIds };
    this.assigned = assignedTo(this.assignment, this.o.id, snap.endpoints.length);
    if (this.fresh) state.probeTargets = withLatencyProbes(snap, this.assigned, this.o.id);
    this.publishOwnVotes();
  }

  /** The fleet's verdicts from every prober's votes (this proxy's from its live state). */
  private recomputeVerdicts(): void {
    if (!this.fresh) return;
    this.assign();
    const { state } = this.o;
    const snap = state.snapshot;
    this.votes.set(this.o.id, { version: this.ownVotes.version, down: new Set(this.ownVotes.down) });
    const down = new Map([...this.votes].map(([id, v]) => [id, v.down as ReadonlySet<string>]));
    const verdicts = fleetVerdicts(snap.endpointKeys, this.assignment!, down);
    const now = this.now();
    for (let e = 0; e < verdicts.length; e++) {
      if (state.fleetVerdict[e] === verdicts[e]) continue;
      state.fleetVerdict[e] = verdicts[e]!;
      state.refreshHealth(e, now);
    }
  }

  // ---- votes, ejections, recoveries -----------------------------------------------------------

  private ownVerdictChanged(e: number): void {
    if (this.assigned[e]) this.publishOwnVotes();
  }

  /** Publishes this proxy's down set if it changed (or `force`). */
  private publishOwnVotes(force = false): void {
    const { state } = this.o;
    const snap = state.snapshot;
    const down: string[] = [];
    for (let e = 0; e < this.assigned.length; e++) if (this.assigned[e] && state.probes.healthy[e] === 0) down.push(snap.endpointKeys[e]!);
    down.sort();
    if (!force && down.join('\n') === this.ownVotes.down.join('\n')) return;
    this.ownVotes = { version: this.ownVotes.version + 1, down };
    if (!this.fresh) return;
    const { store } = this.o;
    store.putVotes(this.o.id, this.ownVotes, this.o.memberTtlMs).catch((err: unknown) => this.failed('votes', err));
    store.publish({ type: 'votes', proxy: this.o.id, votes: this.ownVotes }).catch((err: unknown) => this.failed('publish', err));
    this.recomputeVerdicts();
  }

  private ejected(e: number, since: number, until: number, times: number): void {
    if (!this.fresh) return;
    const record: EjectionRecord = { endpoint: this.o.state.snapshot.endpointKeys[e]!, since, until, by: this.o.id, times };
    this.o.store.putEjection(record).catch((err: unknown) => this.failed('ejection', err));
    this.o.store.publish({ type: 'ejection', record }).catch((err: unknown) => this.failed('publish', err));
  }

  private applyEjection(r: EjectionRecord): void {
    if (r.by === this.o.id) return;
    const e = this.o.state.snapshot.endpointByKey.get(r.endpoint);
    if (e === undefined) return;
    if (this.o.state.applyEjection(e, r.since, r.until, this.now())) this.o.metrics.fleetEjections.inc({ cluster: this.o.state.snapshot.shards[this.o.state.snapshot.endpoints[e]!.shard]!.cluster });
  }

  private recovered(e: number, at: number): void {
    if (!this.fresh) return;
    const endpoint = this.o.state.snapshot.endpointKeys[e]!;
    this.o.store.removeEjection(endpoint).catch((err: unknown) => this.failed('ejection', err));
    this.o.store.publish({ type: 'recovered', endpoint, at, by: this.o.id }).catch((err: unknown) => this.failed('publish', err));
  }

  private onMessage(m: FleetMessage): void {
    if (this.stopped) return;
    const { state } = this.o;
    switch (m.type) {
      case 'table':
        if (this.o.follow && m.version !== this.tableVersion && !this.rejectedTables.has(m.version)) void this.fetchTable();
        return;
      case 'certificates':
        if (this.followsCertificates && m.version !== this.certificatesVersion && !this.rejectedCertificates.has(m.version)) void this.fetchCertificates();
        return;
      case 'votes': {
        if (m.proxy === this.o.id || !this.fresh) return;
        const was = this.votes.get(m.proxy);
        if (was && was.version >= m.votes.version) return;
        const down = new Set(m.votes.down);
        this.votes.set(m.proxy, { version: m.votes.version, down });
        this.recomputeVerdicts();
        // A peer changed its mind on endpoints this proxy also probes: confirm them now, so a
        // majority (or its absence) is known in a fraction of a second.
        const snap = state.snapshot;
        const newlyDown: number[] = [];
        const newlyUp: number[] = [];
        for (const key of down) if (!was?.down.has(key)) pushAssigned(snap, this.assigned, key, newlyDown);
        for (const key of was?.down ?? []) if (!down.has(key)) pushAssigned(snap, this.assigned, key, newlyUp);
        this.o.prober.confirm(newlyDown, false, 3);
        this.o.prober.confirm(newlyUp, true, 3);
        return;
      }
      case 'ejection':
        if (this.fresh) this.applyEjection(m.record);
        return;
      case 'recovered': {
        if (m.by === this.o.id) return;
        const e = state.snapshot.endpointByKey.get(m.endpoint);
        if (e !== undefined) state.applyRecovery(e, m.at, this.now());
        return;
      }
      case 'ticket-keys':
        this.o.ticketKeys?.heard(m.generation).catch((err: unknown) => this.failed('ticket-keys', err));
        return;
    }
  }

  // ---- the table --------------------------------------------------------------------------------

  /** Fetches the published table and applies it if it is whole and valid; one fetch at a time. */
  private fetchTable(): Promise<void> {
    this.tableFetch ??= (async () => {
      try {
        const t = await this.o.store.readTable();
        if (!t || t.version === this.tableVersion || this.rejectedTables.has(t.version)) return;
        const sum = createHash('sha256').update(t.body).digest('hex');
        let table: unknown;
        try {
          if (sum !== t.sha256) throw new Error(`its body does not match its checksum (sha256 ${sum.slice(0, 12)}…, published ${t.sha256.slice(0, 12)}…): partial or altered`);
          table = JSON.parse(t.body);
          this.o.applyTable(table);
        } catch (err) {
          this.rejectedTables.add(t.version);
          this.o.metrics.tablesRejected.inc();
          this.o.logger.error({ version: t.version, code: (err as { code?: string }).code ?? 'E_TABLE_INVALID', err: (err as Error).message }, 'routing table from the store rejected; keeping the last good table');
          return;
        }
        this.tableVersion = t.version;
        this.o.logger.info({ version: t.version, publisher: t.publisher }, 'routing table from the store applied');
        this.assign();
      } catch (err) {
        this.failed('table', err);
      } finally {
        this.tableFetch = undefined;
      }
    })();
    return this.tableFetch;
  }

  private get followsCertificates(): boolean {
    return this.o.follow && this.o.applyCertificates !== undefined;
  }

  /**
   * Fetches the federation's certificates and applies them when whole (checksum) and a bundle;
   * each certificate is then checked by the CertificateSet. One fetch at a time; never logs a key.
   */
  private fetchCertificates(): Promise<void> {
    this.certificatesFetch ??= (async () => {
      try {
        const c = await this.o.store.readCertificates();
        if (!c || c.version === this.certificatesVersion || this.rejectedCertificates.has(c.version)) return;
        const sum = createHash('sha256').update(c.body).digest('hex');
        let bundle: CertificateBundle;
        try {
          if (sum !== c.sha256) throw new MeridianError('E_CERTIFICATES_INVALID', `the certificates in the store do not match their checksum (sha256 ${sum.slice(0, 12)}…, published ${c.sha256.slice(0, 12)}…): partial or altered`);
          bundle = parseCertificateBundle(c.body, 'the certificates in the store');
        } catch (err) {
          this.rejectedCertificates.add(c.version);
          this.o.logger.error({ version: c.version, code: (err as { code?: string }).code, err: (err as Error).message }, 'TLS certificates from the store rejected; keeping the last good ones');
          return;
        }
        this.o.applyCertificates!(bundle);
        this.certificatesVersion = c.version;
        this.o.logger.info({ version: c.version, publisher: c.publisher, secrets: bundle.certificates.length }, 'TLS certificates from the store applied');
      } catch (err) {
        this.failed('certificates', err);
      } finally {
        this.certificatesFetch = undefined;
      }
    })();
    return this.certificatesFetch;
  }

  // ---- store health ---------------------------------------------------------------------------

  private failed(op: string, err: unknown): void {
    this.o.metrics.storeErrors.inc({ op });
    this.setStoreUp(false, (err as Error)?.message ?? String(err));
  }

  /** One log line per change of the store's reachability. */
  private setStoreUp(up: boolean, reason?: string): void {
    if (up === this.storeUp || this.stopped) return;
    this.storeUp = up;
    if (up) {
      this.o.logger.info({ store: this.o.store.description }, 'state store reachable');
      // Back (perhaps empty, after a restart): register, vote and read the fleet at once rather
      // than at the next half second.
      void this.gather();
    } else {
      this.o.logger.warn({ store: this.o.store.description, reason }, `state store unreachable; serving on, falling back to local probes and rates after ${this.o.staleAfterMs} ms`);
    }
  }

  private becomeFresh(): void {
    this.fresh = true;
    this.assignmentFor = undefined;
    this.assign();
    this.o.state.probeTargets = withLatencyProbes(this.o.state.snapshot, this.assigned, this.o.id);
    this.o.logger.info({ proxies: this.members.length }, 'in sync with the fleet');
  }

  /** The store has been out of reach too long: stand alone, starting from the fleet's last word. */
  private becomeStale(): void {
    this.fresh = false;
    const { state } = this.o;
    for (let e = 0; e < state.fleetVerdict.length; e++) {
      const v = state.fleetVerdict[e]!;
      if (v < 0) continue;
      state.probes.seed(e, v === 1);
      state.fleetVerdict[e] = -1;
      state.refreshHealth(e, this.now());
    }
    state.probeTargets = undefined;
    this.o.logger.warn({ store: this.o.store.description, lastSyncAgoMs: this.now() - this.lastSyncAt }, 'out of sync with the fleet: probing every endpoint, admitting on local rates');
  }
}

function pushAssigned(snap: RoutingSnapshot, assigned: Uint8Array, key: string, out: number[]): void {
  const e = snap.endpointByKey.get(key);
  if (e !== undefined && assigned[e]) out.push(e);
}

/**
 * What this proxy probes: the endpoints it votes on, and one endpoint in each region where it has
 * none, so it measures its round trip to every region (not a vote).
 */
function withLatencyProbes(snap: RoutingSnapshot, assigned: Uint8Array, id: string): Uint8Array {
  const targets = Uint8Array.from(assigned);
  const covered = new Set<number>();
  for (let e = 0; e < targets.length; e++) if (targets[e]) covered.add(snap.shards[snap.endpoints[e]!.shard]!.regionIdx);
  // Spread over the fleet: each proxy picks its own endpoint per region (by its id's hash).
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
  const byRegion = new Map<number, number[]>();
  for (let e = 0; e < targets.length; e++) {
    const r = snap.shards[snap.endpoints[e]!.shard]!.regionIdx;
    if (covered.has(r)) continue;
    let list = byRegion.get(r);
    if (!list) byRegion.set(r, (list = []));
    list.push(e);
  }
  for (const list of byRegion.values()) targets[list[(h >>> 0) % list.length]!] = 1;
  return targets;
}

function toPeriodLoad(snap: RoutingSnapshot, proxies: number, shard: (key: string) => { rate: number; demand: number } | undefined, group: (key: string) => number | undefined): PeriodLoad {
  const shardRate = new Float64Array(snap.shards.length);
  const shardDemand = new Float64Array(snap.shards.length);
  const groupDemand = new Float64Array(snap.groupCount);
  for (let s = 0; s < snap.shards.length; s++) {
    const v = shard(snap.shardKeys[s]!);
    if (v) {
      shardRate[s] = v.rate;
      shardDemand[s] = v.demand;
    }
  }
  for (let g = 0; g < snap.groupCount; g++) groupDemand[g] = group(snap.groupKeys[g]!) ?? 0;
  return { proxies, shardRate, shardDemand, groupDemand };
}
