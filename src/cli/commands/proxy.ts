import cluster from 'node:cluster';
import type { Command } from 'commander';
import { AggregatorRegistry } from 'prom-client';
import { MeridianError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { startAdmin } from '../../proxy/admin.js';
import { statusPage } from '../../proxy/status-page.js';
import { workersStatusSource } from '../../proxy/status-workers.js';
import { loadProxyConfig, type ConfigOverrides } from '../../proxy/config.js';

export function register(program: Command): void {
  program
    .command('proxy')
    .description('run the HTTP proxy (the data plane behind the VIP) on a routing table, alone or in a fleet')
    .requiredOption('--config <file>', 'proxy config (YAML)')
    .option('--workers <n>', 'worker processes sharing the listen ports (node:cluster); they share health and load as a fleet', '1')
    .option('--redis <url>', 'join the fleet in this Redis (redis://, rediss://, redis+sentinel://host:port/master, redis+cluster://host:port,…); default REDIS_URL')
    .option('--fleet <name>', 'the fleet to join (several can share one Redis)')
    .action(async (flags: { config: string; workers: string; redis?: string; fleet?: string }) => {
      const workers = Number(flags.workers);
      if (!Number.isInteger(workers) || workers < 1) throw new MeridianError('E_CLI_ARG', `--workers must be a positive integer, not "${flags.workers}"`);
      const overrides: ConfigOverrides = { ...(flags.redis ? { redis: flags.redis } : {}), ...(flags.fleet ? { fleet: flags.fleet } : {}), ...(workers > 1 ? { workers: true } : {}) };
      const logger = createLogger(cluster.isPrimary ? 'proxy' : `proxy-worker-${cluster.worker?.id}`);
      if (workers === 1 || cluster.isWorker) {
        const { startProxy } = await import('../../proxy/main.js');
        const proxy = await startProxy({ configPath: flags.config, logger, admin: workers === 1, overrides });
        if (cluster.isWorker) process.send?.({ meridian: 'listening' });
        else process.stdout.write(`listening ${proxy.addresses.map((a) => `${a.address}:${a.port}`).join(' ')} admin ${proxy.admin?.address}:${proxy.admin?.port} proxy ${proxy.id}\n`);
        process.on('SIGHUP', () => void proxy.reload());
        await new Promise<void>((done) => {
          const stop = () => void proxy.drain().then(done);
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
          // A node:cluster worker is told to stop by a disconnect from the primary.
          if (cluster.isWorker) process.once('disconnect', stop);
        });
        process.exit(0);
      }

      // Primary of a multi-process proxy: forks workers, serves the admin port with metrics
      // summed over the workers and the status page asked of them, drains them on SIGTERM.
      // Without Redis, it holds the workers' fleet state in memory (they share health, load and
      // capacity through it, over IPC).
      const { config } = await loadProxyConfig(flags.config, overrides);
      if (config.store?.redis === undefined) {
        const [{ MemoryBackend }, { serveWorkers }] = await Promise.all([import('../../state/memory-store.js'), import('../../state/ipc-store.js')]);
        serveWorkers(
          new MemoryBackend(),
          () => Object.values(cluster.workers ?? {}).filter((w) => w !== undefined),
          (listener) => cluster.on('message', listener),
        );
      }
      // Structured clone over IPC: the store's answers carry Maps.
      cluster.setupPrimary({ serialization: 'advanced' });
      let ready = 0;
      let draining = false;
      const fork = () => cluster.fork();
      for (let i = 0; i < workers; i++) fork();
      cluster.on('message', (_w, msg: { meridian?: string }) => {
        if (msg?.meridian === 'listening' && ++ready === workers) {
          process.stdout.write(`listening ${config.listen.map((l) => `${l.host}:${l.port}`).join(' ')} admin ${config.admin.host}:${config.admin.port} workers ${workers}\n`);
        }
      });
      cluster.on('exit', (w, code) => {
        if (!draining) {
          logger.warn({ worker: w.id, code }, 'worker exited; starting another');
          fork();
        }
      });
      const aggregator = new AggregatorRegistry();
      const admin = await startAdmin(config.admin.host, config.admin.port, {
        metrics: async () => ({ contentType: aggregator.contentType, body: await (await aggregator.clusterMetrics()) }),
        ready: () => !draining && ready >= workers,
        table: () => ({ workers, note: 'per-worker tables: query a single-process proxy for details' }),
        // The status documents from the workers: the first's table and health, all their flows summed.
        page: statusPage(
          workersStatusSource({
            workers: () => Object.values(cluster.workers ?? {}).filter((w) => w !== undefined),
            on: (listener) => cluster.on('message', listener),
            onExit: (listener) => cluster.on('exit', listener),
          }),
          { allowedHosts: config.admin.allowedHosts },
        ),
      });
      const stop = () => {
        draining = true;
        for (const w of Object.values(cluster.workers ?? {})) w?.disconnect();
        const check = setInterval(() => {
          if (Object.keys(cluster.workers ?? {}).length === 0) {
            clearInterval(check);
            admin.server.close();
            process.exit(0);
          }
        }, 50);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      process.on('SIGHUP', () => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
      });
    });
}
