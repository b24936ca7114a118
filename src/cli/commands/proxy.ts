import cluster from 'node:cluster';
import type { Command } from 'commander';
import { AggregatorRegistry } from 'prom-client';
import { MeridianError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { startAdmin } from '../../proxy/admin.js';
import { loadProxyConfig } from '../../proxy/config.js';
import { capacityShare } from '../../proxy/worker-share.js';

export function register(program: Command): void {
  program
    .command('proxy')
    .description('run the HTTP proxy (the data plane behind the VIP) on a routing table')
    .requiredOption('--config <file>', 'proxy config (YAML)')
    .option('--workers <n>', 'worker processes sharing the listen ports (node:cluster)', '1')
    .action(async (flags: { config: string; workers: string }) => {
      const workers = Number(flags.workers);
      if (!Number.isInteger(workers) || workers < 1) throw new MeridianError('E_CLI_ARG', `--workers must be a positive integer, not "${flags.workers}"`);
      const logger = createLogger(cluster.isPrimary ? 'proxy' : `proxy-worker-${cluster.worker?.id}`);
      if (workers === 1 || cluster.isWorker) {
        const { startProxy } = await import('../../proxy/main.js');
        const proxy = await startProxy({ configPath: flags.config, logger, admin: workers === 1 });
        if (cluster.isWorker) process.send?.({ meridian: 'listening' });
        else process.stdout.write(`listening ${proxy.addresses.map((a) => `${a.address}:${a.port}`).join(' ')} admin ${proxy.admin?.address}:${proxy.admin?.port}\n`);
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
      // summed over the workers, drains them on SIGTERM.
      const { config } = await loadProxyConfig(flags.config);
      let ready = 0;
      let draining = false;
      const fork = () => cluster.fork({ MERIDIAN_WORKERS: String(workers) });
      for (let i = 0; i < workers; i++) fork();
      // Each worker's requests of the last second, for its share of the shards' capacity.
      const load = new Map<number, number>();
      cluster.on('message', (w, msg: { meridian?: string; requests?: number }) => {
        if (msg?.meridian === 'listening' && ++ready === workers) {
          process.stdout.write(`listening ${config.listen.map((l) => `${l.host}:${l.port}`).join(' ')} admin ${config.admin.host}:${config.admin.port} workers ${workers}\n`);
        }
        if (msg?.meridian === 'load' && typeof msg.requests === 'number') {
          load.set(w.id, msg.requests);
          let all = 0;
          for (const n of load.values()) all += n;
          // Until every worker has reported, an even part.
          const share = load.size < workers ? 1 / workers : capacityShare(msg.requests, all, workers);
          if (w.isConnected()) w.send({ meridian: 'capacity-share', share });
        }
      });
      cluster.on('exit', (w, code) => {
        load.delete(w.id);
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
