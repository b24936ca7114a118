import { z } from 'zod';
import type { EjectionRecord, FleetMessage, MemberRecord, TicketKeyRecord, VoteSet } from './store.js';

/**
 * What comes out of the store is checked before use: another version of Meridian, a hand edit
 * or a half-written value must not crash a proxy. Each parser returns undefined for a value it
 * cannot read.
 */

const MemberSchema = z.object({
  id: z.string().min(1),
  host: z.string(),
  pid: z.number().int(),
  region: z.string().optional(),
  version: z.string(),
  tableVersion: z.string(),
  startedAt: z.number(),
  heartbeatAt: z.number(),
  lastSyncAt: z.number(),
  rttMs: z.record(z.string(), z.number().nonnegative()),
  probing: z.object({ endpoints: z.number().int().nonnegative(), assigned: z.number().int().nonnegative(), k: z.number().int().positive() }),
});

const VoteSetSchema = z.object({ version: z.number().int(), down: z.array(z.string()) });

const EjectionSchema = z.object({
  endpoint: z.string().min(1),
  since: z.number(),
  until: z.number(),
  by: z.string(),
  times: z.number().int().positive(),
});

const MessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('table'), version: z.string() }),
  z.object({ type: z.literal('certificates'), version: z.string() }),
  z.object({ type: z.literal('votes'), proxy: z.string().min(1), votes: VoteSetSchema }),
  z.object({ type: z.literal('ejection'), record: EjectionSchema }),
  z.object({ type: z.literal('recovered'), endpoint: z.string().min(1), at: z.number(), by: z.string() }),
  z.object({ type: z.literal('ticket-keys'), generation: z.number().int().positive() }),
]);

/** Node's ticketKeys are exactly 48 bytes: anything else would make setTicketKeys throw. */
export const TICKET_KEY_BYTES = 48;

/** A ticket key record from its stored fields (a Redis hash's strings); undefined unless whole and 48 bytes. */
export function parseTicketKeys(fields: Record<string, string | number | undefined>): TicketKeyRecord | undefined {
  const generation = Number(fields.generation);
  const createdAt = Number(fields.createdAt);
  const key = fields.key;
  if (!Number.isSafeInteger(generation) || generation < 1 || !Number.isFinite(createdAt) || typeof key !== 'string') return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, 'base64').length !== TICKET_KEY_BYTES) return undefined;
  return { generation, key, createdAt };
}

function parseWith<T>(schema: z.ZodType<T>, text: string | null | undefined): T | undefined {
  if (text === null || text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export const parseMember = (text: string | null | undefined): MemberRecord | undefined => parseWith(MemberSchema, text) as MemberRecord | undefined;
export const parseVotes = (text: string | null | undefined): VoteSet | undefined => parseWith(VoteSetSchema, text);
export const parseEjection = (text: string | null | undefined): EjectionRecord | undefined => parseWith(EjectionSchema, text);
export const parseMessage = (text: string | null | undefined): FleetMessage | undefined => parseWith(MessageSchema, text) as FleetMessage | undefined;
