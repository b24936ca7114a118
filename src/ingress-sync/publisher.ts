import { createHash } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from '../common/log.js';
import type { FleetStore } from '../state/store.js';
import type { ClusterRegistry } from '../federation/registry/registry.js';
import { Informer, stripForCache } from '../kube/informer.js';
import type { KubeRest } from '../kube/rest.js';
import { buildRoutingTable } from './build-table.js';

export interface PublisherOptions {
  federation: KubeRest;
  registry: ClusterRegistry;
  /** Where the table goes (JSON, replaced atomically): the proxies' `tableFile`. */
  path?: string;
  /** The fleet's state store: proxies with no table of their own follow the one published there. */
  store?: FleetStore;
  /** How often the member set is reconciled with the registry (and the table rebuilt if needed). */
  intervalMs: number;
  /** How long a burst of changes is gathered before the table is rebuilt. */
  debounceMs?: number;
  logger: Logger;
}

/** Watches of one member: its Services and Endpoints, all namespaces. */
interface MemberWatch {
  client: KubeRest;
  services: Informer;
  endpoints: Informer;
}

/**
 * Publishes the routing table for the proxies: the federation's Ingresses joined with each
 * member's Services and ready Endpoints, kept by informers (list once, then watch — no polling of
 * every member), rebuilt shortly after any of them changes and written only when it changed.
 * A member whose API cannot be read keeps its last-known state (its informer keeps its cache and
 * retries), since its pods may well be serving and the proxies' health checks decide; only a
 * member that leaves the registry leaves the table.
 * It goes to a file a proxy watches, and/or to the fleet's state store (versioned, with a
 * checksum and a change notification); a store that lost it (Redis restarted empty) gets it again
 * within a tick.
 */
export class TablePublisher {
  private ingresses: Informer | undefined;
  /** Federated ReplicaSets and Deployments, for the backends' readiness probe paths. */
  private workloads: Informer[] = [];
  private readonly watches = new Map<string, MemberWatch>();
  private ticker?: NodeJS.Timeout;
  private pending?: NodeJS.Timeout;
  private publishing: Promise<unknown> = Promise.resolve();
  private last = '';
  /** The last table built: its version and compact JSON, as the store gets it. */
  private current: { version: string; body: string } | undefined;
  /** The version the store is known to hold ('' = unknown or none). */
  private inStore = '';
  private storeFailing = false;
  private stopped = false;
  /** The malformed annotations last logged (one line per change). */
  private problems = '';

  constructor(private readonly opts: PublisherOptions) {}

  start(): void {
    this.stopped = false;
    this.ingresses = new Informer(this.opts.federation, '/apis/networking.k8s.io/v1/ingresses').on(() => this.schedule());
    this.ingresses.start();
    this.workloads = ['/apis/apps/v1/replicasets', '/apis/apps/v1/deployments'].map((path) => new Informer(this.opts.federation, path).on(() => this.schedule()));
    for (const w of this.workloads) w.start();
    const tick = () => {
      if (this.stopped) return;
      this.syncMembers();
      this.schedule();
      // Is the table still in the store? (Redis may have restarted empty, or failed over.)
      if (this.opts.store && this.current) {
        this.opts.store.tableVersion().then(
          (v) => {
            if (v !== this.inStore) {
              this.inStore = v ?? '';
              this.schedule();
            }
          },
          () => (this.inStore = ''),
        );
      }
      this.ticker = setTimeout(tick, this.opts.intervalMs);
      this.ticker.unref();
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.ticker);
    clearTimeout(this.pending);
    this.ingresses?.stop();
    for (const w of this.workloads) w.stop();
    for (const w of this.watches.values()) this.stopWatch(w);
    this.watches.clear();
  }

  /** Starts watching members that joined (or whose connection changed), stops those that left. */
  private syncMembers(): void {
    const members = this.opts.registry.all();
    const present = new Set(members.map((m) => m.name));
    for (const [name, w] of this.watches) {
      if (!present.has(name)) {
        this.stopWatch(w);
        this.watches.delete(name);
      }
    }
    for (const m of members) {
      const existing = this.watches.get(m.name);
      if (existing?.client === m.client) continue;
      // Not yet reachable members are watched as soon as they are Ready; a connection change
      // replaces the watch (the new one relists).
      if (!existing && m.state !== 'Ready') continue;
      if (existing) this.stopWatch(existing);
      const services = new Informer(m.client, '/api/v1/services', { transform: stripForCache() }).on(() => this.schedule());
      const endpoints = new Informer(m.client, '/api/v1/endpoints', { transform: stripForCache() }).on(() => this.schedule());
      services.start();
      endpoints.start();
      this.watches.set(m.name, { client: m.client, services, endpoints });
    }
  }

  private stopWatch(w: MemberWatch): void {
    w.services.stop();
    w.endpoints.stop();
  }

  /** Rebuilds the table soon, once for a burst of changes. */
  private schedule(): void {
    if (this.pending || this.stopped) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.publishing = this.publishing.then(() => this.publish()).catch((err: unknown) => this.opts.logger.warn({ err: String(err) }, 'routing table not published this round'));
    }, this.opts.debounceMs ?? 100);
    this.pending.unref();
  }

  /** Builds the table from the informers' caches and writes it if it changed. */
  async publish(): Promise<boolean> {
    if (this.stopped || !this.ingresses?.hasSynced()) return false;
    const ingresses = this.ingresses.list().filter((i) => !i.metadata.deletionTimestamp);
    // The informers' caches are read in place, not copied.
    const services = new Map<string, Informer>();
    const endpoints = new Map<string, Informer>();
    const listed = this.opts.registry.all().filter((m) => {
      const w = this.watches.get(m.name);
      if (!w || !w.services.hasSynced() || !w.endpoints.hasSynced()) return false;
      services.set(m.name, w.services);
      endpoints.set(m.name, w.endpoints);
      return true;
    });
    listed.sort((a, b) => a.name.localeCompare(b.name));
    const problems: string[] = [];
    const table = buildRoutingTable({
      version: '',
      ingresses,
      clusters: listed.map((m) => ({ name: m.name, region: m.region ?? 'unknown', zones: m.zones, clientCIDRs: m.clientCIDRs, ...(m.location ? { location: m.location } : {}) })),
      services,
      endpoints,
      workloads: this.workloads.flatMap((w) => w.list()),
      onProblem: (ingress, message) => problems.push(`${ingress}: ${message}`),
    });
    // Malformed annotations are ignored; said when they change, not at every rebuild.
    const told = problems.join('\n');
    if (told !== this.problems) {
      if (problems.length) this.opts.logger.warn({ problems }, 'Ingress annotations ignored in the routing table');
      this.problems = told;
    }
    const content = JSON.stringify({ ...table, version: '' });
    let changed = false;
    if (content !== this.last) {
      this.last = content;
      table.version = createHash('sha256').update(content).digest('hex').slice(0, 12);
      this.current = { version: table.version, body: JSON.stringify(table) };
      if (this.opts.path) {
        const tmp = `${this.opts.path}.tmp`;
        await writeFile(tmp, `${JSON.stringify(table, null, 2)}\n`);
        await rename(tmp, this.opts.path);
      }
      this.opts.logger.info({ version: table.version, backends: Object.keys(table.backends).length }, 'routing table published');
      changed = true;
    }
    await this.toStore();
    return changed;
  }

  /** Puts the current table in the store unless it holds it already; one log line per outage. */
  private async toStore(): Promise<void> {
    const store = this.opts.store;
    const t = this.current;
    if (!store || !t || this.inStore === t.version) return;
    try {
      await store.publishTable({ version: t.version, body: t.body, sha256: createHash('sha256').update(t.body).digest('hex'), publishedAt: Date.now(), publisher: `${hostname()}_${process.pid}` });
      this.inStore = t.version;
      if (this.storeFailing) this.opts.logger.info({ store: store.description, version: t.version }, 'routing table in the state store again');
      this.storeFailing = false;
    } catch (err) {
      this.inStore = '';
      if (!this.storeFailing) this.opts.logger.warn({ store: store.description, err: String(err) }, 'cannot publish the routing table to the state store; retrying every tick');
      this.storeFailing = true;
    }
  }
}
