import type { Command } from 'commander';
import { createLogger } from '../../common/log.js';
import { startSandbox } from '../../sandbox/sandbox.js';
import { addSandboxFlags, runUntilSignalled, sandboxOptions } from './sandbox.js';

/** The walkthrough of the seed, with the kubeconfig of this sandbox filled in. */
export function demoInstructions(kubeconfig: string, controlUrl: string): string {
  return `
Meridian sandbox: a federation API and 9 member clusters in 3 regions, on loopback.

  export KUBECONFIG=${kubeconfig}

Try the seed walkthrough (from the repository root):
  kubectl --context=federation-cluster get clusters
  for c in $(kubectl config view -o jsonpath='{.contexts[*].name}'); do kubectl --context=$c get nodes; done

Each member cluster is alive: create the seed's ReplicaSet in one and its pods serve real HTTP.
  kubectl --context=gce-asia-east1-b apply -f examples/services/nginx.yaml -f examples/replicasets/nginx-rs.yaml
  kubectl --context=gce-asia-east1-b get rs,pods,endpoints -o wide
  curl http://<pod IP>:<port>/     # "You are being served from asia-east1-b"

Faults (control API ${controlUrl}):
  node dist/cli/main.js sandbox fault --kubeconfig ${kubeconfig} api-refuse gce-europe-west1-c
  node dist/cli/main.js sandbox fault --kubeconfig ${kubeconfig} --scope region pods-down asia-east1

Stop with Ctrl-C.
`;
}

export function register(program: Command): void {
  addSandboxFlags(program.command('demo').description('run the seed walkthrough locally (the sandbox federation; `npm start`)')).action(
    async (flags: Parameters<typeof sandboxOptions>[0]) => {
      const sb = await startSandbox({ ...sandboxOptions(flags), logger: createLogger('demo') });
      process.stdout.write(demoInstructions(sb.kubeconfigPath, sb.controlUrl));
      process.stdout.write('ready\n');
      await runUntilSignalled(sb);
    },
  );
}
