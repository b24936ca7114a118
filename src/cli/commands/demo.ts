import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../../common/log.js';
import { addSandboxFlags, runUntilSignalled, sandboxOptions } from './sandbox.js';

/** The walkthrough of the seed, with the kubeconfig of this sandbox filled in. */
export function demoInstructions(kubeconfig: string, controlUrl: string, metricsUrl: string, vip: string, adminUrl: string): string {
  return `
Meridian demo: a federation API, 9 member clusters in 3 regions, the federation controller and
a proxy on the global VIP ${vip} — all on loopback.

  export KUBECONFIG=${kubeconfig}

The seed walkthrough (from the repository root):
  kubectl --context=federation-cluster get clusters
  kubectl --context=federation-cluster create -f examples/services/nginx.yaml
  kubectl --context=federation-cluster describe services nginx
  kubectl --context=federation-cluster create -f examples/ingress/ingress.yaml
  for c in $(kubectl config view -o jsonpath='{.contexts[*].name}'); do kubectl --context=$c get ingress; done
  kubectl --context=federation-cluster create -f examples/replicasets/nginx-rs.yaml
  for c in $(kubectl config view -o jsonpath='{.contexts[*].name}'); do kubectl --context=$c get rs; done

The seed's curl, from a client where the proxy is (us-central1), and from a pod's address
inside gce-asia-east1-b (its pod range is 127.17.0.0/16):
  curl http://${vip}/
  curl --interface 127.17.0.250 http://${vip}/
Take asia-east1-b's pods down and ask again: the request goes to the nearest healthy cluster.
  node dist/cli/main.js sandbox fault --kubeconfig ${kubeconfig} --scope zone pods-down asia-east1-b
  node dist/cli/main.js sandbox fault --kubeconfig ${kubeconfig} api-refuse gce-europe-west1-c

Controller metrics: ${metricsUrl}/metrics    Proxy admin: ${adminUrl}/debug/table
Stop with Ctrl-C.
`;
}

export function register(program: Command): void {
  addSandboxFlags(program.command('demo').description('run the seed walkthrough locally: sandbox federation, controller and proxy (`npm start`)'))
    .option('--vip <host:port>', 'where the proxy listens: the global VIP of the demo', '127.0.0.1:8080')
    .option('--proxy-admin <host:port>', 'the proxy\'s admin port', '127.0.0.1:9901')
    .action(async (flags: Parameters<typeof sandboxOptions>[0] & { vip: string; proxyAdmin: string }) => {
      const level = process.env.MERIDIAN_LOG_LEVEL ?? 'warn';
      const [vipHost, vipPort] = flags.vip.split(':');
      const [adminHost, adminPort] = flags.proxyAdmin.split(':');
      const [{ startSandbox }, { startController }, { startProxy }] = await Promise.all([
        import('../../sandbox/sandbox.js'),
        import('../../federation/controller/controller.js'),
        import('../../proxy/main.js'),
      ]);
      const sb = await startSandbox({ ...sandboxOptions(flags), logger: createLogger('demo', level) });
      const dir = dirname(sb.kubeconfigPath);
      const tablePath = join(dir, 'routing-table.json');
      await writeFile(tablePath, `${JSON.stringify({ version: 'empty', backends: {} })}\n`);
      const controller = await startController({
        kubeconfigText: await readFile(sb.kubeconfigPath, 'utf8'),
        federationContext: 'federation-cluster',
        globalVIP: vipHost!,
        probeIntervalMs: 2_000,
        resyncMs: 10_000,
        metricsAddress: '127.0.0.1:0',
        tableOut: tablePath,
        logger: createLogger('controller', level),
      });
      const proxyConfig = join(dir, 'proxy.yaml');
      await writeFile(
        proxyConfig,
        [`listen: [{ host: ${vipHost}, port: ${vipPort} }]`, `admin: { host: ${adminHost}, port: ${adminPort} }`, 'region: us-central1', 'tableFile: routing-table.json', ''].join('\n'),
      );
      const proxy = await startProxy({ configPath: proxyConfig, logger: createLogger('proxy', level) });
      process.stdout.write(demoInstructions(sb.kubeconfigPath, sb.controlUrl, controller.metricsUrl, flags.vip, `http://${flags.proxyAdmin}`));
      process.stdout.write('ready\n');
      await runUntilSignalled(sb, async () => {
        await proxy.drain();
        await controller.stop();
      });
    });
}
