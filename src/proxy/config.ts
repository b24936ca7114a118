import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { MeridianError } from '../common/errors.js';
import { LatLonSchema } from '../routing/table.js';
import { RedisConfigSchema, resolveRedisTarget } from '../state/redis-target.js';
import { FLEET_NAME } from '../state/store.js';

const HostPort = z.object({ host: z.string().default('0.0.0.0'), port: z.number().int().min(0).max(65535) });
/** A listen address; `tls: true` makes it HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with the certificates of `tls:`. */
const ListenAddress = HostPort.extend({ tls: z.boolean().default(false) }).strict();
const CertificateFiles = z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict();

/** `meridian proxy --config FILE`: YAML, validated here with errors that name the field. */
export const ProxyConfigSchema = z
  .object({
    /** Where the routing table comes from: this config (table/tableFile), or the fleet's store. Default: static when a table is given. */
    source: z.enum(['static', 'store']).optional(),
    listen: z.array(ListenAddress).min(1).default([{ host: '0.0.0.0', port: 8080, tls: false }]),
    admin: HostPort.extend({
      /**
       * Host names the status page (/ui, /status) answers to besides IP addresses and localhost:
       * a page on a loopback port must not answer a DNS-rebound name of someone else's site.
       */
      allowedHosts: z.array(z.string().min(1)).default([]),
    }).default({ host: '127.0.0.1', port: 9901, allowedHosts: [] }),
    table: z.unknown().optional(),
    tableFile: z.string().optional(),
    trustedProxies: z.array(z.string()).default([]),
    geoip: z.string().optional(),
    geoOverrides: z.array(z.object({ cidr: z.string(), lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) })).default([]),
    region: z.string().optional(),
    location: LatLonSchema.optional(),
    /** Local address upstream connections and probes leave from (nginx's proxy_bind). */
    upstreamBind: z.string().optional(),
    /**
     * The fleet: proxies sharing health, load, latency and the routing table through a state
     * store. Redis for proxies on several hosts; without `redis`, this process's memory (one
     * host's `--workers` share it through their primary).
     */
    store: z
      .object({
        redis: RedisConfigSchema.optional(),
        fleet: z.string().regex(FLEET_NAME, 'a DNS label: lower-case letters, digits and "-"').default('default'),
        /** This proxy's id in the fleet; default host name and pid. */
        proxyId: z.string().regex(/^[\w.-]{1,128}$/, 'letters, digits, ".", "_" and "-"').optional(),
        /** How many proxies probe each endpoint (rendezvous hashing over the live ones). */
        probersPerEndpoint: z.number().int().min(1).default(3),
        /** Without a successful sync for this long, fall back to local probes and rates. */
        staleAfterMs: z.number().int().min(1_000).default(3_000),
        /** A proxy is gone from the fleet this long after its last heartbeat (one a second). */
        memberTtlMs: z.number().int().min(2_000).default(5_000),
      })
      .strict()
      .optional(),
    /** How request paths are normalised before they are routed and forwarded. */
    paths: z
      .object({
        mergeSlashes: z.boolean().default(true),
        /** `%2F`/`%5C` in a path: reject (400, default) or keep them encoded as data. */
        encodedSlashes: z.enum(['reject', 'keep']).default('reject'),
      })
      .strict()
      .prefault({}),
    /**
     * Certificates for the `tls: true` listeners, and the TLS settings. Static ones: PEM files,
     * relative to this file; each is served for the names in it, the first also to clients asking
     * for another name or none. The federation's (federated Ingresses' spec.tls Secrets): from the
     * fleet's store when the proxy follows the fleet's table, or from `certificatesFile`, the file
     * `meridian controller` writes. Without a static one, a name no certificate covers gets no
     * handshake. Files are watched: a changed pair applies to new connections.
     */
    tls: z
      .object({
        certificates: z.array(CertificateFiles).default([]),
        /** The federation's certificates as `meridian controller` writes them (certificates.json beside --table-out). */
        certificatesFile: z.string().min(1).optional(),
        /** A handshake not done in this long is dropped (nginx's ssl_handshake_timeout). */
        handshakeTimeoutMs: z.number().int().min(100).default(10_000),
        /** How long a session may be resumed (TLS 1.3 tickets, TLS 1.2 tickets). */
        sessionTimeoutSeconds: z.number().int().min(1).max(7 * 86_400).default(300),
        /**
         * The session-ticket key is replaced this often: by the fleet (one key in the state store,
         * shared by every proxy and worker) or, without a store, by each process for itself.
         */
        ticketKeyRotationSeconds: z.number().int().min(1).default(12 * 3600),
        /** Certificate files are looked at this often besides change events (which some filesystems never send). */
        pollIntervalMs: z.number().int().min(100).default(5_000),
        /**
         * The port clients reach HTTPS on, for the Location of a route's HTTP → HTTPS redirect,
         * when a load balancer or NAT in front maps it (default: the first `tls: true` listener's).
         */
        redirectPort: z.number().int().min(1).max(65535).optional(),
      })
      .strict()
      .optional(),
    /** HTTP/2 on the TLS listeners: the SETTINGS the proxy announces, and what closes an abusive connection. */
    http2: z
      .object({
        maxConcurrentStreams: z.number().int().min(1).max(2 ** 31 - 1).default(128),
        /**
         * A request's header list (name + value + 32 per field) larger than this gets 431, as an
         * HTTP/1.1 head over limits.maxHeaderBytes does (the default); SETTINGS_MAX_HEADER_LIST_SIZE
         * announces twice it, past which the stream is reset.
         */
        maxHeaderListBytes: z.number().int().min(1024).optional(),
        /**
         * A connection with no stream open for this long is closed (GOAWAY, then the connection).
         * nginx's keepalive_timeout for HTTP/2 (75 s): a browser keeps its one connection across
         * page views without a new handshake, and a fleet of idle ones is bounded. Envoy's hour
         * suits a mesh of few long-lived clients, not an edge facing the world. HTTP/1.1 keeps
         * limits.keepAliveTimeoutMs.
         */
        idleTimeoutMs: z.number().int().min(100).default(75_000),
        /** The window the counts below are kept over. */
        abuseWindowMs: z.number().int().min(100).default(10_000),
        /** Streams a client resets before their response is complete, per window (CVE-2023-44487's rapid reset). */
        maxResetStreamsPerWindow: z.number().int().min(1).default(200),
        maxPingsPerWindow: z.number().int().min(1).default(100),
        maxSettingsPerWindow: z.number().int().min(1).default(100),
      })
      .strict()
      .prefault({}),
    debugHeader: z.boolean().default(false),
    via: z.string().default('meridian'),
    limits: z
      .object({
        maxHeaderBytes: z.number().int().min(1024).default(16 * 1024),
        /** Header lines in a request at most (more: 431). */
        maxHeaderCount: z.number().int().min(1).default(200),
        maxBodyBytes: z.number().int().min(0).default(64 * 1024 * 1024),
        headersTimeoutMs: z.number().int().min(100).default(10_000),
        requestTimeoutMs: z.number().int().min(0).default(300_000),
        keepAliveTimeoutMs: z.number().int().min(100).default(5_000),
        upstreamConnectTimeoutMs: z.number().int().min(10).default(2_000),
        /** Connections to one endpoint at most; more requests wait in order for a free one. */
        upstreamConnectionsPerEndpoint: z.number().int().min(1).default(128),
        upstreamHeadersTimeoutMs: z.number().int().min(10).default(30_000),
        upstreamBodyTimeoutMs: z.number().int().min(10).default(60_000),
        /** Longest wait for a free connection to an endpoint (HAProxy's `timeout queue`), then 503. */
        upstreamQueueTimeoutMs: z.number().int().min(10).default(10_000),
        /** A client that reads nothing of its response for this long is dropped (nginx's send_timeout). */
        downstreamWriteTimeoutMs: z.number().int().min(10).default(60_000),
        /** An upgraded connection (WebSocket) quiet both ways this long is closed. */
        tunnelIdleTimeoutMs: z.number().int().min(100).default(300_000),
        /** Upgraded connections open at once at most; more get 503 E_TUNNEL_LIMIT. */
        maxTunnels: z.number().int().min(0).default(10_000),
        drainTimeoutMs: z.number().int().min(0).default(20_000),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        attempts: z.number().int().min(0).max(2).default(2),
        /** Retries of a request whose connection failed (it never left: safe whatever the method). */
        connectAttempts: z.number().int().min(0).max(8).default(4),
        /** Retries over the last 10 s stay under this share of the requests… */
        budgetRatio: z.number().min(0).max(1).default(0.2),
        /** …or this many per second when traffic is light. */
        budgetMinPerSecond: z.number().min(0).default(10),
      })
      .strict()
      .prefault({}),
    healthCheck: z
      .object({
        intervalMs: z.number().int().min(100).default(1_000),
        timeoutMs: z.number().int().min(50).default(1_000),
        healthyThreshold: z.number().int().min(1).default(2),
        unhealthyThreshold: z.number().int().min(1).default(2),
      })
      .strict()
      .prefault({}),
    outlier: z
      .object({
        consecutiveErrors: z.number().int().min(1).default(5),
        baseEjectionMs: z.number().int().min(100).default(30_000),
        maxEjectionMs: z.number().int().min(100).default(300_000),
        maxEjectedShare: z.number().min(0).max(1).default(0.5),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((c) => c.table !== undefined || c.tableFile !== undefined || c.store !== undefined, {
    message: 'give the routing table inline (table:), as a file (tableFile:), or follow the fleet\'s (store: { redis: URL }, or --redis URL)',
  })
  .refine((c) => c.source !== 'store' || (c.table === undefined && c.tableFile === undefined), { message: '"store" takes the table from the fleet: drop table/tableFile, or say "static"', path: ['source'] })
  .refine((c) => c.source !== 'static' || c.table !== undefined || c.tableFile !== undefined, { message: '"static" needs table: or tableFile:', path: ['source'] })
  .refine((c) => !c.listen.some((l) => l.tls) || (c.tls !== undefined && (c.tls.certificates.length > 0 || c.tls.certificatesFile !== undefined || followsStore(c))), {
    message: 'a listen entry has tls: true: give the certificates as tls: { certificates: [{ certFile, keyFile }] }, or take the federation\'s: tls: { certificatesFile: FILE } (the controller\'s certificates.json), or tls: {} when the table comes from the fleet\'s store',
    path: ['tls'],
  });

export type ProxyConfig = z.infer<typeof ProxyConfigSchema>;

/** Does this proxy take its routing table (and the federation's certificates, without tls.certificatesFile) from the fleet's store? */
export function followsStore(config: { source?: 'static' | 'store' | undefined; table?: unknown; tableFile?: string | undefined }): boolean {
  return config.source === 'store' || (config.table === undefined && config.tableFile === undefined);
}

/** Command-line settings that override the config file's (`--redis`, `--fleet`), and REDIS_URL. */
export interface ConfigOverrides {
  redis?: string;
  fleet?: string;
  /** One host's `--workers`: without a store configured, they share one in the primary's memory. */
  workers?: boolean;
}

/**
 * The fleet settings from flags and the environment merged into the raw config: `--redis` beats
 * `store.redis`, which beats REDIS_URL (used when the config has a store section without redis,
 * or names no table at all).
 */
export function withOverrides(raw: unknown, overrides: ConfigOverrides, env: NodeJS.ProcessEnv = process.env): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const c = { ...(raw as Record<string, unknown>) };
  const hasTable = c.table !== undefined || c.tableFile !== undefined;
  if (c.store !== undefined && (c.store === null || typeof c.store !== 'object' || Array.isArray(c.store))) return raw; // let validation say what is wrong
  const store = c.store as Record<string, unknown> | undefined;
  const redis = overrides.redis ?? (store?.redis as unknown) ?? ((store || !hasTable) && env.REDIS_URL ? env.REDIS_URL : undefined);
  if (redis === undefined && overrides.fleet === undefined && !(overrides.workers && store === undefined)) return raw;
  c.store = { ...(store ?? {}), ...(redis !== undefined ? { redis } : {}), ...(overrides.fleet !== undefined ? { fleet: overrides.fleet } : {}) };
  return c;
}

export function parseProxyConfig(raw: unknown, where = 'config', overrides: ConfigOverrides = {}): ProxyConfig {
  const parsed = ProxyConfigSchema.safeParse(withOverrides(raw, overrides));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MeridianError('E_CONFIG_INVALID', `${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, 'see examples/proxy/ and the README for the format');
  }
  // A Redis URL or TLS file that cannot work is a config error now, not a retry loop later.
  if (parsed.data.store?.redis !== undefined) resolveRedisTarget(parsed.data.store.redis);
  return parsed.data;
}

/** The config file, validated, with its static table (undefined when the table comes from the fleet). */
export async function loadProxyConfig(path: string, overrides: ConfigOverrides = {}): Promise<{ config: ProxyConfig; table: unknown }> {
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
  const config = parseProxyConfig(raw, path, overrides);
  return { config, table: followsStore(config) ? undefined : await loadTable(path, config) };
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
