import type { Command } from 'commander';
import { MeridianError } from '../../common/errors.js';

export function register(program: Command): void {
  program
    .command('fleet')
    .description('show a proxy fleet as its state store holds it: proxies and their sync, per shard the fleet\'s health verdict with votes, and its rate against capacity')
    .option('--redis <url>', 'the fleet\'s Redis (default REDIS_URL)')
    .option('--fleet <name>', 'which fleet', 'default')
    .option('-o, --output <format>', 'wide or json')
    .action(async (flags: { redis?: string; fleet: string; output?: string }) => {
      const url = flags.redis ?? process.env.REDIS_URL;
      if (!url) throw new MeridianError('E_CLI_ARG', 'no Redis to read the fleet from', 'pass --redis URL or set REDIS_URL');
      if (flags.output !== undefined && flags.output !== 'wide' && flags.output !== 'json') throw new MeridianError('E_CLI_ARG', `-o "${flags.output}" is not an output format`, 'use -o wide or -o json');
      const [{ RedisStore }, { parseRedisUrl }, { describeFleet, readFleet, renderFleet, unknownFleet }] = await Promise.all([
        import('../../state/redis-store.js'),
        import('../../state/redis-target.js'),
        import('../../proxy/fleet-view.js'),
      ]);
      const store = new RedisStore(parseRedisUrl(url), flags.fleet, { maxReconnectDelayMs: 200 });
      try {
        await store.ready(3_000).catch((err: unknown) => {
          throw new MeridianError('E_STORE_UNREACHABLE', `cannot reach ${store.description}: ${(err as Error).message}`, 'check the URL, and that Redis is up and reachable from here');
        });
        const view = describeFleet(await readFleet(store));
        const unknown = unknownFleet(view, (await store.fleetNames()).filter((f) => f !== flags.fleet));
        if (unknown) throw unknown;
        process.stdout.write(flags.output === 'json' ? `${JSON.stringify(view, null, 2)}\n` : renderFleet(view, flags.output === 'wide'));
      } finally {
        await store.close();
      }
    });
}
