/**
 * The fleet's state store: what proxies and the controller share so that many proxies on many
 * hosts act as one load balancer. One interface, several implementations: in memory (one process,
 * the embedded default; or one host's `--workers` through their primary), and Redis (a fleet on
 * any number of hosts). Every call may fail or be slow: callers run them in the background and
 * never on a request's path.
 */

/** The routing table as the controller published it. */
export interface PublishedTable {
  /** Content hash of the table, also its `version` field. */
  version: string;
  /** The table, JSON. */
  body: string;
  /** SHA-256 of `body` (hex): a truncated or altered body is never applied. */
  sha256: string;
  publishedAt: number;
  publisher: string;
}

/**
 * The federation's TLS certificates as the controller published them (a CertificateBundle as
 * JSON: private keys included, so the store must be as private as the proxies' own key files).
 * Same envelope as the table: content-hash version, body, checksum.
 */
export type PublishedCertificates = PublishedTable;

/** One proxy of the fleet, as its heartbeat registers it. */
export interface MemberRecord {
  id: string;
  host: string;
  pid: number;
  /** The proxy's region (config `region`), where its clients and its probes start from. */
  region?: string;
  /** Meridian's version. */
  version: string;
  /** The routing table it serves ('' before it has one). */
  tableVersion: string;
  startedAt: number;
  heartbeatAt: number;
  /** When its last full read of the fleet's state succeeded. */
  lastSyncAt: number;
  /** Round trip of its probes to each region it probes (ms, smoothed). */
  rttMs: Record<string, number>;
  /** Endpoints its probes cover, how many of them it votes on, and its probers-per-endpoint setting. */
  probing: { endpoints: number; assigned: number; k: number };
}

/** One proxy's vote on the endpoints assigned to its probes: the ones it sees down. */
export interface VoteSet {
  /** Bumped on every change, so readers fetch a set again only when it changed. */
  version: number;
  /** Endpoint identities (`backend|cluster|address:port`) its probes see down. */
  down: string[];
}

/** A passive outlier ejection, applied by the whole fleet for its period. */
export interface EjectionRecord {
  endpoint: string;
  since: number;
  until: number;
  /** The proxy that ejected it. */
  by: string;
  /** Its ejection count there (the back-off multiplier). */
  times: number;
}

/** One proxy's load in one second, by shard and region-group identity. */
export interface LoadReport {
  /** shard → [requests, demand (requests ÷ share admitted)] */
  shards: Record<string, [number, number]>;
  /** region group → demand */
  groups: Record<string, number>;
}

/** The fleet's summed load of one second. */
export interface LoadTotal {
  /** How many proxies reported. */
  proxies: number;
  shards: Map<string, { rate: number; demand: number }>;
  groups: Map<string, number>;
}

/**
 * The fleet's session-ticket key: every proxy seals and opens TLS session tickets with it, so a
 * client resumes on any proxy behind the VIP. A secret: never logged, never on a status page.
 */
export interface TicketKeyRecord {
  /** 1 for the fleet's first key, one more at each rotation: what a compare-and-set compares. */
  generation: number;
  /** 48 random bytes, base64 (Node's ticketKeys: name, HMAC secret, AES key). */
  key: string;
  createdAt: number;
}

/** Notifications between the fleet's processes (pub/sub): the faster path beside the periodic sync. */
export type FleetMessage =
  | { type: 'table'; version: string }
  | { type: 'certificates'; version: string }
  | { type: 'votes'; proxy: string; votes: VoteSet }
  | { type: 'ejection'; record: EjectionRecord }
  | { type: 'recovered'; endpoint: string; at: number; by: string }
  | { type: 'ticket-keys'; generation: number };

export interface FleetStore {
  /** Where it is, for logs and errors: never a password. */
  readonly description: string;
  readonly fleet: string;

  /** Resolves once connected; rejects after `timeoutMs` with the reason it is not. */
  ready(timeoutMs?: number): Promise<void>;

  publishTable(table: PublishedTable): Promise<void>;
  /** The version of the published table, or undefined when none is. */
  tableVersion(): Promise<string | undefined>;
  readTable(): Promise<PublishedTable | undefined>;

  publishCertificates(certificates: PublishedCertificates): Promise<void>;
  /** The version of the published certificates, or undefined when none are. */
  certificatesVersion(): Promise<string | undefined>;
  readCertificates(): Promise<PublishedCertificates | undefined>;

  /** Registers or refreshes a proxy; it is gone `ttlMs` after its last heartbeat. */
  heartbeat(member: MemberRecord, ttlMs: number): Promise<void>;
  leave(id: string): Promise<void>;
  members(): Promise<MemberRecord[]>;

  putVotes(proxy: string, votes: VoteSet, ttlMs: number): Promise<void>;
  /** The vote sets of `proxies` whose version differs from `known` (proxy → version); absent ones are omitted. */
  votes(proxies: string[], known: ReadonlyMap<string, number>): Promise<Map<string, VoteSet>>;

  putEjection(record: EjectionRecord): Promise<void>;
  removeEjection(endpoint: string): Promise<void>;
  /** Ejections still running at `now` (expired ones are dropped). */
  ejections(now: number): Promise<EjectionRecord[]>;

  /** Adds one proxy's load of wall-clock second `second` to the fleet's sum of it. */
  reportLoad(second: number, report: LoadReport): Promise<void>;
  readLoad(second: number): Promise<LoadTotal | undefined>;

  /** The fleet's session-ticket key, or undefined when none was made yet (or it does not parse). */
  ticketKeys(): Promise<TicketKeyRecord | undefined>;
  /**
   * Replaces the ticket key only if the stored one's generation is still `expectedGeneration` (0:
   * none stored), and then announces it (a `ticket-keys` message). Resolves whether it did: of
   * proxies proposing the same next generation at once, exactly one wins; the rest read it.
   * The record expires `ttlMs` after its last rotation (a fleet that stopped leaves no secret).
   */
  rotateTicketKeys(expectedGeneration: number, record: TicketKeyRecord, ttlMs: number): Promise<boolean>;

  publish(message: FleetMessage): Promise<void>;
  /** Messages from every process of the fleet (its own included). */
  subscribe(handler: (message: FleetMessage) => void): Promise<void>;

  /** Connection state changes (Redis down, back, failed over): up, and why not. */
  onConnectionChange(listener: (up: boolean, reason?: string) => void): void;
  close(): Promise<void>;
}

/** Seconds a load bucket is kept: long enough for every proxy to read it. */
export const LOAD_TTL_MS = 10_000;

/** Load is summed in Redis as integers: requests and demand in thousandths. */
export const LOAD_SCALE = 1000;

/** A fleet name: one federation's proxies; several fleets can share one store. */
export const FLEET_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
