import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { Logger } from '../common/log.js';
import { ClusterStore } from './apiserver/store.js';
import { startApiServer } from './apiserver/server.js';
import { startMemberSimulation, type MemberSimulation } from './cluster/member.js';
import type { Obj, StorePort } from './cluster/store-port.js';
import { parseClusterSpec, type MemberSpec, type NodeShape } from './cluster/topology.js';
import { WanLatency } from './cluster/wan-latency.js';
import { Faults, startControlApi, type ApiAvailability, type FaultTarget } from './faults.js';
import { renderKubeconfig } from './kubeconfig.js';

export const FEDERATION_CONTEXT = 'federation-cluster';
export const FEDERATION_NAMESPACE = 'federation-system';
const CLUSTER_CRD_FILE = fileURLToPath(new URL('../../deploy/crds/clusters.federation.meridian.dev.yaml', import.meta.url));

export interface SandboxOptions {
  /** `--clusters` syntax: `seed` (default), a count, or a list; see parseClusterSpec. */
  clusters?: string;
  nodeShape?: NodeShape;
  /** Where the kubeconfig goes; default `.meridian/sandbox/kubeconfig` under the working directory. */
  kubeconfigPath?: string;
  host?: string;
  /** `/version` minor: the PATH kubectl dispatcher runs the bundled kubectl of this minor. */
  versionMinor?: string;
  /** Loopback port of the fault-injection control API; 0 picks a free one. */
  controlPort?: number;
  /**
   * Emulate WAN latency: a pod answers a client whose address is in another region's pod range
   * after that region pair's round trip (geoip/region-latency.json, else distance; settable at run
   * time through the faults). Off by default.
   */
  wanLatency?: boolean;
  logger?: Logger;
}

type ApiServer = Awaited<ReturnType<typeof startApiServer>>;

export interface ClusterHandle {
  name: string;
  url: string;
  store: ClusterStore;
  server: ApiServer;
}

export interface MemberHandle extends ClusterHandle {
  spec: MemberSpec;
  region: string;
  zone: string;
  podCIDR: string;
  simulation: MemberSimulation;
}

export interface Sandbox {
  kubeconfigPath: string;
  /** `<kubeconfig>.sandbox.json`: control URL and members, for `meridian sandbox fault`. */
  statePath: string;
  controlUrl: string;
  federation: ClusterHandle;
  members: Map<string, MemberHandle>;
  faults: Faults;
  stop(): Promise<void>;
}

const CRD_REF = { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' };
const CLUSTER_REF = { group: 'federation.meridian.dev', resource: 'clusters' };
const NAMESPACE_REF = { group: '', resource: 'namespaces' };
const SECRET_REF = { group: '', resource: 'secrets' };

/**
 * Starts a local federation on loopback: one emulated API server for the federation (with the
 * Cluster CRD and one Cluster per member) and one per member cluster, each member alive with
 * nodes, controllers and pods that serve real HTTP; writes a kubeconfig with a context per server.
 */
export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const host = opts.host ?? '127.0.0.1';
  const versionMinor = opts.versionMinor ?? '33';
  const specs = parseClusterSpec(opts.clusters, opts.nodeShape);
  const kubeconfigPath = opts.kubeconfigPath ?? join(process.cwd(), '.meridian', 'sandbox', 'kubeconfig');
  const kubeletVersion = `v1.${versionMinor}.0`;
  const wan = opts.wanLatency ? new WanLatency(specs) : undefined;

  const started: { close(): Promise<void> }[] = [];
  try {
    const fedStore = new ClusterStore();
    const fedServer = await startApiServer({ store: fedStore, host, port: 0, versionMinor, name: FEDERATION_CONTEXT });
    started.push(fedServer);
    const federation: ClusterHandle = { name: FEDERATION_CONTEXT, url: fedServer.url, store: fedStore, server: fedServer };

    const members = new Map<string, MemberHandle>();
    await Promise.all(
      specs.map(async (spec, i) => {
        const store = new ClusterStore();
        const server = await startApiServer({ store, host, port: 0, versionMinor, name: spec.name });
        started.push(server);
        const simulation = startMemberSimulation(store as unknown as StorePort, spec, i, {
          kubeletVersion,
          ...(opts.logger ? { logger: opts.logger } : {}),
          ...(wan ? { wan: wan.forPod(spec.region) } : {}),
        });
        started.push({ close: () => simulation.stop() });
        members.set(spec.name, { name: spec.name, url: server.url, store, server, spec, region: spec.region, zone: spec.zone, podCIDR: spec.podCIDR, simulation });
      }),
    );
    // Keep the seed's order (parallel start finishes in any order).
    const ordered = new Map(specs.map((s) => [s.name, members.get(s.name)!]));

    await registerMembers(fedStore as unknown as StorePort, ordered);

    const contexts = [{ name: FEDERATION_CONTEXT, server: federation.url }, ...[...ordered.values()].map((m) => ({ name: m.name, server: m.url }))];
    await mkdir(dirname(kubeconfigPath), { recursive: true });
    await writeFile(kubeconfigPath, renderKubeconfig(contexts, FEDERATION_CONTEXT), { mode: 0o600 });

    const targets = new Map<string, FaultTarget>(
      [...ordered.values()].map((m) => [
        m.name,
        { name: m.name, region: m.region, zone: m.zone, kubelet: m.simulation.kubelet, setApiAvailability: (mode: ApiAvailability) => Promise.resolve(m.server.setAvailability(mode)),
          failRequests: (request: string, status: number, times?: number) => m.server.failRequests(request, status, times),
          serves: (resource: string) => m.server.serves(resource),
        },
      ]),
    );
    const faults = new Faults(targets, wan);
    const describe = () => ({
      wanLatency: wan !== undefined,
      federation: { name: federation.name, url: federation.url },
      members: [...ordered.values()].map((m) => ({ name: m.name, url: m.url, region: m.region, zone: m.zone, podCIDR: m.podCIDR })),
    });
    const control = await startControlApi(faults, describe, host, opts.controlPort ?? 0);
    started.push(control);
    const statePath = `${kubeconfigPath}.sandbox.json`;
    await writeFile(statePath, `${JSON.stringify({ controlUrl: control.url, kubeconfig: kubeconfigPath, ...describe() }, null, 2)}\n`);

    let stopping: Promise<void> | undefined;
    return {
      kubeconfigPath,
      statePath,
      controlUrl: control.url,
      federation,
      members: ordered,
      faults,
      stop: () => (stopping ??= closeAll(started)),
    };
  } catch (err) {
    await closeAll(started);
    throw err;
  }
}

async function closeAll(started: { close(): Promise<void> }[]): Promise<void> {
  await Promise.allSettled([...started].reverse().map((s) => s.close()));
}

/** The federation API's view of the members: the Cluster CRD, a kubeconfig Secret and a Cluster each. */
async function registerMembers(fed: StorePort, members: Map<string, MemberHandle>): Promise<void> {
  const crd = parse(await readFile(CLUSTER_CRD_FILE, 'utf8')) as Obj;
  if (!fed.get(CRD_REF, undefined, crd.metadata.name!)) fed.create(CRD_REF, crd);
  if (!fed.get(NAMESPACE_REF, undefined, FEDERATION_NAMESPACE)) {
    fed.create(NAMESPACE_REF, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: FEDERATION_NAMESPACE } });
  }
  for (const m of members.values()) {
    const secretName = `${m.name}-kubeconfig`;
    const kubeconfig = renderKubeconfig([{ name: m.name, server: m.url }], m.name);
    fed.create(SECRET_REF, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, namespace: FEDERATION_NAMESPACE, labels: { 'federation.meridian.dev/cluster': m.name } },
      type: 'Opaque',
      data: { kubeconfig: Buffer.from(kubeconfig).toString('base64') },
    });
    fed.create(CLUSTER_REF, {
      apiVersion: 'federation.meridian.dev/v1beta1',
      kind: 'Cluster',
      metadata: { name: m.name },
      spec: {
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: m.url }],
        secretRef: { name: secretName },
        region: m.region,
        zones: [m.zone],
        clientCIDRs: [m.podCIDR],
      },
    });
  }
}
