import { z } from 'zod';
import type { EjectionRecord, FleetMessage, MemberRecord, VoteSet } from './store.js';

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
]);

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
