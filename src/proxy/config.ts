import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { MeridianError } from '../common/errors.js';
import { LatLonSchema } from '../routing/table.js';

const HostPort = z.object({ host: z.string().default('0.0.0.0'), port: z.number().int().min(0).max(65535) });

/** `meridian proxy --config FILE`: YAML, validated here with errors that name the field. */
export const ProxyConfigSchema = z
  .object({
    source: z.enum(['static', 'store']).default('static'),
    listen: z.array(HostPort).min(1).default([{ host: '0.0.0.0', port: 8080 }]),
    admin: HostPort.default({ host: '127.0.0.1', port: 9901 }),
    table: z.unknown().optional(),
    tableFile: z.string().optional(),
    trustedProxies: z.array(z.string()).default([]),
    geoip: z.string().optional(),
    geoOverrides: z.array(z.object({ cidr: z.string(), lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) })).default([]),
    region: z.string().optional(),
    location: LatLonSchema.optional(),
    debugHeader: z.boolean().default(false),
    via: z.string().default('meridian'),
    limits: z
      .object({
        maxHeaderBytes: z.number().int().min(1024).default(16 * 1024),
        maxBodyBytes: z.number().int().min(0).default(64 * 1024 * 1024),
        headersTimeoutMs: z.number().int().min(100).default(10_000),
        requestTimeoutMs: z.number().int().min(0).default(300_000),
        keepAliveTimeoutMs: z.number().int().min(100).default(5_000),
        upstreamConnectTimeoutMs: z.number().int().min(10).default(2_000),
        /** Connections to one endpoint at most; more requests wait in order for a free one. */
        upstreamConnectionsPerEndpoint: z.number().int().min(1).default(128),
        upstreamHeadersTimeoutMs: z.number().int().min(10).default(30_000),
        upstreamBodyTimeoutMs: z.number().int().min(10).default(60_000),
        drainTimeoutMs: z.number().int().min(0).default(20_000),
      })
      .prefault({}),
    retry: z
      .object({
        attempts: z.number().int().min(0).max(2).default(2),
        /** Retries over the last 10 s stay under this share of the requests… */
        budgetRatio: z.number().min(0).max(1).default(0.2),
        /** …or this many per second when traffic is light. */
        budgetMinPerSecond: z.number().min(0).default(10),
      })
      .prefault({}),
    healthCheck: z
      .object({
        intervalMs: z.number().int().min(100).default(1_000),
        timeoutMs: z.number().int().min(50).default(1_000),
        healthyThreshold: z.number().int().min(1).default(2),
        unhealthyThreshold: z.number().int().min(1).default(2),
      })
      .prefault({}),
    outlier: z
      .object({
        consecutiveErrors: z.number().int().min(1).default(5),
        baseEjectionMs: z.number().int().min(100).default(30_000),
        maxEjectionMs: z.number().int().min(100).default(300_000),
        maxEjectedShare: z.number().min(0).max(1).default(0.5),
      })
      .prefault({}),
  })
  .strict()
  .refine((c) => c.table !== undefined || c.tableFile !== undefined, { message: 'give the routing table inline (table:) or as a file (tableFile:)' });

export type ProxyConfig = z.infer<typeof ProxyConfigSchema>;

export function parseProxyConfig(raw: unknown, where = 'config'): ProxyConfig {
  const parsed = ProxyConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MeridianError('E_CONFIG_INVALID', `${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, 'see examples/proxy/ and the README for the format');
  }
  if (parsed.data.source === 'store') {
    throw new MeridianError('E_CONFIG_UNSUPPORTED', `${where}: source: store is not available yet`, 'the fleet mode through Redis is not built yet; use source: static with a table');
  }
  return parsed.data;
}

export async function loadProxyConfig(path: string): Promise<{ config: ProxyConfig; table: unknown }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new MeridianError('E_CONFIG_UNREADABLE', `${path}: ${(err as Error).message.split('\n')[0]}`, 'check the path given to --config (examples/proxy/static.yaml is a working one)');
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new MeridianError('E_CONFIG_INVALID', `${path}: ${(err as Error).message.split('\n')[0]}`, 'the config is a YAML file; see examples/proxy/ and the README for the format');
  }
  const config = parseProxyConfig(raw, path);
  return { config, table: await loadTable(path, config) };
}

export async function loadTable(configPath: string, config: ProxyConfig): Promise<unknown> {
  if (config.table !== undefined) return config.table;
  const file = resolve(dirname(configPath), config.tableFile!);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new MeridianError('E_TABLE_UNREADABLE', `tableFile ${file}: ${(err as Error).message.split('\n')[0]}`, 'tableFile is relative to the config file; `meridian controller --table-out` writes one');
  }
  try {
    return parse(text);
  } catch (err) {
    throw new MeridianError('E_TABLE_INVALID', `tableFile ${file}: ${(err as Error).message.split('\n')[0]}`, 'the table is YAML or JSON; see examples/proxy/tables/');
  }
}
