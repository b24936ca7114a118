import type { Command } from 'commander';
import { z } from 'zod';
import { MeridianError } from '../../common/errors.js';
import { plan } from '../../federation/planner/plan.js';
import { DEFAULT_PREFERENCES, parsePreferences } from '../../federation/planner/preferences.js';

const count = z.number().int().nonnegative();

const PlanRequestSchema = z
  .object({
    preferences: z.union([z.string(), z.record(z.string(), z.unknown()), z.null()]).default(null),
    replicas: count,
    clusters: z.array(z.string().min(1)),
    current: z.record(z.string(), count).default({}),
    estimatedCapacity: z.record(z.string(), count).default({}),
    key: z.string().default(''),
  })
  .strict();

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs the planner on one request and returns the JSON the command prints. */
export function planRequest(text: string): string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new MeridianError('E_PLAN_INPUT', `stdin is not valid JSON: ${(err as Error).message}`, 'pipe a JSON object: {"preferences": ..., "replicas": N, "clusters": [...]}');
  }
  const parsed = PlanRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MeridianError('E_PLAN_INPUT', `${issue.path.join('.') || 'request'}: ${issue.message}`, 'fields: preferences, replicas, clusters, current, estimatedCapacity, key');
  }
  const req = parsed.data;
  let preferences = DEFAULT_PREFERENCES;
  if (req.preferences !== null) {
    const p = parsePreferences(req.preferences);
    if (!p.ok) throw new MeridianError('E_PLAN_PREFERENCES', `preferences: ${p.error}`, 'see the replica-set-preferences format in the README');
    preferences = p.preferences;
  }
  const result = plan({ ...req, preferences });
  const ordered = {
    plan: Object.fromEntries(req.clusters.filter((c, i) => req.clusters.indexOf(c) === i).map((c) => [c, result.plan[c] ?? 0])),
    overflow: Object.fromEntries(Object.entries(result.overflow).sort(([a], [b]) => a.localeCompare(b))),
  };
  return JSON.stringify(ordered);
}

export function register(program: Command): void {
  program
    .command('plan')
    .description('dry-run the replica planner: reads a JSON request on stdin, prints {"plan":{…},"overflow":{…}}')
    .action(async () => {
      process.stdout.write(`${planRequest(await readStdin())}\n`);
    });
}
