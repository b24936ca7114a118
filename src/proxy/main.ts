import cluster from 'node:cluster';
import { watch, type FSWatcher } from 'node:fs';
import { hostname } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { basename, dirname, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { MeridianError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { VERSION } from '../common/version.js';
import { Prober } from '../health/prober.js';
import { CidrMap } from '../routing/cidr.js';
import { GeoLocator } from '../routing/geoip.js';
import { IpcStore } from '../state/ipc-store.js';
import { MemoryBackend, MemoryStore } from '../state/memory-store.js';
import { RedisStore } from '../state/redis-store.js';
import { resolveRedisTarget } from '../state/redis-target.js';
import type { FleetStore } from '../state/store.js';
import { followsStore, loadProxyConfig, loadTable, type ConfigOverrides, type ProxyConfig } from './config.js';
import { startAdmin } from './admin.js';
import { proxyStatusSource, statusPage } from './status-page.js';
import { answerStatusCalls } from './status-workers.js';
import { FleetSync } from './fleet-sync.js';
import { ProxyMetrics, type ShardHealthRow } from './metrics.js';
import { RoutingState } from './routing-state.js';
import { ProxyServer } from './server.js';
import type { CertificateBundle } from './tls/bundle.js';
import { openStaticCertificates } from './tls/certificate-set.js';
import { redirectingRoutes } from './https-redirect.js';
import { FleetTicketKeys } from './tls/ticket-keys.js';

export interface RunningProxy {
  addresses: AddressInfo[];
  admin?: AddressInfo;
  metrics: ProxyMetrics;
  state: RoutingState;
  /** The proxy's membership of its fleet, when it has a state store. */
  fleet?: FleetSync;
  /** Its id in the fleet. */
  id: string;
  /** Re-reads the table (from the config file); keeps the last good table on error. */
  reload(): Promise<void>;
  /** Graceful: stop accepting, finish in flight, close. */
  drain(): Promise<void>;
}

export interface ProxyRunOptions {
  configPath: string;
  logger: Logger;
  /** Serve the admin port from this process (false in a node:cluster worker). */
  admin?: boolean;
  watchTable?: boolean;
  /** `--redis`, `--fleet` (and REDIS_URL) over the config file's store settings. */
  overrides?: ConfigOverrides;
  /** The fleet's state in this process's memory (the demo's controller and proxy share one). */
  memory?: MemoryBackend;
  /** Its metrics (default: new ones with the process's default metrics): tests pass a clock. */
  metrics?: ProxyMetrics;
}

export async function startProxy(opts: ProxyRunOptions): Promise<RunningProxy> {
  const { config, table } = await loadProxyConfig(opts.configPath, opts.overrides);
  return startProxyWith(config, table, opts);
}

/**
 * The fleet's store for this proxy: Redis when configured; else memory — the primary's for a
 * `--workers` worker, the given backend (the demo), or this process's own.
 */
function openStore(config: ProxyConfig, opts: ProxyRunOptions, logger: Logger, metrics: ProxyMetrics): FleetStore {
  const s = config.store!;
  if (s.redis !== undefined) {
    const invalid = new Set<string>();
    return new RedisStore(resolveRedisTarget(s.redis), s.fleet, {
      onInvalid: (kind, key) => {
        // Once per value: a stale record of another version would otherwise log every second.
        if (invalid.has(key)) return;
        invalid.add(key);
        logger.warn({ code: 'E_STORE_RECORD_INVALID', kind, key }, 'skipped a value in the state store that does not parse');
      },
      onResubscribe: () => {
        metrics.storeErrors.inc({ op: 'subscription' });
        logger.warn('the subscription to the fleet\'s messages stopped delivering; subscribed again');
      },
    });
  }
  if (cluster.isWorker) return new IpcStore(s.fleet);
  return new MemoryStore(opts.memory ?? new MemoryBackend(), s.fleet);
}

/** Debug view of the routing state, for /debug/table. */
export function describeState(state: RoutingState, fleet?: FleetSync, id?: string): unknown {
  const snap = state.snapshot;
  return {
    version: snap.version,
    ...(id ? { proxy: id } : {}),
    ...(fleet ? { fleet: { inSync: fleet.isFresh, measuredRttMs: Object.fromEntries(state.live.measuredRtt) } } : {}),
    backends: snap.backends.map((b) => ({
      name: b.name,
      shards: b.shards.map((id) => {
        const s = snap.shards[id]!;
        return {
          cluster: s.cluster,
          region: s.region,
          zone: s.zone ?? null,
          rateRps: state.live.shardRate[id],
          localRateRps: state.live.localRate[id],
          admitShare: state.live.shardAdmit[id],
          regionAdmitShare: state.live.regionAdmit[snap.backends[s.backend]!.regions.find((g) => g.shards.includes(id))!.id],
          localShare: state.live.shardLocalShare[id],
          maxRatePerEndpoint: Number.isFinite(s.maxRatePerEndpoint) ? s.maxRatePerEndpoint : null,
          capacityScaler: s.capacityScaler,
          endpoints: Array.from({ length: s.endpointCount }, (_, k) => {
            const e = s.endpointStart + k;
            const ep = snap.endpoints[e]!;
            const verdict = state.fleetVerdict[e]!;
            return {
              address: `${ep.address}:${ep.port}`,
              healthy: state.live.endpointHealthy[e] === 1,
              probeHealthy: state.probes.healthy[e] === 1,
              fleetVerdict: verdict < 0 ? null : verdict === 1,
              probed: !state.probeTargets || state.probeTargets[e] === 1,
              rttMs: Number.isNaN(state.probeRtt[e]!) ? null : Math.round(state.probeRtt[e]! * 10) / 10,
              ejected: state.outlier.isEjected(e),
              outstanding: state.live.endpointOutstanding[e],
            };
          }),
        };
      }),
    })),
  };
}

/** Per shard of the current table: endpoints, health, ejections, this proxy's votes and the fleet's verdict (for /metrics). */
export function shardHealthRows(state: RoutingState, fleet?: FleetSync): ShardHealthRow[] {
  const snap = state.snapshot;
  const live = state.live;
  const inFleet = fleet?.isFresh === true;
  const targets = state.probeTargets;
  return snap.shards.map((s) => {
    let ejected = 0;
    let probeDown = 0;
    let fleetDown = 0;
    for (let e = s.endpointStart; e < s.endpointStart + s.endpointCount; e++) {
      if (state.outlier.isEjected(e)) ejected++;
      if ((!targets || targets[e] === 1) && state.probes.healthy[e] === 0) probeDown++;
      if (state.fleetVerdict[e] === 0) fleetDown++;
    }
    return {
      backend: s.backendName,
      cluster: s.cluster,
      region: s.region,
      endpoints: s.endpointCount,
      healthy: live.healthyCount[s.id] ?? 0,
      ejected,
      probeDown,
      fleetDown: inFleet ? fleetDown : undefined,
      drained: live.drained[s.id] === 1,
    };
  });
}

export async function startProxyWith(config: ProxyConfig, table: unknown, opts: ProxyRunOptions): Promise<RunningProxy> {
  const logger = opts.logger;
  const follow = followsStore(config);
  if (follow && config.store?.redis === undefined && !opts.memory && !cluster.isWorker) {
    throw new MeridianError('E_CONFIG_INVALID', 'this proxy takes its routing table from the fleet, but has no fleet store to take it from', 'give store: { redis: URL } (or --redis URL, or REDIS_URL), or a table:/tableFile:');
  }
  const startedAt = Date.now();
  const id = config.store?.proxyId ?? process.env.MERIDIAN_PROXY_ID ?? `${hostname()}-${process.pid}`;
  const geo = await GeoLocator.open({
    ...(config.geoip ? { database: config.geoip } : {}),
    overrides: config.geoOverrides.map((o) => [o.cidr, { lat: o.lat, lon: o.lon }]),
    ...(config.location ? { fallback: config.location } : {}),
  });
  const state = new RoutingState(
    geo,
    { ...(config.region ? { region: config.region } : {}), ...(config.location ? { location: config.location } : {}) },
    config.outlier,
    { healthy: config.healthCheck.healthyThreshold, unhealthy: config.healthCheck.unhealthyThreshold, intervalMs: config.healthCheck.intervalMs },
    {
      connectTimeoutMs: config.limits.upstreamConnectTimeoutMs,
      connectionsPerEndpoint: config.limits.upstreamConnectionsPerEndpoint,
      keepAliveTimeoutMs: 30_000,
      ...(config.upstreamBind ? { localAddress: config.upstreamBind } : {}),
    },
  );
  if (follow) state.setNoTable();
  else state.setTable(table);
  // Routes that ask for HTTP → HTTPS redirects with no HTTPS listener here: served as they come,
  // and said once per table that asks (not per request).
  const hasTlsListener = config.listen.some((l) => l.tls);
  let warnedRedirects = '';
  const checkRedirects = () => {
    const routes = hasTlsListener ? [] : redirectingRoutes(state.snapshot.routes, state.snapshot.defaultRoute);
    const key = routes.join(' ');
    if (key !== '' && key !== warnedRedirects) logger.warn({ routes: routes.slice(0, 20), count: routes.length, version: state.snapshot.version }, 'routes ask for HTTP → HTTPS redirects but this proxy has no tls: true listener: their plain-HTTP requests are served, not redirected');
    warnedRedirects = key;
  };
  checkRedirects();
  state.startTicker();
  const metrics = opts.metrics ?? new ProxyMetrics();
  // In a node:cluster worker, the primary's admin port asks each worker for its metrics.
  // (Constructing an AggregatorRegistry is what installs prom-client's worker-side listener.)
  if (cluster.isWorker) {
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([metrics.registry]);
  }
  metrics.tableVersion.set({ version: state.snapshot.version }, 1);
  metrics.retainTable(state.snapshot.shards, state.snapshot.backends.map((b) => b.name));
  metrics.upstreamSource = () => state.upstreamLoad();
  // Certificates are checked before anything listens: a bad one is a start-up error with its code.
  let tls: Awaited<ReturnType<typeof openStaticCertificates>> | undefined;
  try {
    if (config.tls) tls = await openStaticCertificates(config.tls, opts.configPath, metrics.registry, logger);
  } catch (err) {
    await state.close();
    throw err;
  }
  const proxy = new ProxyServer(config, { state, trusted: new CidrMap(config.trustedProxies.map((c) => [c, true as const]), 'trustedProxies CIDR'), metrics, logger, ...(tls ? { tls } : {}) });
  const addresses = await proxy.listen();
  const prober = new Prober(state, {
    intervalMs: config.healthCheck.intervalMs,
    timeoutMs: config.healthCheck.timeoutMs,
    concurrency: 64,
    userAgent: `meridian-health-check/${VERSION} (proxy ${id})`,
    ...(config.upstreamBind ? { localAddress: config.upstreamBind } : {}),
  });

  state.onConnectFailure = (e) => prober.confirm([e], false, config.healthCheck.unhealthyThreshold);

  const applyTable = (fresh: unknown) => {
    state.setTable(fresh);
    checkRedirects();
    metrics.tableVersion.reset();
    metrics.tableVersion.set({ version: state.snapshot.version }, 1);
    metrics.retainTable(state.snapshot.shards, state.snapshot.backends.map((b) => b.name));
  };
  let fleet: FleetSync | undefined;
  let ticketKeys: FleetTicketKeys | undefined;
  if (config.store) {
    const store = openStore(config, opts, logger, metrics);
    // One session-ticket key for the fleet: a client resumes on any proxy (and any worker).
    if (tls && config.tls) {
      ticketKeys = new FleetTicketKeys({
        store,
        target: tls.certificates,
        rotationMs: config.tls.ticketKeyRotationSeconds * 1000,
        logger,
        onGeneration: (g) => tls.metrics.ticketKeyGeneration.set(g),
      });
    }
    fleet = new FleetSync({
      store,
      state,
      prober,
      metrics,
      logger,
      id,
      host: hostname(),
      ...(config.region ? { region: config.region } : {}),
      version: VERSION,
      follow,
      probersPerEndpoint: config.store.probersPerEndpoint,
      staleAfterMs: config.store.staleAfterMs,
      memberTtlMs: config.store.memberTtlMs,
      applyTable,
      // The federation's certificates come with the fleet's table, unless a file is named for them.
      ...(tls && !config.tls?.certificatesFile ? { applyCertificates: (bundle: CertificateBundle) => tls!.certificates.applyBundle(bundle) } : {}),
      ...(ticketKeys ? { ticketKeys } : {}),
    });
    const sync = fleet;
    state.onPeriodClosed = (second, own) => sync.periodClosed(second, own);
    // A proxy that starts gets the fleet's table and state at once, if the store answers soon;
    // if not, it serves on (503 E_NO_TABLE while it has no table) and joins when it can.
    await store.ready(3_000).catch((err: unknown) => logger.warn({ store: store.description, err: String(err) }, 'state store not reachable at start; joining the fleet when it is'));
    await fleet.start();
  }
  prober.start();
  metrics.shardSource = () => shardHealthRows(state, fleet);

  const status = proxyStatusSource({
    id,
    host: hostname(),
    version: VERSION,
    ...(config.region ? { region: config.region } : {}),
    state,
    ...(fleet ? { fleet } : {}),
    isDraining: () => proxy.isDraining,
    startedAt,
    ...(config.store ? { probersPerEndpoint: config.store.probersPerEndpoint } : {}),
    // Certificates loaded for no `tls: true` listener serve nothing: the page shows none.
    // Before the fleet's first key is read, the certificates' own key is in use (generation 0).
    ...(tls && hasTlsListener ? { tls: { certificates: tls.certificates, ticketKeyGeneration: () => ticketKeys?.generation ?? 0 } } : {}),
  });
  // In a node:cluster worker, the primary's admin port asks each worker for its status documents.
  const stopAnsweringStatus = cluster.isWorker ? answerStatusCalls(status) : undefined;
  let adminServer: Server | undefined;
  let adminAddress: AddressInfo | undefined;
  if (opts.admin !== false) {
    const a = await startAdmin(config.admin.host, config.admin.port, {
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      ready: () => !proxy.isDraining && state.hasTable,
      table: () => describeState(state, fleet, id),
      page: statusPage(status, { allowedHosts: config.admin.allowedHosts }),
    });
    adminServer = a.server;
    adminAddress = a.address;
  }

  const reload = async () => {
    await tls?.certificates.reload();
    if (follow) return; // the fleet's table: it reloads itself
    try {
      applyTable(await loadTable(resolve(opts.configPath), config));
      logger.info({ version: state.snapshot.version }, 'routing table reloaded');
    } catch (err) {
      logger.error({ err: String(err) }, 'table reload failed; keeping the last good table');
    }
  };
  let watcher: FSWatcher | undefined;
  if (opts.watchTable !== false && config.tableFile && !follow) {
    let pending: NodeJS.Timeout | undefined;
    // Watch the folder, not the file: a table replaced by rename (as the controller writes it)
    // is a new inode that a watch on the old file would never report.
    const tablePath = resolve(opts.configPath, '..', config.tableFile);
    watcher = watch(dirname(tablePath), (_event, filename) => {
      if (filename !== basename(tablePath)) return;
      clearTimeout(pending);
      pending = setTimeout(() => void reload(), 100);
    });
  }

  return {
    addresses,
    ...(adminAddress ? { admin: adminAddress } : {}),
    metrics,
    state,
    ...(fleet ? { fleet } : {}),
    id,
    reload,
    async drain() {
      stopAnsweringStatus?.();
      watcher?.close();
      tls?.certificates.close();
      await prober.stop();
      await fleet?.stop();
      await proxy.drain();
      if (adminServer) {
        adminServer.closeAllConnections();
        await new Promise<void>((r) => adminServer!.close(() => r()));
      }
      await state.close();
    },
  };
}
