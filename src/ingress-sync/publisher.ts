import { createHash } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../common/log.js';
import type { ClusterRegistry } from '../federation/registry/registry.js';
import { objectKey } from '../kube/informer.js';
import type { KObject, KubeRest } from '../kube/rest.js';
import { buildRoutingTable } from './build-table.js';

export interface PublisherOptions {
  federation: KubeRest;
  registry: ClusterRegistry;
  /** Where the table goes (JSON, replaced atomically): the proxies' `tableFile`. */
  path: string;
  intervalMs: number;
  memberTimeoutMs: number;
  logger: Logger;
}

/**
 * Publishes the routing table for the proxies: the federation's Ingresses joined with each
 * member's Services and ready Endpoints (read from Ready members; last-known for the others),
 * rebuilt every interval and written only when it changes.
 * (A file the static-mode proxy watches; the Redis state store will be the fleet's channel.)
 */
export class TablePublisher {
  private timer?: NodeJS.Timeout;
  private last = '';
  /** Per member, its Services and Endpoints as last read. */
  private readonly lastKnown = new Map<string, { services: Map<string, KObject>; endpoints: Map<string, KObject> }>();
  private stopped = false;

  constructor(private readonly opts: PublisherOptions) {}

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      await this.publish().catch((err: unknown) => this.opts.logger.warn({ err: String(err) }, 'routing table not published this round'));
      if (this.stopped) return;
      this.timer = setTimeout(() => void tick(), this.opts.intervalMs);
      this.timer.unref();
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async publish(): Promise<boolean> {
    const ingresses = (await this.opts.federation.get<{ items: KObject[] }>('/apis/networking.k8s.io/v1/ingresses')).items.filter((i) => !i.metadata.deletionTimestamp);
    // Static stability: a member whose API cannot be read now (NotReady, Offline, or slow this
    // round) keeps its last-known Services and Endpoints in the table — its pods may well be
    // serving, and the proxies' own health checks decide. Only a member that leaves the
    // registry leaves the table.
    const members = this.opts.registry.all();
    const present = new Set(members.map((m) => m.name));
    for (const name of this.lastKnown.keys()) if (!present.has(name)) this.lastKnown.delete(name);
    const services = new Map<string, Map<string, KObject>>();
    const endpoints = new Map<string, Map<string, KObject>>();
    const listed: typeof members = [];
    await Promise.all(
      members.map(async (m) => {
        if (m.state === 'Ready') {
          try {
            const t = { timeoutMs: this.opts.memberTimeoutMs };
            const [svc, ep] = await Promise.all([m.client.get<{ items: KObject[] }>('/api/v1/services', t), m.client.get<{ items: KObject[] }>('/api/v1/endpoints', t)]);
            this.lastKnown.set(m.name, { services: new Map(svc.items.map((o) => [objectKey(o), o])), endpoints: new Map(ep.items.map((o) => [objectKey(o), o])) });
          } catch {
            // not answering this round: its last-known state stands in
          }
        }
        const known = this.lastKnown.get(m.name);
        if (!known) return;
        services.set(m.name, known.services);
        endpoints.set(m.name, known.endpoints);
        listed.push(m);
      }),
    );
    listed.sort((a, b) => a.name.localeCompare(b.name));
    const table = buildRoutingTable({
      version: '',
      ingresses,
      clusters: listed.map((m) => ({ name: m.name, region: m.region ?? 'unknown', zones: m.zones, clientCIDRs: m.clientCIDRs, ...(m.location ? { location: m.location } : {}) })),
      services,
      endpoints,
    });
    const content = JSON.stringify({ ...table, version: '' });
    if (content === this.last) return false;
    this.last = content;
    table.version = createHash('sha256').update(content).digest('hex').slice(0, 12);
    const tmp = `${this.opts.path}.tmp`;
    await writeFile(tmp, `${JSON.stringify(table, null, 2)}\n`);
    await rename(tmp, this.opts.path);
    this.opts.logger.info({ version: table.version, backends: Object.keys(table.backends).length }, 'routing table published');
    return true;
  }
}
