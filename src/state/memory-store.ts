import { EventEmitter } from 'node:events';
import { LOAD_TTL_MS, type EjectionRecord, type FleetMessage, type FleetStore, type LoadReport, type LoadTotal, type MemberRecord, type PublishedCertificates, type PublishedTable, type TicketKeyRecord, type VoteSet } from './store.js';

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

/** One fleet's state held in this process. */
class FleetSpace {
  table: PublishedTable | undefined;
  certificates: PublishedCertificates | undefined;
  readonly members = new Map<string, Expiring<MemberRecord>>();
  readonly votes = new Map<string, Expiring<VoteSet>>();
  readonly ejections = new Map<string, EjectionRecord>();
  readonly load = new Map<number, Expiring<LoadTotal>>();
  ticketKeys: Expiring<TicketKeyRecord> | undefined;
  readonly events = new EventEmitter();
}

/**
 * The state of any number of fleets in one process's memory: the embedded default (a proxy
 * alone, or the controller and a proxy in one process as in `meridian demo`) and what one host's
 * `--workers` share through their primary. Several MemoryStores on one backend see each other.
 */
export class MemoryBackend {
  private readonly fleets = new Map<string, FleetSpace>();

  constructor(readonly now: () => number = Date.now) {}

  space(fleet: string): FleetSpace {
    let s = this.fleets.get(fleet);
    if (!s) {
      s = new FleetSpace();
      s.events.setMaxListeners(0);
      this.fleets.set(fleet, s);
    }
    return s;
  }
}

function live<T>(map: Map<string | number, Expiring<T>>, key: string | number, now: number): T | undefined {
  const e = map.get(key);
  if (!e) return undefined;
  if (e.expiresAt <= now) {
    map.delete(key);
    return undefined;
  }
  return e.value;
}

/** A FleetStore in this process's memory (see MemoryBackend). Always up. */
export class MemoryStore implements FleetStore {
  readonly description: string;
  private readonly space: FleetSpace;
  private readonly handlers: ((m: FleetMessage) => void)[] = [];

  constructor(
    private readonly backend: MemoryBackend,
    readonly fleet: string,
  ) {
    this.space = backend.space(fleet);
    this.description = `memory (fleet ${fleet})`;
  }

  private get now(): number {
    return this.backend.now();
  }

  async ready(): Promise<void> {}

  async publishTable(table: PublishedTable): Promise<void> {
    this.space.table = { ...table };
    await this.publish({ type: 'table', version: table.version });
  }

  async tableVersion(): Promise<string | undefined> {
    return this.space.table?.version;
  }

  async readTable(): Promise<PublishedTable | undefined> {
    return this.space.table && { ...this.space.table };
  }

  async publishCertificates(certificates: PublishedCertificates): Promise<void> {
    this.space.certificates = { ...certificates };
    await this.publish({ type: 'certificates', version: certificates.version });
  }

  async certificatesVersion(): Promise<string | undefined> {
    return this.space.certificates?.version;
  }

  async readCertificates(): Promise<PublishedCertificates | undefined> {
    return this.space.certificates && { ...this.space.certificates };
  }

  async heartbeat(member: MemberRecord, ttlMs: number): Promise<void> {
    this.space.members.set(member.id, { value: structuredClone(member), expiresAt: this.now + ttlMs });
  }

  async leave(id: string): Promise<void> {
    this.space.members.delete(id);
    this.space.votes.delete(id);
  }

  async members(): Promise<MemberRecord[]> {
    const out: MemberRecord[] = [];
    for (const id of [...this.space.members.keys()]) {
      const m = live(this.space.members, id, this.now);
      if (m) out.push(structuredClone(m));
    }
    return out;
  }

  async putVotes(proxy: string, votes: VoteSet, ttlMs: number): Promise<void> {
    this.space.votes.set(proxy, { value: { version: votes.version, down: [...votes.down] }, expiresAt: this.now + ttlMs });
  }

  async votes(proxies: string[], known: ReadonlyMap<string, number>): Promise<Map<string, VoteSet>> {
    const out = new Map<string, VoteSet>();
    for (const p of proxies) {
      const v = live(this.space.votes, p, this.now);
      if (v && v.version !== known.get(p)) out.set(p, { version: v.version, down: [...v.down] });
    }
    return out;
  }

  async putEjection(record: EjectionRecord): Promise<void> {
    this.space.ejections.set(record.endpoint, { ...record });
  }

  async removeEjection(endpoint: string): Promise<void> {
    this.space.ejections.delete(endpoint);
  }

  async ejections(now: number): Promise<EjectionRecord[]> {
    const out: EjectionRecord[] = [];
    for (const [k, r] of this.space.ejections) {
      if (r.until <= now) this.space.ejections.delete(k);
      else out.push({ ...r });
    }
    return out;
  }

  async reportLoad(second: number, report: LoadReport): Promise<void> {
    let total = live(this.space.load, second, this.now);
    if (!total) {
      total = { proxies: 0, shards: new Map(), groups: new Map() };
      for (const [s, e] of this.space.load) if (e.expiresAt <= this.now) this.space.load.delete(s);
    }
    this.space.load.set(second, { value: total, expiresAt: this.now + LOAD_TTL_MS });
    total.proxies++;
    for (const [shard, [rate, demand]] of Object.entries(report.shards)) {
      const s = total.shards.get(shard) ?? { rate: 0, demand: 0 };
      s.rate += rate;
      s.demand += demand;
      total.shards.set(shard, s);
    }
    for (const [group, demand] of Object.entries(report.groups)) total.groups.set(group, (total.groups.get(group) ?? 0) + demand);
  }

  async readLoad(second: number): Promise<LoadTotal | undefined> {
    const t = live(this.space.load, second, this.now);
    return t && { proxies: t.proxies, shards: new Map([...t.shards].map(([k, v]) => [k, { ...v }])), groups: new Map(t.groups) };
  }

  private liveTicketKeys(): TicketKeyRecord | undefined {
    const held = this.space.ticketKeys;
    if (held && held.expiresAt <= this.now) this.space.ticketKeys = undefined;
    return this.space.ticketKeys?.value;
  }

  async ticketKeys(): Promise<TicketKeyRecord | undefined> {
    const held = this.liveTicketKeys();
    return held && { ...held };
  }

  async rotateTicketKeys(expectedGeneration: number, record: TicketKeyRecord, ttlMs: number): Promise<boolean> {
    // The compare and the set with no await between them: no other caller's can come in between.
    if ((this.liveTicketKeys()?.generation ?? 0) !== expectedGeneration) return false;
    this.space.ticketKeys = { value: { ...record }, expiresAt: this.now + ttlMs };
    await this.publish({ type: 'ticket-keys', generation: record.generation });
    return true;
  }

  async publish(message: FleetMessage): Promise<void> {
    // Delivered later, as from Redis: a publisher never re-enters its own handler mid-call.
    const copy = structuredClone(message);
    setImmediate(() => this.space.events.emit('message', copy));
  }

  async subscribe(handler: (message: FleetMessage) => void): Promise<void> {
    this.handlers.push(handler);
    this.space.events.on('message', handler);
  }

  onConnectionChange(listener: (up: boolean, reason?: string) => void): void {
    // Always up: tell the listener so, as a Redis store would on connecting.
    setImmediate(() => listener(true));
  }

  async close(): Promise<void> {
    for (const h of this.handlers.splice(0)) this.space.events.off('message', h);
  }
}
