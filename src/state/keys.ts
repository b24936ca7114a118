import { MeridianError } from '../common/errors.js';
import { FLEET_NAME } from './store.js';

/**
 * The fleet's Redis keys. Every key carries the fleet name as its hash tag (`{name}`), so in a
 * Redis Cluster a fleet's keys share one slot (the load script and multi-key reads need that)
 * and several fleets can share one Redis without seeing each other.
 */
export class FleetKeys {
  readonly prefix: string;
  /** The routing table: hash of version, body, sha256, publishedAt, publisher. */
  readonly table: string;
  /** The federation's TLS certificates: a hash shaped as the table's. */
  readonly certificates: string;
  /** Set of proxy ids; each one's record is `member(id)`, which expires without heartbeats. */
  readonly members: string;
  /** Hash endpoint → ejection record (JSON). */
  readonly ejections: string;
  /** Pub/sub channel of FleetMessages. */
  readonly channel: string;
  /** Hash of the session-ticket key record: generation, key, createdAt. */
  readonly ticketKeys: string;

  constructor(readonly fleet: string) {
    if (!FLEET_NAME.test(fleet)) {
      throw new MeridianError('E_STORE_FLEET', `fleet name "${fleet}" is not a DNS label`, 'lower-case letters, digits and "-", at most 63, e.g. "default" or "prod-eu"');
    }
    this.prefix = `meridian:{${fleet}}:`;
    this.table = `${this.prefix}table`;
    this.certificates = `${this.prefix}certificates`;
    this.members = `${this.prefix}members`;
    this.ejections = `${this.prefix}ejections`;
    this.channel = `${this.prefix}events`;
    this.ticketKeys = `${this.prefix}ticket-keys`;
  }

  member(id: string): string {
    return `${this.prefix}member:${id}`;
  }

  /** One proxy's vote set (JSON) and, beside it, its version alone (read every second). */
  votes(id: string): string {
    return `${this.prefix}votes:${id}`;
  }

  votesVersion(id: string): string {
    return `${this.prefix}votes-version:${id}`;
  }

  /** Hash of the fleet's summed load in one wall-clock second. */
  load(second: number): string {
    return `${this.prefix}load:${second}`;
  }
}
