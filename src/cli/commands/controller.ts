import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Command } from 'commander';
import { MeridianError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import type { FleetStore } from '../../state/store.js';

/** --kubeconfig, else $KUBECONFIG (its first file, as kubectl reads the first it can), else ~/.kube/config. */
export function defaultKubeconfig(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  const fromEnv = env.KUBECONFIG?.split(delimiter).find(Boolean);
  return fromEnv ?? join(homedir(), '.kube', 'config');
}

function positive(text: string, flag: string, integer: boolean): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n > 0) || (integer && !Number.isInteger(n))) {
    throw new MeridianError('E_CLI_ARG', `--${flag} "${text}" is not a positive ${integer ? 'whole number' : 'number'}`, `example: --${flag} ${integer ? '100' : '50'}`);
  }
  return n;
}

function duration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new MeridianError('E_CLI_ARG', `--${flag} "${text}" is not a duration`, 'examples: 500ms, 10s, 1m');
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
}

export function register(program: Command): void {
  program
    .command('controller')
    .description('run the federation controller: cluster registry, propagation, replica scheduling, status')
    .option('--kubeconfig <path>', 'kubeconfig with the federation context (and any member contexts); default $KUBECONFIG, then ~/.kube/config')
    .option('--federation-context <name>', 'context of the federation API', 'federation-cluster')
    .option('--global-vip <ip>', 'the VIP written into every federated and member Ingress status')
    .option('--probe-interval <duration>', 'member health probe interval', '10s')
    .option('--probe-failure-threshold <n>', 'failed probes in a row that take a Ready member out', '3')
    .option('--resync <duration>', 'periodic resync of every federated object', '30s')
    .option('--member-write-qps <n>', 'writes per second the controller sends each member (all kinds together); more wait their turn', '50')
    .option('--member-write-burst <n>', 'writes a member may take at once after a quiet spell', '100')
    .option('--metrics-addr <host:port>', '/metrics and /healthz', '127.0.0.1:9902')
    .option('--table-out <file>', 'publish the proxies\' routing table (JSON) to this file, for `meridian proxy` with tableFile')
    .option('--certificates-out <file>', 'publish the federated Ingresses\' TLS certificates (JSON with private keys, mode 0600) to this file, for `meridian proxy` with tls.certificatesFile; default certificates.json beside --table-out')
    .option('--redis <url>', 'publish the routing table (and TLS certificates) to the fleet in this Redis, for proxies with no table of their own (default REDIS_URL)')
    .option('--fleet <name>', 'the fleet to publish to', 'default')
    .action(async (flags: { kubeconfig?: string; federationContext: string; globalVip?: string; probeInterval: string; probeFailureThreshold: string; resync: string; memberWriteQps: string; memberWriteBurst: string; metricsAddr: string; tableOut?: string; certificatesOut?: string; redis?: string; fleet: string }) => {
      const memberWriteRate = { qps: positive(flags.memberWriteQps, 'member-write-qps', false), burst: positive(flags.memberWriteBurst, 'member-write-burst', true) };
      const kubeconfig = defaultKubeconfig(flags.kubeconfig);
      const kubeconfigText = await readFile(kubeconfig, 'utf8').catch(() => {
        throw new MeridianError('E_CONTROLLER_KUBECONFIG', `cannot read kubeconfig ${kubeconfig}`, 'pass --kubeconfig (or set KUBECONFIG), e.g. the one `meridian sandbox` wrote');
      });
      const logger = createLogger('controller');
      const redis = flags.redis ?? process.env.REDIS_URL;
      let store: FleetStore | undefined;
      if (redis) {
        const [{ RedisStore }, { parseRedisUrl }] = await Promise.all([import('../../state/redis-store.js'), import('../../state/redis-target.js')]);
        store = new RedisStore(parseRedisUrl(redis), flags.fleet);
        await store.ready(3_000).catch((err: unknown) => logger.warn({ store: store!.description, err: String(err) }, 'state store not reachable yet; publishing when it is'));
      }
      // Loaded on use: each command pulls in only its own part (the proxy never loads client-node).
      const { startController } = await import('../../federation/controller/controller.js');
      const controller = await startController({
        kubeconfigText,
        federationContext: flags.federationContext,
        ...(flags.globalVip ? { globalVIP: flags.globalVip } : {}),
        probeIntervalMs: duration(flags.probeInterval, 'probe-interval'),
        probeFailureThreshold: positive(flags.probeFailureThreshold, 'probe-failure-threshold', true),
        resyncMs: duration(flags.resync, 'resync'),
        memberWriteRate,
        metricsAddress: flags.metricsAddr,
        ...(flags.tableOut ? { tableOut: flags.tableOut } : {}),
        ...(flags.certificatesOut ? { certificatesOut: flags.certificatesOut } : {}),
        ...(store ? { store } : {}),
        logger,
        onLeadershipLost: () => {
          logger.error('leadership lost; exiting so a fresh replica can campaign');
          process.exit(1);
        },
      });
      logger.info({ metrics: `${controller.metricsUrl}/metrics` }, 'controller running');
      await new Promise<void>((done) => {
        const stop = () => void controller.stop().then(done);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
