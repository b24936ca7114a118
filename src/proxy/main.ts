import cluster from 'node:cluster';
import { watch, type FSWatcher } from 'node:fs';
import { AggregatorRegistry } from 'prom-client';
import { basename, dirname, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Logger } from '../common/log.js';
import { Prober } from '../health/prober.js';
import { CidrMap } from '../routing/cidr.js';
import { GeoLocator } from '../routing/geoip.js';
import { loadProxyConfig, loadTable, type ProxyConfig } from './config.js';
import { startAdmin } from './admin.js';
import { ProxyMetrics } from './metrics.js';
import { RoutingState } from './routing-state.js';
import { ProxyServer } from './server.js';

export interface RunningProxy {
  addresses: AddressInfo[];
  admin?: AddressInfo;
  metrics: ProxyMetrics;
  state: RoutingState;
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
}

export async function startProxy(opts: ProxyRunOptions): Promise<RunningProxy> {
  const { config, table } = await loadProxyConfig(opts.configPath);
  return startProxyWith(config, table, opts);
}

/** Debug view of the routing state, for /debug/table. */
export function describeState(state: RoutingState): unknown {
  const snap = state.snapshot;
  return {
    version: snap.version,
    backends: snap.backends.map((b) => ({
      name: b.name,
      shards: b.shards.map((id) => {
        const s = snap.shards[id]!;
        return {
          cluster: s.cluster,
          region: s.region,
          zone: s.zone ?? null,
          rateRps: state.live.shardRate[id],
          maxRatePerEndpoint: Number.isFinite(s.maxRatePerEndpoint) ? s.maxRatePerEndpoint : null,
          capacityScaler: s.capacityScaler,
          endpoints: Array.from({ length: s.endpointCount }, (_, k) => {
            const e = s.endpointStart + k;
            const ep = snap.endpoints[e]!;
            return { address: `${ep.address}:${ep.port}`, healthy: state.live.endpointHealthy[e] === 1, probeHealthy: state.probes.healthy[e] === 1, ejected: state.outlier.isEjected(e), outstanding: state.live.endpointOutstanding[e] };
          }),
        };
      }),
    })),
  };
}

export async function startProxyWith(config: ProxyConfig, table: unknown, opts: ProxyRunOptions): Promise<RunningProxy> {
  const logger = opts.logger;
  const geo = await GeoLocator.open({
    ...(config.geoip ? { database: config.geoip } : {}),
    overrides: config.geoOverrides.map((o) => [o.cidr, { lat: o.lat, lon: o.lon }]),
    ...(config.location ? { fallback: config.location } : {}),
  });
  const state = new RoutingState(
    geo,
    { ...(config.region ? { region: config.region } : {}), ...(config.location ? { location: config.location } : {}) },
    config.outlier,
    { healthy: config.healthCheck.healthyThreshold, unhealthy: config.healthCheck.unhealthyThreshold },
    {
      connectTimeoutMs: config.limits.upstreamConnectTimeoutMs,
      connectionsPerEndpoint: config.limits.upstreamConnectionsPerEndpoint,
      keepAliveTimeoutMs: 30_000,
    },
  );
  state.setTable(table);
  state.startTicker();
  const metrics = new ProxyMetrics();
  // In a node:cluster worker, the primary's admin port asks each worker for its metrics.
  // (Constructing an AggregatorRegistry is what installs prom-client's worker-side listener.)
  if (cluster.isWorker) {
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([metrics.registry]);
    // Capacity is shared with the other workers: report this worker's load, take the share the
    // primary works out from everyone's (see worker-share.ts); an even part until then.
    const workers = Number(process.env.MERIDIAN_WORKERS ?? 1);
    if (workers > 1) state.setCapacityShare(1 / workers);
    state.onPeriod = (requests) => process.send?.({ meridian: 'load', requests });
    process.on('message', (msg: { meridian?: string; share?: number }) => {
      if (msg?.meridian === 'capacity-share' && typeof msg.share === 'number') state.setCapacityShare(msg.share);
    });
  }
  metrics.tableVersion.set({ version: state.snapshot.version }, 1);
  metrics.upstreamSource = () => state.upstreamLoad();
  const proxy = new ProxyServer(config, { state, trusted: new CidrMap(config.trustedProxies.map((c) => [c, true as const]), 'trustedProxies CIDR'), metrics, logger });
  const addresses = await proxy.listen();
  const prober = new Prober(state, { intervalMs: config.healthCheck.intervalMs, timeoutMs: config.healthCheck.timeoutMs, concurrency: 64 });
  prober.start();

  let adminServer: Server | undefined;
  let adminAddress: AddressInfo | undefined;
  if (opts.admin !== false) {
    const a = await startAdmin(config.admin.host, config.admin.port, {
      metrics: async () => {
        for (const b of state.snapshot.backends) {
          for (const id of b.shards) metrics.shardHealthy.set({ backend: b.name, cluster: state.snapshot.shards[id]!.cluster }, state.live.healthyCount[id] ?? 0);
        }
        return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
      },
      ready: () => !proxy.isDraining,
      table: () => describeState(state),
    });
    adminServer = a.server;
    adminAddress = a.address;
  }

  const reload = async () => {
    try {
      const fresh = await loadTable(resolve(opts.configPath), config);
      state.setTable(fresh);
      metrics.tableVersion.reset();
      metrics.tableVersion.set({ version: state.snapshot.version }, 1);
      logger.info({ version: state.snapshot.version }, 'routing table reloaded');
    } catch (err) {
      logger.error({ err: String(err) }, 'table reload failed; keeping the last good table');
    }
  };
  let watcher: FSWatcher | undefined;
  if (opts.watchTable !== false && config.tableFile) {
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
    reload,
    async drain() {
      watcher?.close();
      prober.stop();
      await proxy.drain();
      if (adminServer) {
        adminServer.closeAllConnections();
        await new Promise<void>((r) => adminServer!.close(() => r()));
      }
      await state.close();
    },
  };
}
