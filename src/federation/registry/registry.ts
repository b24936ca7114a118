import type { Logger } from '../../common/log.js';
import { Informer } from '../../kube/informer.js';
import { KubeApiError, KubeRest, type KObject } from '../../kube/rest.js';
import { recordEvent } from '../controller/events.js';
import { CLUSTERS_PATH } from '../kinds.js';
import { nextConditions, serverAddressFor, stateOf, staysReady, topologyFromNodes, type ClusterCondition, type ClusterState, type ProbeOutcome } from './health.js';

export const FEDERATION_NAMESPACE = 'federation-system';

interface ClusterSpec {
  serverAddressByClientCIDRs?: { clientCIDR: string; serverAddress: string }[];
  secretRef?: { name: string };
  kubeconfigContext?: string;
  region?: string;
  zones?: string[];
  clientCIDRs?: string[];
  location?: { lat: number; lon: number };
}

export interface Member {
  name: string;
  client: KubeRest;
  state: ClusterState;
  labels: Record<string, string>;
  region?: string;
  zones: string[];
  clientCIDRs: string[];
  location?: { lat: number; lon: number };
}

export interface RegistryOptions {
  federation: KubeRest;
  /** The controller's own kubeconfig text, for clusters named by `kubeconfigContext`. */
  kubeconfigText?: string;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  /** Failed probes in a row that take a Ready member out (default 3). */
  probeFailureThreshold?: number;
  /** The controller's address, matched against `serverAddressByClientCIDRs`. */
  clientAddress: string;
  logger: Logger;
  /** Hears of every request to a member (per-member request metrics). */
  observeRequest?: (cluster: string, verb: string) => void;
}

/** A Cluster as an Event's subject: cluster-scoped, so its Events land in `default`. */
function clusterSubject(cluster: KObject): KObject {
  return { apiVersion: 'federation.meridian.dev/v1beta1', kind: 'Cluster', metadata: { ...cluster.metadata, namespace: 'default' } };
}

/**
 * The cluster registry: follows `Cluster` objects in the federation API, keeps a client per
 * member, probes each member's /readyz on its own timer (a hanging member only delays its own
 * probe) and writes state, conditions, region and zones into the Cluster's status.
 */
export class ClusterRegistry {
  private readonly members = new Map<string, Member>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** member → failed probes in a row. */
  private readonly failures = new Map<string, number>();
  private readonly informer: Informer;
  private readonly listeners: ((m: Member, previous: ClusterState | undefined) => void)[] = [];
  private readonly labelListeners: ((m: Member) => void)[] = [];
  private readonly removeListeners: ((name: string) => void)[] = [];
  private stopped = false;

  constructor(private readonly opts: RegistryOptions) {
    this.informer = new Informer(opts.federation, CLUSTERS_PATH).on((event, obj) => {
      if (event === 'delete') this.forget(obj.metadata.name);
      else void this.connect(obj);
    });
  }

  /** A member's labels changed (what cluster-selectors match). */
  onLabelsChange(listener: (m: Member) => void): void {
    this.labelListeners.push(listener);
  }

  /** A Cluster was deleted from the federation: whatever is kept about that member goes. */
  onRemove(listener: (name: string) => void): void {
    this.removeListeners.push(listener);
  }

  /** Called on every probe whose state differs from the last one (and on the first). */
  onStateChange(listener: (m: Member, previous: ClusterState | undefined) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    this.informer.start();
  }

  ready(): Member[] {
    return [...this.members.values()].filter((m) => m.state === 'Ready');
  }

  all(): Member[] {
    return [...this.members.values()];
  }

  /**
   * Every Cluster object's state as the controller sees it: a member's last probe, or Offline for
   * a Cluster it cannot even build a client for (a missing Secret, no server). A Cluster deleted
   * from the federation is gone from here (and from the metrics) at once.
   */
  states(): { name: string; state: ClusterState }[] {
    return this.informer.list().map((c) => ({ name: c.metadata.name, state: this.members.get(c.metadata.name)?.state ?? 'Offline' }));
  }

  get(name: string): Member | undefined {
    return this.members.get(name);
  }

  /** Records an Event on a member's Cluster object in the federation (best effort; none once it is deleted). */
  async recordClusterEvent(name: string, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const cluster = this.informer.get(name);
    if (cluster) await recordEvent(this.opts.federation, clusterSubject(cluster), type, reason, message);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.informer.stop();
    for (const t of this.timers.values()) clearTimeout(t);
    await Promise.allSettled([...this.members.values()].map((m) => m.client.close()));
  }

  private forget(name: string): void {
    this.specs.delete(name);
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
    this.failures.delete(name);
    const m = this.members.get(name);
    this.members.delete(name);
    if (m) {
      // Requests still in flight on the closing client must not bring its series back.
      m.client.onRequest = undefined;
      void m.client.close();
    }
    for (const l of this.removeListeners) l(name);
  }

  private readonly specs = new Map<string, string>();

  private async connect(cluster: KObject): Promise<void> {
    const name = cluster.metadata.name;
    const spec = (cluster.spec ?? {}) as ClusterSpec;
    // Status writes come back as updates too: only a changed spec means a new connection.
    const existing = this.members.get(name);
    if (existing && this.specs.get(name) === JSON.stringify(spec)) {
      const labels = cluster.metadata.labels ?? {};
      const relabelled = JSON.stringify(labels) !== JSON.stringify(existing.labels);
      existing.labels = labels;
      // New labels can move objects (cluster-selector): tell the listeners, as for a state change.
      if (relabelled) for (const l of this.labelListeners) l(existing);
      return;
    }
    this.specs.set(name, JSON.stringify(spec));
    let client: KubeRest;
    try {
      const server = serverAddressFor(spec.serverAddressByClientCIDRs ?? [], this.opts.clientAddress);
      if (spec.secretRef?.name) {
        const secret = await this.opts.federation.get(`/api/v1/namespaces/${FEDERATION_NAMESPACE}/secrets/${spec.secretRef.name}`);
        const data = (secret.data ?? {}) as Record<string, string>;
        if (!data.kubeconfig) throw new Error(`Secret ${FEDERATION_NAMESPACE}/${spec.secretRef.name} has no "kubeconfig" key`);
        client = await KubeRest.fromKubeconfigText(Buffer.from(data.kubeconfig, 'base64').toString('utf8'), undefined, { timeoutMs: this.opts.probeTimeoutMs * 2, ...(server ? { server } : {}) });
      } else if (spec.kubeconfigContext && this.opts.kubeconfigText) {
        client = await KubeRest.fromKubeconfigText(this.opts.kubeconfigText, spec.kubeconfigContext, { timeoutMs: this.opts.probeTimeoutMs * 2, ...(server ? { server } : {}) });
      } else {
        throw new Error('the Cluster names neither spec.secretRef nor spec.kubeconfigContext');
      }
    } catch (err) {
      this.specs.delete(name);
      this.opts.logger.warn({ cluster: name, err: String(err) }, 'cannot build a client for the member; retrying');
      await this.writeStatus(cluster, { result: 'unreachable', detail: `cannot reach cluster: ${String(err)}` }, undefined);
      if (!this.stopped) this.timers.set(name, setTimeout(() => void this.reconnect(name), this.opts.probeIntervalMs));
      return;
    }
    const observe = this.opts.observeRequest;
    if (observe) client.onRequest = (verb) => observe(name, verb);
    const old = this.members.get(name);
    if (old) void old.client.close();
    const member: Member = {
      name,
      client,
      state: old?.state ?? 'Offline',
      labels: cluster.metadata.labels ?? {},
      ...(spec.region ? { region: spec.region } : {}),
      zones: spec.zones ?? [],
      clientCIDRs: spec.clientCIDRs ?? [],
      ...(spec.location ? { location: spec.location } : {}),
    };
    this.members.set(name, member);
    clearTimeout(this.timers.get(name));
    void this.probe(name, old ? old.state : undefined);
  }

  private async reconnect(name: string): Promise<void> {
    const cluster = this.informer.get(name);
    if (cluster && !this.stopped) await this.connect(cluster);
  }

  private async probe(name: string, previous: ClusterState | undefined): Promise<void> {
    const member = this.members.get(name);
    if (!member || this.stopped) return;
    const outcome = await this.check(member.client);
    const failures = outcome.result === 'ok' ? 0 : (this.failures.get(name) ?? 0) + 1;
    this.failures.set(name, failures);
    const threshold = this.opts.probeFailureThreshold ?? 3;
    if (staysReady(member.state, outcome, failures, threshold)) {
      this.opts.logger.debug({ cluster: name, detail: outcome.detail, failures, threshold }, 'member probe failed; still Ready until the threshold');
      return this.probeLater(name, member);
    }
    member.state = stateOf(outcome);
    if (member.state === 'Ready' && (!member.region || member.zones.length === 0)) {
      try {
        const nodes = await member.client.get<{ items: KObject[] }>('/api/v1/nodes', { timeoutMs: this.opts.probeTimeoutMs });
        const topo = topologyFromNodes(nodes.items);
        member.region ??= topo.region;
        if (member.zones.length === 0) member.zones = topo.zones;
      } catch {
        // topology is best effort; the next probe tries again
      }
    }
    const cluster = this.informer.get(name);
    if (cluster) await this.writeStatus(cluster, outcome, member);
    if (member.state !== previous) for (const l of this.listeners) l(member, previous);
    this.probeLater(name, member);
  }

  private probeLater(name: string, member: Member): void {
    if (this.stopped || this.members.get(name) !== member) return;
    const t = setTimeout(() => void this.probe(name, member.state), this.opts.probeIntervalMs);
    t.unref();
    this.timers.set(name, t);
  }

  private async check(client: KubeRest): Promise<ProbeOutcome> {
    for (const path of ['/readyz', '/healthz']) {
      try {
        await client.call('GET', path, { timeoutMs: this.opts.probeTimeoutMs });
        return { result: 'ok', detail: `${path} ok` };
      } catch (err) {
        if (err instanceof KubeApiError) {
          if (err.status === 404 && path === '/readyz') continue;
          return { result: 'unhealthy', detail: `${path} answered ${err.status}` };
        }
        return { result: 'unreachable', detail: `${path}: ${(err as Error).message}` };
      }
    }
    return { result: 'unhealthy', detail: 'neither /readyz nor /healthz is served' };
  }

  private async writeStatus(cluster: KObject, outcome: ProbeOutcome, member: Member | undefined): Promise<void> {
    const old = (cluster.status ?? {}) as { state?: string; region?: string; zones?: string[]; conditions?: ClusterCondition[] };
    const conditions = nextConditions(old.conditions, outcome, new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'));
    const status = {
      state: stateOf(outcome),
      ...(member?.region ? { region: member.region } : old.region ? { region: old.region } : {}),
      zones: member?.zones.length ? member.zones : (old.zones ?? []),
      conditions,
    };
    const changed =
      status.state !== old.state ||
      status.region !== old.region ||
      JSON.stringify(status.zones) !== JSON.stringify(old.zones ?? []) ||
      conditions.some((c) => old.conditions?.find((o) => o.type === c.type)?.status !== c.status);
    if (!changed) return;
    if (status.state !== old.state && (old.state !== undefined || status.state !== 'Ready')) {
      const ready = status.state === 'Ready';
      const message = ready ? 'cluster is Ready' : `cluster is ${status.state}: ${outcome.detail}`;
      void recordEvent(this.opts.federation, clusterSubject(cluster), ready ? 'Normal' : 'Warning', ready ? 'ClusterReady' : `Cluster${status.state}`, message);
    }
    try {
      await this.opts.federation.call('PUT', `${CLUSTERS_PATH}/${cluster.metadata.name}/status`, { body: { ...cluster, status } });
    } catch (err) {
      // A conflict means the informer is behind; the next probe writes again.
      this.opts.logger.debug({ cluster: cluster.metadata.name, err: String(err) }, 'cluster status write failed');
    }
  }
}
