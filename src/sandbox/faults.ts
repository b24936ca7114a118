import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeridianError } from '../common/errors.js';
import type { Kubelet } from './cluster/kubelet.js';
import type { WanLatency } from './cluster/wan-latency.js';

export type ApiAvailability = 'up' | 'refuse' | 'hang';

/** What fault injection needs from each member cluster of a running sandbox. */
export interface FaultTarget {
  name: string;
  region: string;
  zone: string;
  kubelet: Kubelet;
  setApiAvailability(mode: ApiAvailability): Promise<void>;
  /** Answers requests of one audit verb and resource (`list configmaps`) with `status` until lifted (times 0). */
  failRequests(request: string, status: number, times?: number): void;
  serves(resource: string): boolean;
}

/** Scope of a pod outage: one cluster, every cluster of a zone, or every cluster of a region. */
export type OutageScope = { cluster: string } | { zone: string } | { region: string };

/**
 * Fault injection for a running sandbox: kill or fail pods, make a member's API unreachable,
 * take a cluster's, zone's or region's pods down, set a region pair's emulated round trip — and
 * undo each.
 */
export class Faults {
  constructor(
    private readonly targets: ReadonlyMap<string, FaultTarget>,
    /** The sandbox's WAN emulation; absent when it was started without it. */
    private readonly wan?: WanLatency,
  ) {}

  killPod(cluster: string, namespace: string, pod: string): void {
    if (!this.target(cluster).kubelet.killPod(namespace, pod)) throw podNotRunning(cluster, namespace, pod);
  }

  setPodFailing(cluster: string, namespace: string, pod: string, failing: boolean): void {
    if (!this.target(cluster).kubelet.setPodFailing(namespace, pod, failing)) throw podNotRunning(cluster, namespace, pod);
  }

  async setClusterApi(cluster: string, mode: ApiAvailability): Promise<void> {
    await this.target(cluster).setApiAvailability(mode);
  }

  /**
   * The member's RBAC forbids (403) or allows again the list and watch of one resource
   * (`configmaps`), as when the federation's credentials there lack that grant: a controller's
   * cache of it never fills.
   */
  setListForbidden(cluster: string, resource: string, forbidden: boolean): void {
    const t = this.target(cluster);
    if (!t.serves(resource)) throw new MeridianError('E_SANDBOX_NO_SUCH_RESOURCE', `cluster ${cluster} serves no resource "${resource}"`, 'name a resource as kubectl api-resources lists it, plural and lower-case (configmaps, replicasets)');
    for (const verb of ['list', 'watch']) t.failRequests(`${verb} ${resource}`, 403, forbidden ? undefined : 0);
  }

  /** Returns the clusters affected; none is an error, so a typo never passes silently. */
  async setPodsDown(scope: OutageScope, down: boolean): Promise<string[]> {
    const hit = [...this.targets.values()].filter((t) =>
      'cluster' in scope ? t.name === scope.cluster : 'zone' in scope ? t.zone === scope.zone : t.region === scope.region,
    );
    if (hit.length === 0) {
      throw new MeridianError('E_SANDBOX_NO_SUCH_SCOPE', `no member cluster matches ${JSON.stringify(scope)}`, 'list the members with GET /clusters on the control API');
    }
    await Promise.all(hit.map((t) => t.kubelet.setAllPodsDown(down)));
    return hit.map((t) => t.name);
  }

  /** Sets the round trip between two regions, both ways; pods use it from their next request on. */
  setWanLatency(a: string, b: string, ms: number): void {
    this.wanLatency().setRtt(a, b, ms);
  }

  /** Back to the measured or estimated round trips; returns how many pairs were overridden. */
  resetWanLatency(): number {
    return this.wanLatency().reset();
  }

  private wanLatency(): WanLatency {
    if (!this.wan) throw new MeridianError('E_SANDBOX_WAN_OFF', 'this sandbox does not emulate WAN latency', 'start it with --wan-latency (SandboxOptions.wanLatency)');
    return this.wan;
  }

  private target(cluster: string): FaultTarget {
    const t = this.targets.get(cluster);
    if (!t) throw new MeridianError('E_SANDBOX_NO_SUCH_CLUSTER', `no member cluster named "${cluster}"`, `members: ${[...this.targets.keys()].join(', ')}`);
    return t;
  }
}

function podNotRunning(cluster: string, namespace: string, pod: string): MeridianError {
  return new MeridianError('E_SANDBOX_NO_SUCH_POD', `pod ${namespace}/${pod} is not running in cluster ${cluster}`, 'list running pods with kubectl get pods');
}

/**
 * The sandbox's loopback control API (JSON):
 *   GET  /clusters
 *   POST /faults/clusters/{cluster}/api?mode=refuse|hang|up
 *   POST /faults/clusters/{cluster}/resources/{resource}?list=forbidden|allowed
 *   POST /faults/clusters/{cluster}/pods/{namespace}/{pod}/kill
 *   POST /faults/clusters/{cluster}/pods/{namespace}/{pod}/fail?failing=true|false
 *   POST /faults/{clusters|zones|regions}/{name}/pods?down=true|false
 *   POST /faults/regions/{a}/wan-latency/{b}?ms=N
 *   POST /faults/wan-latency/reset
 */
export async function startControlApi(faults: Faults, describe: () => unknown, host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const reply = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    const run = async (): Promise<unknown> => {
      if (req.method === 'GET' && url.pathname === '/clusters') return describe();
      if (req.method !== 'POST' || parts[0] !== 'faults') throw new MeridianError('E_SANDBOX_CONTROL_ROUTE', `no control route ${req.method} ${url.pathname}`);
      const [, scope, name, what, ns, pod, verb] = parts;
      if (scope === 'wan-latency' && name === 'reset' && !what) return { wanLatency: 'reset', pairs: faults.resetWanLatency() };
      if (scope === 'regions' && what === 'wan-latency' && ns && !pod) {
        const text = url.searchParams.get('ms') ?? '';
        const ms = text.trim() === '' ? NaN : Number(text);
        if (Number.isNaN(ms)) throw new MeridianError('E_SANDBOX_CONTROL_ARG', `ms must be a number of milliseconds, not "${text}"`);
        faults.setWanLatency(name!, ns, ms);
        return { regions: [name, ns], rttMs: ms };
      }
      if (scope === 'clusters' && what === 'api') {
        const mode = url.searchParams.get('mode') ?? 'refuse';
        if (mode !== 'up' && mode !== 'refuse' && mode !== 'hang') throw new MeridianError('E_SANDBOX_CONTROL_ARG', `mode must be up, refuse or hang, not "${mode}"`);
        await faults.setClusterApi(name!, mode);
        return { cluster: name, api: mode };
      }
      if (scope === 'clusters' && what === 'resources' && ns && !pod) {
        const list = url.searchParams.get('list') ?? 'forbidden';
        if (list !== 'forbidden' && list !== 'allowed') throw new MeridianError('E_SANDBOX_CONTROL_ARG', `list must be forbidden or allowed, not "${list}"`);
        faults.setListForbidden(name!, ns, list === 'forbidden');
        return { cluster: name, resource: ns, list };
      }
      if (scope === 'clusters' && what === 'pods' && ns && pod && verb === 'kill') {
        faults.killPod(name!, ns, pod);
        return { cluster: name, pod: `${ns}/${pod}`, killed: true };
      }
      if (scope === 'clusters' && what === 'pods' && ns && pod && verb === 'fail') {
        const failing = url.searchParams.get('failing') !== 'false';
        faults.setPodFailing(name!, ns, pod, failing);
        return { cluster: name, pod: `${ns}/${pod}`, failing };
      }
      if ((scope === 'clusters' || scope === 'zones' || scope === 'regions') && what === 'pods' && !ns) {
        const down = url.searchParams.get('down') !== 'false';
        const key = scope === 'clusters' ? 'cluster' : scope === 'zones' ? 'zone' : 'region';
        const clusters = await faults.setPodsDown({ [key]: name! } as OutageScope, down);
        return { [key]: name, down, clusters };
      }
      throw new MeridianError('E_SANDBOX_CONTROL_ROUTE', `no control route ${req.method} ${url.pathname}`);
    };
    run().then(
      (body) => reply(200, body),
      (err: unknown) => {
        const e = err as MeridianError;
        const code = e.code === 'E_SANDBOX_CONTROL_ROUTE' ? 404 : e.code?.startsWith('E_SANDBOX_NO_SUCH') ? 404 : 400;
        reply(code, { code: e.code ?? 'E_SANDBOX_CONTROL', message: e.message, hint: e.hint });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
