import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { MeridianError } from '../common/errors.js';

const HostPortSchema = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }).strict();

const TlsSchema = z.union([
  z.boolean(),
  z
    .object({
      /** PEM files: the CA that signed the server's certificate, and a client certificate and key for mutual TLS. */
      caFile: z.string().optional(),
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
      servername: z.string().optional(),
      rejectUnauthorized: z.boolean().default(true),
    })
    .strict(),
]);

/**
 * Where the fleet's Redis is, in the proxy config or the controller's flags: a URL (standalone),
 * or Sentinel (`sentinels` + `name`), or Redis Cluster (`cluster` seed nodes), with AUTH and TLS.
 */
export const RedisConfigSchema = z.union([
  z.string(),
  z
    .object({
      url: z.string().optional(),
      sentinels: z.array(HostPortSchema).min(1).optional(),
      /** The Sentinel master name. */
      name: z.string().optional(),
      cluster: z.array(HostPortSchema).min(1).optional(),
      username: z.string().optional(),
      password: z.string().optional(),
      sentinelPassword: z.string().optional(),
      db: z.number().int().min(0).optional(),
      tls: TlsSchema.optional(),
    })
    .strict(),
]);
export type RedisConfig = z.input<typeof RedisConfigSchema>;

export interface RedisNode {
  host: string;
  port: number;
}

/** A resolved, validated Redis target. */
export interface RedisTarget {
  mode: 'standalone' | 'sentinel' | 'cluster';
  nodes: RedisNode[];
  /** Sentinel master name. */
  name?: string;
  username?: string;
  password?: string;
  sentinelPassword?: string;
  db?: number;
  tls?: { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized: boolean };
  /** For logs and errors: the target without its password. */
  description: string;
}

const URL_FORMS = 'redis://[user:password@]host[:port][/db], rediss://… (TLS), redis+sentinel://[user:password@]host:port[,host:port…]/master-name[/db], redis+cluster://host:port[,host:port…]';

function urlError(url: string, why: string): MeridianError {
  // Never echo a password back: show the URL with its userinfo masked.
  const shown = url.replace(/\/\/[^@/]*@/, '//***@');
  return new MeridianError('E_STORE_URL', `Redis URL "${shown}": ${why}`, `the forms are ${URL_FORMS}`);
}

function parseNodes(list: string, url: string, defaultPort: number): RedisNode[] {
  return list.split(',').map((part) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(part.trim());
    if (!m) throw urlError(url, `"${part}" is not host[:port]`);
    const port = m[2] === undefined ? defaultPort : Number(m[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw urlError(url, `port "${m[2]}" is out of range`);
    return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
  });
}

/** Parses the URL forms (see URL_FORMS). Pure. */
export function parseRedisUrl(url: string): RedisTarget {
  const m = /^(rediss?)(\+sentinel|\+cluster)?:\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?(?:\?.*)?$/.exec(url.trim());
  if (!m) throw urlError(url, 'not a Redis URL');
  const [, scheme, variant, userinfo, hosts, path] = m;
  const mode = variant === '+sentinel' ? 'sentinel' : variant === '+cluster' ? 'cluster' : 'standalone';
  const nodes = parseNodes(hosts!, url, mode === 'sentinel' ? 26379 : 6379);
  if (mode === 'standalone' && nodes.length > 1) throw urlError(url, 'several hosts need redis+sentinel:// or redis+cluster://');
  const target: RedisTarget = { mode, nodes, description: '' };
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const user = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
    const password = colon < 0 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
    // redis://secret@host is the old password-only form (Redis before ACLs).
    if (password === undefined) target.password = user;
    else {
      if (user) target.username = user;
      target.password = password;
    }
  }
  const segments = (path ?? '').split('/').filter(Boolean);
  if (mode === 'sentinel') {
    if (!segments[0]) throw urlError(url, 'a Sentinel URL names its master: redis+sentinel://host:26379/mymaster');
    target.name = decodeURIComponent(segments.shift()!);
  }
  if (segments.length > 1 || (mode === 'cluster' && segments.length)) throw urlError(url, mode === 'cluster' ? 'Redis Cluster has no databases: drop the path' : `unexpected path "${path}"`);
  if (segments[0] !== undefined) {
    const db = Number(segments[0]);
    if (!Number.isInteger(db) || db < 0) throw urlError(url, `database "${segments[0]}" is not a number`);
    target.db = db;
  }
  if (scheme === 'rediss') target.tls = { rejectUnauthorized: true };
  target.description = describeTarget(target);
  return target;
}

function readPem(path: string, field: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new MeridianError('E_STORE_TLS', `redis.tls.${field} ${path}: ${(err as Error).message.split('\n')[0]}`, 'give a readable PEM file');
  }
}

/** Resolves the config form (or a URL string) into a target; a URL from REDIS_URL fills in for an absent one. */
export function resolveRedisTarget(config: RedisConfig): RedisTarget {
  if (typeof config === 'string') return parseRedisUrl(config);
  const forms = [config.url !== undefined, config.sentinels !== undefined, config.cluster !== undefined].filter(Boolean).length;
  if (forms !== 1) throw new MeridianError('E_STORE_CONFIG', 'redis: give exactly one of url, sentinels (with name) or cluster', `a URL form also works: ${URL_FORMS}`);
  let target: RedisTarget;
  if (config.url !== undefined) target = parseRedisUrl(config.url);
  else if (config.sentinels) {
    if (!config.name) throw new MeridianError('E_STORE_CONFIG', 'redis.sentinels needs redis.name, the master name the Sentinels watch', 'e.g. name: mymaster');
    target = { mode: 'sentinel', nodes: config.sentinels, name: config.name, description: '' };
  } else target = { mode: 'cluster', nodes: config.cluster!, description: '' };
  if (config.username !== undefined) target.username = config.username;
  if (config.password !== undefined) target.password = config.password;
  if (config.sentinelPassword !== undefined) target.sentinelPassword = config.sentinelPassword;
  if (config.db !== undefined) {
    if (target.mode === 'cluster') throw new MeridianError('E_STORE_CONFIG', 'redis.db: Redis Cluster has only database 0', 'drop redis.db');
    target.db = config.db;
  }
  if (config.tls === false) delete target.tls;
  else if (config.tls !== undefined) {
    const t = config.tls === true ? { rejectUnauthorized: true } : config.tls;
    target.tls = {
      rejectUnauthorized: t.rejectUnauthorized ?? true,
      ...('caFile' in t && t.caFile ? { ca: readPem(t.caFile, 'caFile') } : {}),
      ...('certFile' in t && t.certFile ? { cert: readPem(t.certFile, 'certFile') } : {}),
      ...('keyFile' in t && t.keyFile ? { key: readPem(t.keyFile, 'keyFile') } : {}),
      ...('servername' in t && t.servername ? { servername: t.servername } : {}),
    };
  }
  target.description = describeTarget(target);
  return target;
}

export function describeTarget(t: RedisTarget): string {
  const scheme = `${t.tls ? 'rediss' : 'redis'}${t.mode === 'standalone' ? '' : `+${t.mode}`}`;
  const user = t.password !== undefined ? `${t.username ?? ''}:***@` : t.username ? `${t.username}@` : '';
  const hosts = t.nodes.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',');
  const path = t.mode === 'sentinel' ? `/${t.name}${t.db !== undefined ? `/${t.db}` : ''}` : t.db !== undefined ? `/${t.db}` : '';
  return `${scheme}://${user}${hosts}${path}`;
}
