import { randomBytes } from 'node:crypto';
import type { Logger } from '../../common/log.js';
import { serialized } from '../../common/serialized.js';
import { TICKET_KEY_BYTES } from '../../state/records.js';
import type { FleetStore, TicketKeyRecord } from '../../state/store.js';

/**
 * Session-ticket keys shared by the fleet, so a client that resumes lands on any proxy behind the
 * VIP (or any `--workers` process of a host) and still skips the full handshake.
 *
 * The fleet's store holds one key with a generation number. Every proxy reads it once a second
 * (with the rest of the fleet's state) and at once on a `ticket-keys` message; the first to find
 * none, or one a rotation period old, proposes the next generation with a compare-and-set, so
 * exactly one proposal wins and every proxy installs the winner's key.
 *
 * Node keeps ONE ticket key per server (nginx keeps the previous ones for decryption; Node's
 * `ticketKeys` is 48 bytes, its ticket callback compares one key name and declines any other,
 * and 'newSession'/'resumeSession' are the server-side session-ID cache, not tickets). So a
 * rotation costs each client holding a ticket from the old key one full handshake: the
 * announcement makes every proxy switch within about a second, keeping that window short, and
 * with the default 12 h period against 5 min sessions it touches a small share of resumptions.
 *
 * Which contexts need it: only the server's own. Node seals and opens every ticket with that
 * context's key, whichever certificate SNI chose (it copies the chosen context's certificate into
 * the connection, not its ticket key), so a session for any name resumes on any proxy. And
 * node:cluster hands every `--workers` process the first worker's key when it listens: workers
 * shared a key before this, but only until the first rotation, which each made on its own.
 *
 * The key is a secret: it is never logged, never on the status page, never in a metric (the
 * generation is: meridian_proxy_tls_ticket_key_generation).
 */

/** Where keys go: the proxy's certificates, whose contexts seal and open the tickets. */
export interface TicketKeyTarget {
  installTicketKeys(keys: Buffer): void;
}

export interface FleetTicketKeysOptions {
  store: Pick<FleetStore, 'ticketKeys' | 'rotateTicketKeys'>;
  target: TicketKeyTarget;
  /** A key this old is replaced (config tls.ticketKeyRotationSeconds). */
  rotationMs: number;
  logger: Logger;
  /** The generation in use (0: this process's own key, the store unreachable for too long). */
  onGeneration?: (generation: number) => void;
  now?: () => number;
  random?: (bytes: number) => Buffer;
}

/** Whether the fleet needs a new key: it has none (or an unreadable one), or its key is a rotation period old. */
export function ticketKeyDue(record: TicketKeyRecord | undefined, now: number, rotationMs: number): boolean {
  return record === undefined || now - record.createdAt >= rotationMs;
}

/**
 * How long the store keeps a key after its rotation: two periods, so a running fleet always
 * rotates it first and a fleet that stopped leaves no secret behind.
 */
export function ticketKeyTtlMs(rotationMs: number): number {
  return 2 * rotationMs;
}

export class FleetTicketKeys {
  private installed: { generation: number; key: string; createdAt: number } | undefined;
  private readonly now: () => number;
  private readonly random: (bytes: number) => Buffer;

  constructor(private readonly o: FleetTicketKeysOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? randomBytes;
  }

  /** The generation in use (undefined before the first read; 0 for this process's own key). */
  get generation(): number | undefined {
    return this.installed?.generation;
  }

  /**
   * Reads the fleet's key, proposes the next one when due, installs the result if it is not the
   * one in use. One read at a time (a message during a read asks for one more). Rejects when the
   * store could not be read; past two periods without a read, the proxy makes a key of its own
   * rather than keep one that the fleet has long replaced.
   */
  readonly refresh = serialized(async () => {
    try {
      await this.refreshOnce();
    } catch (err) {
      this.storeUnreachable();
      throw err;
    }
  });

  /** A `ticket-keys` message: another proxy rotated. Read now unless that generation is already in use. */
  heard(generation: number): Promise<void> {
    if (this.installed?.generation === generation) return Promise.resolve();
    return this.refresh();
  }

  private async refreshOnce(): Promise<void> {
    const { store, rotationMs, logger } = this.o;
    let record = await store.ticketKeys();
    const now = this.now();
    if (ticketKeyDue(record, now, rotationMs)) {
      const next: TicketKeyRecord = { generation: (record?.generation ?? 0) + 1, key: this.random(TICKET_KEY_BYTES).toString('base64'), createdAt: now };
      if (await store.rotateTicketKeys(record?.generation ?? 0, next, ticketKeyTtlMs(rotationMs))) {
        record = next;
        logger.info({ generation: next.generation, previous: next.generation - 1 }, 'session-ticket key rotated for the fleet');
      } else {
        // Another proxy's proposal won: use its key.
        record = await store.ticketKeys();
      }
    }
    if (record) this.install(record.generation, record.key, record.createdAt);
  }

  private install(generation: number, key: string, createdAt: number): void {
    if (this.installed?.key === key) return;
    this.o.target.installTicketKeys(Buffer.from(key, 'base64'));
    this.installed = { generation, key, createdAt };
    this.o.onGeneration?.(generation);
    this.o.logger.info({ generation }, generation ? 'session-ticket key of the fleet in use' : 'session-ticket key of this process in use: the fleet\'s store has been unreachable for two rotation periods');
  }

  /**
   * The store could not be read (here, or by the fleet's periodic read, which then does not ask
   * for the key): keep the fleet's key (peers resume on it) until it is two periods old, then use
   * one of this process's own, replaced as often.
   */
  storeUnreachable(): void {
    const now = this.now();
    // Never read yet: the certificates' own key, rotated by them, is still in use.
    if (!this.installed || now - this.installed.createdAt < 2 * this.o.rotationMs) return;
    this.install(0, this.random(TICKET_KEY_BYTES).toString('base64'), now);
  }
}
