import { isIP } from 'node:net';
import type { Command } from 'commander';
import { MeridianError } from '../../common/errors.js';
import { loadProxyConfig, type ProxyConfig } from '../../proxy/config.js';
import { renderRoute, routeReport } from '../../proxy/route-report.js';
import { GeoLocator } from '../../routing/geoip.js';
import { LiveState } from '../../routing/live.js';
import { buildSnapshot, type RoutingSnapshot } from '../../routing/snapshot.js';
import { LatLonSchema } from '../../routing/table.js';

interface RouteFlags {
  output: string;
  config?: string;
  redis?: string;
  fleet: string;
  region?: string;
  clientIp: string;
  sourceCluster?: string;
  host: string;
  path: string;
  seed: string;
}

/**
 * The table and live state to explain against: a config's table (everything healthy, no load),
 * or the fleet's published table with the fleet's health verdicts, ejections, rates and measured
 * latencies.
 */
async function source(flags: RouteFlags, config: ProxyConfig | undefined, table: unknown): Promise<{ snapshot: RoutingSnapshot; live: LiveState; from: string }> {
  const at = { ...(flags.region ?? config?.region ? { region: (flags.region ?? config?.region)! } : {}), ...(config?.location ? { location: config.location } : {}) };
  // --redis, else the config's fleet store when it has no table of its own, else REDIS_URL without a config.
  const redis = flags.redis ?? (config ? (table === undefined ? config.store?.redis : undefined) : process.env.REDIS_URL);
  if (redis === undefined) {
    const snapshot = buildSnapshot(table, at);
    return { snapshot, live: new LiveState(snapshot), from: `the table of ${flags.config} (every endpoint assumed healthy)` };
  }
  const [{ RedisStore }, { resolveRedisTarget }, { liveFromFleet, readFleet }] = await Promise.all([import('../../state/redis-store.js'), import('../../state/redis-target.js'), import('../../proxy/fleet-view.js')]);
  const store = new RedisStore(resolveRedisTarget(redis), flags.redis ? flags.fleet : (config?.store?.fleet ?? flags.fleet), { maxReconnectDelayMs: 200 });
  try {
    await store.ready(3_000).catch((err: unknown) => {
      throw new MeridianError('E_STORE_UNREACHABLE', `cannot reach ${store.description}: ${(err as Error).message}`, 'check the URL, and that Redis is up and reachable from here');
    });
    const state = await readFleet(store);
    if (!state.table) throw new MeridianError('E_FLEET_NO_TABLE', `fleet "${flags.fleet}" at ${store.description} has no routing table`, 'the controller publishes one with `meridian controller --redis URL`; check --fleet');
    const snapshot = buildSnapshot(JSON.parse(state.table.body), at);
    return { snapshot, live: liveFromFleet(snapshot, state), from: `fleet "${flags.fleet}" (table ${state.table.version}, ${state.members.length} proxies' health, load and latency)` };
  } finally {
    await store.close();
  }
}

export function register(program: Command): void {
  program
    .command('route')
    .description('explain the routing choice for a client: ranked shards with reasons and the RTT source, and the pick (JSON)')
    .option('--config <file>', 'proxy config (YAML) with the routing table (or the region and GeoIP settings, with --redis)')
    .option('--redis <url>', 'explain against the live fleet in this Redis: its table, health verdicts, rates and measured latencies')
    .option('--fleet <name>', 'the fleet, with --redis', 'default')
    .option('--region <region>', 'the proxy\'s region: where clients of unknown location are')
    .requiredOption('--client-ip <ip>', 'the client address')
    .option('--source-cluster <name>', 'treat the client as inside this cluster')
    .option('--host <host>', 'Host header', '')
    .option('--path <path>', 'request path', '/')
    .option('--seed <n>', 'seed of the random choices (the ranking does not depend on it)', '1')
    .option('-o, --output <format>', 'table (default) or json', 'table')
    .action(async (flags: RouteFlags) => {
      if (!isIP(flags.clientIp)) throw new MeridianError('E_CLI_ARG', `--client-ip "${flags.clientIp}" is not an IP address`);
      if (flags.output !== 'table' && flags.output !== 'json') throw new MeridianError('E_CLI_ARG', `-o "${flags.output}" is not an output format`, 'use -o table or -o json');
      if (!flags.config && !flags.redis && !process.env.REDIS_URL) throw new MeridianError('E_CLI_ARG', 'nothing to route on', 'give --config FILE (a proxy config with its table) or --redis URL (the live fleet)');
      // The same file, validated the same way, as `meridian proxy --config`.
      const loaded = flags.config ? await loadProxyConfig(flags.config, flags.redis ? { redis: flags.redis, fleet: flags.fleet } : {}) : undefined;
      const config = loaded?.config;
      const { snapshot, live, from } = await source(flags, config, loaded?.table);
      if (flags.sourceCluster && !snapshot.clusterByName.has(flags.sourceCluster)) {
        throw new MeridianError('E_CLI_ARG', `--source-cluster "${flags.sourceCluster}" is not a cluster of the table`, `clusters: ${snapshot.clusters.join(', ')}`);
      }
      const geo = await GeoLocator.open({
        ...(config?.geoip ? { database: config.geoip } : {}),
        overrides: (config?.geoOverrides ?? []).map((o) => [o.cidr, { lat: o.lat, lon: o.lon }]),
        ...(config?.location ? { fallback: LatLonSchema.parse(config.location) } : {}),
      });
      const report = routeReport(
        { clientIp: flags.clientIp, host: flags.host, path: flags.path, ...(flags.sourceCluster ? { sourceCluster: flags.sourceCluster } : {}), seed: Number(flags.seed) },
        snapshot,
        live,
        (ip) => geo.lookup(ip),
        from,
      );
      process.stdout.write(flags.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderRoute(report));
    });
}
