import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { createLogger } from '../../common/log.js';
import { startController } from '../../federation/controller/controller.js';
import { startSandbox } from '../../sandbox/sandbox.js';
import { addSandboxFlags, runUntilSignalled, sandboxOptions } from './sandbox.js';

/** The walkthrough of the seed, with the kubeconfig of this sandbox filled in. */
export function demoInstructions(kubeconfig: string, controlUrl: string, metricsUrl: string, vip: string): string {
  return `
Meridian demo: a federation API, 9 member clusters in 3 regions and the federation controller,
all on loopback.

  export KUBECONFIG=${kubeconfig}

The seed walkthrough (from the repository root):
  kubectl --context=federation-cluster get clusters
  kubectl --context=federation-cluster create -f examples/services/nginx.yaml
  kubectl --context=federation-cluster describe services nginx
  kubectl --context=federation-cluster create -f examples/ingress/ingress.yaml
  for c in $(kubectl config view -o jsonpath='{.contexts[*].name}'); do kubectl --context=$c get ingress; done
  kubectl --context=federation-cluster create -f examples/replicasets/nginx-rs.yaml
  for c in $(kubectl config view -o jsonpath='{.contexts[*].name}'); do kubectl --context=$c get rs; done
  kubectl --context=gce-asia-east1-b get pods -o wide     # then: curl http://<pod IP>/
  kubectl --context=federation-cluster create -f examples/replicasets/nginx-us.yaml

Every Ingress reports the global VIP ${vip}. The proxy fleet that will answer on it is not
built yet; today each pod answers on its own pod IP.

Faults (control API ${controlUrl}):
  node dist/cli/main.js sandbox fault --kubeconfig ${kubeconfig} api-refuse gce-europe-west1-c
  node dist/cli/main.js sandbox fault --kubeconfig ${kubeconfig} --scope region pods-down asia-east1

Controller metrics: ${metricsUrl}/metrics
Stop with Ctrl-C.
`;
}

export function register(program: Command): void {
  addSandboxFlags(program.command('demo').description('run the seed walkthrough locally: sandbox federation + controller (`npm start`)'))
    .option('--global-vip <ip>', 'the VIP the controller writes into every Ingress (TEST-NET-2 by default: nothing answers there yet)', '198.51.100.10')
    .action(async (flags: Parameters<typeof sandboxOptions>[0] & { globalVip: string }) => {
      const sb = await startSandbox({ ...sandboxOptions(flags), logger: createLogger('demo', process.env.MERIDIAN_LOG_LEVEL ?? 'warn') });
      const controller = await startController({
        kubeconfigText: await readFile(sb.kubeconfigPath, 'utf8'),
        federationContext: 'federation-cluster',
        globalVIP: flags.globalVip,
        probeIntervalMs: 2_000,
        resyncMs: 10_000,
        metricsAddress: '127.0.0.1:0',
        logger: createLogger('controller', process.env.MERIDIAN_LOG_LEVEL ?? 'warn'),
      });
      process.stdout.write(demoInstructions(sb.kubeconfigPath, sb.controlUrl, controller.metricsUrl, flags.globalVip));
      process.stdout.write('ready\n');
      await runUntilSignalled(sb, () => controller.stop());
    });
}
