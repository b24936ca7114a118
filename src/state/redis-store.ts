import { randomUUID } from 'node:crypto';
import { Redis, Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import { FleetKeys } from './keys.js';
import { parseEjection, parseMember, parseMessage, parseTicketKeys, parseVotes } from './records.js';
import type { RedisTarget } from './redis-target.js';
import { LOAD_SCALE, LOAD_TTL_MS, type EjectionRecord, type FleetMessage, type FleetStore, type LoadReport, type LoadTotal, type MemberRecord, type PublishedCertificates, type PublishedTable, type TicketKeyRecord, type VoteSet } from './store.js';

export interface RedisStoreOptions {
  /** A command that takes longer fails (and the proxy falls back on what it knows). */
  commandTimeoutMs?: number;
  /** Longest wait between reconnection attempts: bounds how long after Redis returns a proxy notices. */
  maxReconnectDelayMs?: number;
  /** A value in the store that does not parse (kind, key): skipped, and reported here. */
  onInvalid?: (kind: string, key: string) => void;
  /** The subscription was found lost (its own ping unheard) and made again. */
  onResubscribe?: () => void;
}

/** How often a store checks that its subscription still delivers. */
const SUBSCRIPTION_CHECK_MS = 2_000;

/** Adds one proxy's second of load to the fleet's sum, counts the reporter, and keeps the sum a while. */
const REPORT_LOAD = `
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

/**
 * The ticket key's compare-and-set: replaced only while the stored generation is the one the
 * caller read (a missing or unreadable one counts as 0), so of proxies rotating at once one wins.
 * ARGV: expected generation, TTL ms, generation, key, createdAt.
 */
const ROTATE_TICKET_KEYS = `
local current = tonumber(redis.call('HGET', KEYS[1], 'generation')) or 0
if current ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'generation', ARGV[3], 'key', ARGV[4], 'createdAt', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

type Client = Redis | Cluster;

/** Connection errors that retrying will not mend: wrong credentials, an untrusted certificate. */
const FATAL = /WRONGPASS|NOAUTH|invalid password|invalid username-password|certificate|self[- ]signed|unable to verify/i;
type WithLoad = Client & {
  meridianReportLoad(key: string, ...args: (string | number)[]): Promise<number>;
  meridianRotateTicketKeys(key: string, ...args: (string | number)[]): Promise<number>;
};

/**
 * The fleet's state in Redis (standalone, Sentinel or Cluster) through ioredis. Commands issued
 * in the same tick go out as one pipeline (auto-pipelining); while Redis is unreachable every
 * call fails at once instead of queueing (no offline queue), and the connection is retried in the
 * background with a short back-off, so a proxy notices Redis coming back within a second.
 */
export class RedisStore implements FleetStore {
  readonly description: string;
  private readonly keys: FleetKeys;
  private readonly cmd: WithLoad;
  private readonly sub: Client;
  private readonly listeners: ((up: boolean, reason?: string) => void)[] = [];
  private up = false;
  private lastError = '';
  private closed = false;
  /** A channel only this store listens on: its own pings prove its subscription works. */
  private readonly ownChannel: string;
  private watchdog: NodeJS.Timeout | undefined;
  private pings = 0;
  private pingToken = '';
  private pingHeard = false;
  /** Times the subscription was found lost and made again. */
  resubscriptions = 0;

  constructor(
    target: RedisTarget,
    readonly fleet: string,
    private readonly opts: RedisStoreOptions = {},
  ) {
    this.keys = new FleetKeys(fleet);
    this.description = `${target.description} (fleet ${fleet})`;
    this.ownChannel = `${this.keys.channel}:${randomUUID()}`;
    const maxDelay = opts.maxReconnectDelayMs ?? 500;
    const retry = (times: number) => (this.closed ? null : Math.min(50 * 2 ** Math.min(times, 6), maxDelay));
    const connection: RedisOptions = {
      connectTimeout: 2_000,
      commandTimeout: opts.commandTimeoutMs ?? 1_000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      connectionName: `meridian:${fleet}`,
      ...(target.username !== undefined ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
      ...(target.db !== undefined ? { db: target.db } : {}),
      ...(target.tls ? { tls: target.tls } : {}),
    };
    const subscriber: RedisOptions = { ...connection, enableOfflineQueue: false, enableReadyCheck: false, autoResubscribe: false, commandTimeout: undefined };
    if (target.mode === 'cluster') {
      const clusterOpts = (redisOptions: RedisOptions): ClusterOptions => ({
        redisOptions,
        enableOfflineQueue: redisOptions.enableOfflineQueue ?? false,
        enableAutoPipelining: true,
        maxRedirections: 4,
        slotsRefreshTimeout: 2_000,
        clusterRetryStrategy: retry,
      });
      const { enableOfflineQueue: _a, enableAutoPipelining: _b, ...perNode } = connection;
      this.cmd = new Cluster(target.nodes, clusterOpts({ ...perNode, enableOfflineQueue: false })) as WithLoad;
      this.sub = new Cluster(target.nodes, clusterOpts({ ...perNode, enableOfflineQueue: true }));
    } else {
      const where: RedisOptions =
        target.mode === 'sentinel'
          ? {
              sentinels: target.nodes,
              name: target.name!,
              role: 'master',
              failoverDetector: true,
              sentinelRetryStrategy: retry,
              ...(target.sentinelPassword !== undefined ? { sentinelPassword: target.sentinelPassword } : {}),
              ...(target.tls ? { enableTLSForSentinelMode: true, sentinelTLS: target.tls } : {}),
            }
          : { host: target.nodes[0]!.host, port: target.nodes[0]!.port };
      this.cmd = new Redis({ ...where, ...connection, retryStrategy: retry }) as WithLoad;
      this.sub = new Redis({ ...where, ...subscriber, retryStrategy: retry });
    }
    this.cmd.defineCommand('meridianReportLoad', { numberOfKeys: 1, lua: REPORT_LOAD });
    this.cmd.defineCommand('meridianRotateTicketKeys', { numberOfKeys: 1, lua: ROTATE_TICKET_KEYS });
    this.cmd.on('ready', () => this.setUp(true));
    this.cmd.on('error', (err: Error) => {
      this.lastError = err.message;
    });
    this.cmd.on('close', () => this.setUp(false, this.lastError || 'connection closed'));
    this.cmd.on('end', () => this.setUp(false, this.lastError || 'connection ended'));
    this.sub.on('error', () => {});
  }

  private setUp(up: boolean, reason?: string): void {
    if (this.up === up) return;
    this.up = up;
    for (const l of this.listeners) l(up, reason);
  }

  onConnectionChange(listener: (up: boolean, reason?: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Resolves once connected; rejects after `timeoutMs` with the last connection error, or at once
   * on one that retrying cannot mend (a refused password, a certificate that does not verify).
   */
  ready(timeoutMs = 5_000): Promise<void> {
    if (this.up) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.cmd.off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => done(new Error(this.lastError || 'timed out connecting')), timeoutMs);
      const onError = (err: Error) => {
        if (FATAL.test(err.message)) done(err);
      };
      this.cmd.on('error', onError);
      this.onConnectionChange((up) => {
        if (up) done();
      });
    });
  }

  async publishTable(t: PublishedTable): Promise<void> {
    await this.putDocument(this.keys.table, t);
    await this.publish({ type: 'table', version: t.version });
  }

  async tableVersion(): Promise<string | undefined> {
    return (await this.cmd.hget(this.keys.table, 'version')) ?? undefined;
  }

  async readTable(): Promise<PublishedTable | undefined> {
    return this.readDocument(this.keys.table);
  }

  async publishCertificates(c: PublishedCertificates): Promise<void> {
    await this.putDocument(this.keys.certificates, c);
    await this.publish({ type: 'certificates', version: c.version });
  }

  async certificatesVersion(): Promise<string | undefined> {
    return (await this.cmd.hget(this.keys.certificates, 'version')) ?? undefined;
  }

  async readCertificates(): Promise<PublishedCertificates | undefined> {
    return this.readDocument(this.keys.certificates);
  }

  private async putDocument(key: string, d: PublishedTable): Promise<void> {
    // One HSET: a reader sees the whole new document or the whole old one, never a mix.
    await this.cmd.hset(key, { version: d.version, body: d.body, sha256: d.sha256, publishedAt: String(d.publishedAt), publisher: d.publisher });
  }

  private async readDocument(key: string): Promise<PublishedTable | undefined> {
    const h = await this.cmd.hgetall(key);
    if (h.version === undefined || h.body === undefined || h.sha256 === undefined) return undefined;
    return { version: h.version, body: h.body, sha256: h.sha256, publishedAt: Number(h.publishedAt ?? 0), publisher: h.publisher ?? '' };
  }

  async heartbeat(m: MemberRecord, ttlMs: number): Promise<void> {
    await Promise.all([this.cmd.set(this.keys.member(m.id), JSON.stringify(m), 'PX', ttlMs), this.cmd.sadd(this.keys.members, m.id)]);
  }

  async leave(id: string): Promise<void> {
    await Promise.all([this.cmd.del(this.keys.member(id), this.keys.votes(id), this.keys.votesVersion(id)), this.cmd.srem(this.keys.members, id)]);
  }

  async members(): Promise<MemberRecord[]> {
    const ids = await this.cmd.smembers(this.keys.members);
    if (ids.length === 0) return [];
    const values = await this.cmd.mget(ids.map((id) => this.keys.member(id)));
    const out: MemberRecord[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const text = values[i];
      if (text === null || text === undefined) return void gone.push(id); // its heartbeat expired
      const m = parseMember(text);
      if (m) out.push(m);
      else this.opts.onInvalid?.('member', this.keys.member(id));
    });
    if (gone.length) void this.cmd.srem(this.keys.members, ...gone).catch(() => {});
    return out;
  }

  async putVotes(proxy: string, votes: VoteSet, ttlMs: number): Promise<void> {
    await Promise.all([
      this.cmd.set(this.keys.votes(proxy), JSON.stringify(votes), 'PX', ttlMs),
      this.cmd.set(this.keys.votesVersion(proxy), String(votes.version), 'PX', ttlMs),
    ]);
  }

  async votes(proxies: string[], known: ReadonlyMap<string, number>): Promise<Map<string, VoteSet>> {
    const out = new Map<string, VoteSet>();
    if (proxies.length === 0) return out;
    const versions = await this.cmd.mget(proxies.map((p) => this.keys.votesVersion(p)));
    const changed = proxies.filter((p, i) => versions[i] !== null && versions[i] !== undefined && Number(versions[i]) !== known.get(p));
    if (changed.length === 0) return out;
    const sets = await this.cmd.mget(changed.map((p) => this.keys.votes(p)));
    changed.forEach((p, i) => {
      const v = parseVotes(sets[i]);
      if (v) out.set(p, v);
      else if (sets[i] !== null) this.opts.onInvalid?.('votes', this.keys.votes(p));
    });
    return out;
  }

  async putEjection(r: EjectionRecord): Promise<void> {
    await this.cmd.hset(this.keys.ejections, r.endpoint, JSON.stringify(r));
  }

  async removeEjection(endpoint: string): Promise<void> {
    await this.cmd.hdel(this.keys.ejections, endpoint);
  }

  async ejections(now: number): Promise<EjectionRecord[]> {
    const all = await this.cmd.hgetall(this.keys.ejections);
    const out: EjectionRecord[] = [];
    const over: string[] = [];
    for (const [endpoint, text] of Object.entries(all)) {
      const r = parseEjection(text);
      if (!r) this.opts.onInvalid?.('ejection', `${this.keys.ejections} ${endpoint}`);
      if (!r || r.until <= now) over.push(endpoint);
      else out.push(r);
    }
    if (over.length) void this.cmd.hdel(this.keys.ejections, ...over).catch(() => {});
    return out;
  }

  async reportLoad(second: number, report: LoadReport): Promise<void> {
    const args: (string | number)[] = [LOAD_TTL_MS];
    for (const [shard, [rate, demand]] of Object.entries(report.shards)) {
      if (rate > 0) args.push(`r|${shard}`, Math.round(rate * LOAD_SCALE));
      if (demand > 0) args.push(`d|${shard}`, Math.round(demand * LOAD_SCALE));
    }
    for (const [group, demand] of Object.entries(report.groups)) if (demand > 0) args.push(`g|${group}`, Math.round(demand * LOAD_SCALE));
    await this.cmd.meridianReportLoad(this.keys.load(second), ...args);
  }

  async readLoad(second: number): Promise<LoadTotal | undefined> {
    return parseLoad(await this.cmd.hgetall(this.keys.load(second)));
  }

  async ticketKeys(): Promise<TicketKeyRecord | undefined> {
    const h = await this.cmd.hgetall(this.keys.ticketKeys);
    if (Object.keys(h).length === 0) return undefined;
    const record = parseTicketKeys(h);
    if (!record) this.opts.onInvalid?.('ticket-keys', this.keys.ticketKeys);
    return record;
  }

  async rotateTicketKeys(expectedGeneration: number, r: TicketKeyRecord, ttlMs: number): Promise<boolean> {
    const won = await this.cmd.meridianRotateTicketKeys(this.keys.ticketKeys, expectedGeneration, ttlMs, r.generation, r.key, r.createdAt);
    if (won !== 1) return false;
    await this.publish({ type: 'ticket-keys', generation: r.generation });
    return true;
  }

  async publish(message: FleetMessage): Promise<void> {
    await this.cmd.publish(this.keys.channel, JSON.stringify(message));
  }

  async subscribe(handler: (message: FleetMessage) => void): Promise<void> {
    this.sub.on('message', (channel: string, text: string) => {
      if (channel === this.ownChannel) {
        if (text === this.pingToken) this.pingHeard = true;
        return;
      }
      if (channel !== this.keys.channel) return;
      const m = parseMessage(text);
      if (m) handler(m);
      else this.opts.onInvalid?.('message', channel);
    });
    // Subscribe on every connection once it is ready, never while it is being set up: a
    // SUBSCRIBE sent then went out before ioredis's ready check, Redis refused the check in
    // subscriber mode, ioredis reconnected, and the new connection was not subscribed (ioredis
    // issue 2037) — the proxy then missed every vote and ejection, silently. The subscriber has
    // no ready check at all, and SUBSCRIBE is idempotent.
    const subscribe = () => this.sub.subscribe(this.keys.channel, this.ownChannel).catch(() => undefined);
    const first = new Promise<void>((resolve) => {
      this.sub.on('ready', () => void subscribe().then(() => resolve()));
      if (this.sub.status === 'ready') void subscribe().then(() => resolve());
    });
    // Resolves once subscribed; a store that cannot connect yet does not hold its caller up long.
    await Promise.race([first, new Promise((r) => setTimeout(r, 2_000).unref())]);
    // And check it: a Redis Cluster can still lose a subscription made while it settles its
    // slots (ioredis picks a new subscriber node and forgets one in flight). Every few seconds
    // this store sends itself a ping on a channel of its own; unheard, it subscribes again.
    this.watchdog = setInterval(() => void this.checkSubscription(subscribe), SUBSCRIPTION_CHECK_MS);
    this.watchdog.unref();
    void this.checkSubscription(subscribe);
  }

  private async checkSubscription(subscribe: () => Promise<unknown>): Promise<void> {
    if (!this.up || this.closed) return;
    if (this.pingToken && !this.pingHeard) {
      this.resubscriptions++;
      this.opts.onResubscribe?.();
      await subscribe();
    }
    this.pingHeard = false;
    this.pingToken = `ping ${++this.pings}`;
    await this.cmd.publish(this.ownChannel, this.pingToken).catch(() => (this.pingToken = ''));
  }

  /** The fleets this Redis holds (any with a table or members), for `meridian fleet`'s hints. */
  async fleetNames(): Promise<string[]> {
    const nodes: Redis[] = this.cmd instanceof Cluster ? this.cmd.nodes('master') : [this.cmd];
    const names = new Set<string>();
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', 'meridian:{*}:*', 'COUNT', 500);
        cursor = next;
        for (const k of keys) {
          const m = /^meridian:\{([^}]+)\}:(table|members)$/.exec(k);
          if (m) names.add(m[1]!);
        }
      } while (cursor !== '0');
    }
    return [...names].sort();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    const quit = (c: Client) => Promise.race([c.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 500))]).then(() => c.disconnect());
    await Promise.all([quit(this.cmd), quit(this.sub)]);
  }
}

/** A load hash (`n`, `r|shard`, `d|shard`, `g|group` in thousandths) as a LoadTotal; undefined when empty. */
export function parseLoad(h: Record<string, string>): LoadTotal | undefined {
  const proxies = Number(h.n ?? 0);
  if (!(proxies > 0)) return undefined;
  const total: LoadTotal = { proxies, shards: new Map(), groups: new Map() };
  for (const [field, value] of Object.entries(h)) {
    const n = Number(value) / LOAD_SCALE;
    if (!Number.isFinite(n)) continue;
    const kind = field.slice(0, 2);
    const key = field.slice(2);
    if (kind === 'g|') total.groups.set(key, n);
    else if (kind === 'r|' || kind === 'd|') {
      const s = total.shards.get(key) ?? { rate: 0, demand: 0 };
      if (kind === 'r|') s.rate = n;
      else s.demand = n;
      total.shards.set(key, s);
    }
  }
  return total;
}
