import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { MeridianError } from '../common/errors.js';
import { LatLonSchema } from './table.js';

/**
 * The routing part of a proxy config file (YAML): the table (inline or from a file), GeoIP
 * settings and the proxy's own place. `meridian route` reads it; the proxy will read the rest.
 */
export const RoutingConfigSchema = z
  .object({
    table: z.unknown().optional(),
    tableFile: z.string().optional(),
    geoip: z.string().optional(),
    geoOverrides: z.array(z.object({ cidr: z.string(), lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) })).default([]),
    region: z.string().optional(),
    location: LatLonSchema.optional(),
    trustedProxies: z.array(z.string()).default([]),
  })
  .passthrough()
  .refine((c) => c.table !== undefined || c.tableFile !== undefined, { message: 'give the routing table inline (table:) or as a file (tableFile:)' });

export type RoutingConfig = z.infer<typeof RoutingConfigSchema> & { tableData: unknown };

export async function loadRoutingConfig(path: string): Promise<RoutingConfig> {
  let raw: unknown;
  try {
    raw = parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new MeridianError('E_CONFIG_INVALID', `${path}: ${(err as Error).message.split('\n')[0]}`, 'the config is a YAML file');
  }
  const parsed = RoutingConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MeridianError('E_CONFIG_INVALID', `${path}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  let tableData = parsed.data.table;
  if (tableData === undefined) {
    const file = resolve(dirname(path), parsed.data.tableFile!);
    try {
      tableData = parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new MeridianError('E_CONFIG_INVALID', `tableFile ${file}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { ...parsed.data, tableData };
}
