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

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `namespace/name` of a Secret, as Kubernetes allows them (a DNS label, a DNS subdomain); else E_CLI_ARG saying which part is wrong. */
export function secretReference(text: string, flag: string): string {
  const slash = text.indexOf('/');
  const [namespace, name] = slash < 0 ? ['', text] : [text.slice(0, slash), text.slice(slash + 1)];
  const example = `example: --${flag} ingress-nginx/default-tls (a TLS Secret in the federation)`;
  if (slash < 0) throw new MeridianError('E_CLI_ARG', `--${flag} "${text}" is not namespace/name`, example);
  if (namespace.length > 63 || !DNS_LABEL.test(namespace)) throw new MeridianError('E_CLI_ARG', `--${flag} "${text}": "${namespace}" is not a namespace name (lower-case letters, digits and '-', at most 63)`, example);
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) throw new MeridianError('E_CLI_ARG', `--${flag} "${text}": "${name}" is not a Secret name (lower-case letters, digits, '-' and '.', at most 253)`, example);
  return text;
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
    .option('--member-cache-timeout <duration>', 'report a Ready member whose copies of a kind cannot be listed for this long (Warning Event MemberCacheNotSynced on its Cluster); default the longer of 30s and 3 probe intervals')
    .option('--member-write-qps <n>', 'writes per second the controller sends each member (all kinds together); more wait their turn', '50')
    .option('--member-write-burst <n>', 'writes a member may take at once after a quiet spell', '100')
    .option('--metrics-addr <host:port>', '/metrics and /healthz', '127.0.0.1:9902')
    .option('--table-out <file>', 'publish the proxies\' routing table (JSON) to this file, for `meridian proxy` with tableFile')
    .option('--certificates-out <file>', 'publish the federated Ingresses\' TLS certificates (JSON with private keys, mode 0600) to this file, for `meridian proxy` with tls.certificatesFile; default certificates.json beside --table-out')
    .option('--redis <url>', 'publish the routing table (and TLS certificates) to the fleet in this Redis, for proxies with no table of their own (default REDIS_URL)')
    .option('--fleet <name>', 'the fleet to publish to', 'default')
    .option('--default-certificate <namespace/name>', 'a federated TLS Secret whose certificate proxies with no certificate of their own serve to names no certificate covers and to clients sending no name (SNI); published with the certificates whether or not an Ingress names it. Without it such clients get none (strict SNI)')
    .action(async (flags: { kubeconfig?: string; federationContext: string; globalVip?: string; probeInterval: string; probeFailureThreshold: string; resync: string; memberCacheTimeout?: string; memberWriteQps: string; memberWriteBurst: string; metricsAddr: string; tableOut?: string; certificatesOut?: string; redis?: string; fleet: string; defaultCertificate?: string }) => {
      const memberWriteRate = { qps: positive(flags.memberWriteQps, 'member-write-qps', false), burst: positive(flags.memberWriteBurst, 'member-write-burst', true) };
      const memberCacheTimeoutMs = flags.memberCacheTimeout === undefined ? undefined : duration(flags.memberCacheTimeout, 'member-cache-timeout');
      if (memberCacheTimeoutMs === 0) throw new MeridianError('E_CLI_ARG', '--member-cache-timeout "0" would report every member before its first list could finish', 'examples: 30s, 2m');
      const defaultCertificate = flags.defaultCertificate === undefined ? undefined : secretReference(flags.defaultCertificate, 'default-certificate');
      const redis = flags.redis ?? process.env.REDIS_URL;
      if (defaultCertificate && !flags.tableOut && !flags.certificatesOut && !redis) {
        throw new MeridianError('E_CLI_ARG', '--default-certificate reaches the proxies with the certificates the controller publishes, and it publishes none', 'add --table-out, --certificates-out or --redis (or set REDIS_URL)');
      }
      const kubeconfig = defaultKubeconfig(flags.kubeconfig);
      const kubeconfigText = await readFile(kubeconfig, 'utf8').catch(() => {
        throw new MeridianError('E_CONTROLLER_KUBECONFIG', `cannot read kubeconfig ${kubeconfig}`, 'pass --kubeconfig (or set KUBECONFIG), e.g. the one `meridian sandbox` wrote');
      });
      const logger = createLogger('controller');
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
        ...(memberCacheTimeoutMs !== undefined ? { memberCacheSyncTimeoutMs: memberCacheTimeoutMs } : {}),
        memberWriteRate,
        metricsAddress: flags.metricsAddr,
        ...(flags.tableOut ? { tableOut: flags.tableOut } : {}),
        ...(flags.certificatesOut ? { certificatesOut: flags.certificatesOut } : {}),
        ...(store ? { store } : {}),
        ...(defaultCertificate ? { defaultCertificate } : {}),
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
