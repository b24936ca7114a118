import { readFile } from 'node:fs/promises';
import { delimiter, resolve } from 'node:path';
import type { Command } from 'commander';
import { MeridianError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import type { Sandbox, SandboxOptions } from '../../sandbox/sandbox.js';

interface SandboxFlags {
  kubeconfig: string;
  clusters?: string;
  nodes?: string;
  nodeCpu?: string;
  controlPort?: string;
  versionMinor?: string;
  wanLatency?: boolean;
}

export function sandboxOptions(flags: SandboxFlags): SandboxOptions {
  const int = (v: string | undefined, name: string, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new MeridianError('E_CLI_ARG', `--${name} must be an integer ≥ ${min}, not "${v}"`);
    return n;
  };
  const nodes = int(flags.nodes, 'nodes', 1);
  const nodeCPUMillis = int(flags.nodeCpu, 'node-cpu', 1);
  const controlPort = int(flags.controlPort, 'control-port', 0);
  return {
    kubeconfigPath: resolve(flags.kubeconfig),
    ...(flags.clusters ? { clusters: flags.clusters } : {}),
    nodeShape: { ...(nodes ? { nodes } : {}), ...(nodeCPUMillis ? { nodeCPUMillis } : {}) },
    ...(controlPort !== undefined ? { controlPort } : {}),
    ...(flags.versionMinor ? { versionMinor: flags.versionMinor } : {}),
    ...(flags.wanLatency ? { wanLatency: true } : {}),
  };
}

/** Runs until SIGINT/SIGTERM, then stops everything so every port is released. */
export async function runUntilSignalled(sandbox: Sandbox, extraStop: () => Promise<void> = async () => {}): Promise<void> {
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void extraStop()
        .then(() => sandbox.stop())
        .then(done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function addSandboxFlags(cmd: Command): Command {
  return cmd
    .option('--kubeconfig <path>', 'where to write the kubeconfig', '.meridian/sandbox/kubeconfig')
    .option('--clusters <spec>', 'member clusters: "seed" (the 9 of the walkthrough), a count, or name[=region/zone],…')
    .option('--nodes <n>', 'nodes per member cluster (default 3)')
    .option('--node-cpu <millicores>', 'allocatable CPU per node in millicores (default 2000)')
    .option('--control-port <port>', 'loopback port of the fault-injection control API (default: any free port)')
    .option('--version-minor <minor>', 'Kubernetes minor version the API servers report (default 33)')
    .option('--wan-latency', "emulate WAN latency: pods answer a client from another member's pod range after that region pair's round trip");
}

export function register(program: Command): void {
  const sandbox = addSandboxFlags(
    program.command('sandbox').description('run a local federation of emulated Kubernetes clusters on loopback until stopped'),
  ).action(async (flags: SandboxFlags) => {
    const { startSandbox } = await import('../../sandbox/sandbox.js');
    const sb = await startSandbox({ ...sandboxOptions(flags), logger: createLogger('sandbox') });
    process.stdout.write(`kubeconfig ${sb.kubeconfigPath}\ncontrol ${sb.controlUrl}\nready\n`);
    await runUntilSignalled(sb);
  });

  sandbox
    .command('fault')
    .description('inject or undo a fault in a running sandbox')
    .argument('<action>', 'api-refuse | api-hang | api-up | list-forbid | list-allow | kill-pod | fail-pod | heal-pod | pods-down | pods-up | wan-latency | wan-reset')
    .argument('[target]', 'cluster name (api-*, list-*, kill/fail/heal-pod), cluster|zone|region name (pods-down/up), or REGION,REGION (wan-latency)')
    .argument('[pod]', 'namespace/pod for the pod actions; a resource (configmaps) for list-*; round trip in ms for wan-latency')
    .option('--scope <scope>', 'for pods-down/up: cluster, zone or region', 'cluster')
    .addHelpText(
      'after',
      '\nwan-latency (on a sandbox started with --wan-latency) sets the round trip between two regions,\n' +
        "both ways, from each connection's next request on; wan-reset restores the measured/estimated ones:\n" +
        '  meridian sandbox fault --kubeconfig K wan-latency asia-east1,europe-west1 30\n' +
        '  meridian sandbox fault --kubeconfig K wan-reset\n' +
        "list-forbid answers list and watch of a resource in a member with 403 Forbidden, as RBAC that\n" +
        'does not grant them would; list-allow lifts it:\n' +
        '  meridian sandbox fault --kubeconfig K list-forbid gce-asia-east1-a configmaps',
    )
    .action(async (action: string, target: string | undefined, pod: string | undefined, flags: { scope: string }, cmd: Command) => {
      // --kubeconfig (the running sandbox's) belongs to the parent `sandbox` command; not given,
      // it is $KUBECONFIG (as after the demo's `export KUBECONFIG=…`), else the sandbox's default.
      const parent = cmd.parent!;
      const given = parent.getOptionValueSource('kubeconfig') !== 'default';
      const kubeconfig = given ? (parent.opts() as { kubeconfig: string }).kubeconfig : (process.env.KUBECONFIG?.split(delimiter).find(Boolean) ?? (parent.opts() as { kubeconfig: string }).kubeconfig);
      const statePath = `${resolve(kubeconfig)}.sandbox.json`;
      const state = JSON.parse(
        await readFile(statePath, 'utf8').catch(() => {
          throw new MeridianError('E_SANDBOX_NOT_RUNNING', `no sandbox state at ${statePath}`, 'start one with `meridian sandbox`, or pass its --kubeconfig');
        }),
      ) as { controlUrl: string };
      if (!target && action !== 'wan-reset') throw new MeridianError('E_CLI_ARG', `${action} needs a target`);
      const [ns, name] = (pod ?? '').includes('/') ? (pod as string).split('/', 2) : ['default', pod];
      const [regionA, regionB, ...more] = (target ?? '').split(',');
      const scopes: Record<string, string> = { cluster: 'clusters', zone: 'zones', region: 'regions' };
      const paths: Record<string, string> = {
        'api-refuse': `/faults/clusters/${target}/api?mode=refuse`,
        'api-hang': `/faults/clusters/${target}/api?mode=hang`,
        'api-up': `/faults/clusters/${target}/api?mode=up`,
        'list-forbid': `/faults/clusters/${target}/resources/${encodeURIComponent(pod ?? '')}?list=forbidden`,
        'list-allow': `/faults/clusters/${target}/resources/${encodeURIComponent(pod ?? '')}?list=allowed`,
        'kill-pod': `/faults/clusters/${target}/pods/${ns}/${name}/kill`,
        'fail-pod': `/faults/clusters/${target}/pods/${ns}/${name}/fail?failing=true`,
        'heal-pod': `/faults/clusters/${target}/pods/${ns}/${name}/fail?failing=false`,
        'pods-down': `/faults/${scopes[flags.scope]}/${target}/pods?down=true`,
        'pods-up': `/faults/${scopes[flags.scope]}/${target}/pods?down=false`,
        'wan-latency': `/faults/regions/${regionA}/wan-latency/${regionB}?ms=${encodeURIComponent(pod ?? '')}`,
        'wan-reset': '/faults/wan-latency/reset',
      };
      const path = paths[action];
      if (!path || !scopes[flags.scope]) throw new MeridianError('E_CLI_ARG', `unknown fault action "${action}" or scope "${flags.scope}"`, `actions: ${Object.keys(paths).join(', ')}`);
      if (action.endsWith('-pod') && !name) throw new MeridianError('E_CLI_ARG', `${action} needs a pod: namespace/name`);
      if (action.startsWith('list-') && !pod) throw new MeridianError('E_CLI_ARG', `${action} needs a resource`, `example: ${action} ${target} configmaps`);
      if (action === 'wan-latency' && (!regionA || !regionB || more.length > 0 || !pod)) {
        throw new MeridianError('E_CLI_ARG', 'wan-latency needs two regions and a round trip in ms', 'example: wan-latency asia-east1,europe-west1 30');
      }
      const res = await fetch(`${state.controlUrl}${path}`, { method: 'POST' }).catch(() => {
        throw new MeridianError('E_SANDBOX_NOT_RUNNING', `the sandbox control API at ${state.controlUrl} does not answer`, 'is `meridian sandbox` still running?');
      });
      const body = (await res.json()) as { code?: string; message?: string; hint?: string };
      if (!res.ok) throw new MeridianError(body.code ?? 'E_SANDBOX_CONTROL', body.message ?? `HTTP ${res.status}`, body.hint);
      process.stdout.write(`${JSON.stringify(body)}\n`);
    });
}
