import { isIP } from 'node:net';
import type { Command } from 'commander';
import { MeridianError } from '../../common/errors.js';
import { loadProxyConfig } from '../../proxy/config.js';
import { explain } from '../../routing/explain.js';
import { GeoLocator } from '../../routing/geoip.js';
import { LiveState } from '../../routing/live.js';
import { matchRoute } from '../../routing/match.js';
import { buildSnapshot, locateClient } from '../../routing/snapshot.js';

export function register(program: Command): void {
  program
    .command('route')
    .description('explain the routing choice for a client: ranked shards with reasons, and the pick (JSON)')
    .requiredOption('--config <file>', 'proxy config (YAML) with the routing table')
    .requiredOption('--client-ip <ip>', 'the client address')
    .option('--source-cluster <name>', 'treat the client as inside this cluster')
    .option('--host <host>', 'Host header', '')
    .option('--path <path>', 'request path', '/')
    .option('--seed <n>', 'seed of the random choices (the ranking does not depend on it)', '1')
    .action(async (flags: { config: string; clientIp: string; sourceCluster?: string; host: string; path: string; seed: string }) => {
      if (!isIP(flags.clientIp)) throw new MeridianError('E_CLI_ARG', `--client-ip "${flags.clientIp}" is not an IP address`);
      // The same file, validated the same way, as `meridian proxy --config`.
      const { config, table } = await loadProxyConfig(flags.config);
      const snapshot = buildSnapshot(table, { ...(config.region ? { region: config.region } : {}), ...(config.location ? { location: config.location } : {}) });
      const backend = matchRoute(snapshot.routes, snapshot.defaultBackend, flags.host, flags.path);
      if (backend < 0) throw new MeridianError('E_NO_ROUTE', `no route for host "${flags.host}" path "${flags.path}" and no defaultBackend`);
      const geo = await GeoLocator.open({
        ...(config.geoip ? { database: config.geoip } : {}),
        overrides: config.geoOverrides.map((o) => [o.cidr, { lat: o.lat, lon: o.lon }]),
        ...(config.location ? { fallback: config.location } : {}),
      });
      let sourceCluster = snapshot.clientCIDRs.get(flags.clientIp) ?? -1;
      if (flags.sourceCluster) {
        sourceCluster = snapshot.clusterByName.get(flags.sourceCluster) ?? -1;
        if (sourceCluster < 0) throw new MeridianError('E_CLI_ARG', `--source-cluster "${flags.sourceCluster}" is not a cluster of the table`, `clusters: ${snapshot.clusters.join(', ')}`);
      }
      const location = geo.lookup(flags.clientIp);
      let seed = Number(flags.seed) >>> 0 || 1;
      const rng = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      const result = explain({ cell: locateClient(snapshot, location), sourceCluster }, snapshot, new LiveState(snapshot), backend, rng);
      process.stdout.write(`${JSON.stringify({ clientIp: flags.clientIp, location: location ?? null, ...result }, null, 2)}\n`);
    });
}
