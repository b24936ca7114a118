import { createHash } from 'node:crypto';
import { open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hostname } from 'node:os';
import type { Logger } from '../common/log.js';
import type { FleetStore, PublishedTable } from '../state/store.js';
import { recordEvent } from '../federation/controller/events.js';
import { ProblemLedger, type RepeatPolicy } from '../federation/controller/problems.js';
import type { ClusterRegistry } from '../federation/registry/registry.js';
import { Informer, stripForCache } from '../kube/informer.js';
import type { KObject, KubeRest } from '../kube/rest.js';
import { parseCertificateBundle, type CertificateBundle } from '../proxy/tls/bundle.js';
import { inspectCertificate } from '../proxy/tls/certificates.js';
import { buildCertificates, rememberingInspect, type DefaultCertificateProblem, type SecretPair } from './build-certificates.js';
import { buildRoutingTable, INVALID_ANNOTATION_CODE, type AnnotationProblem } from './build-table.js';

export interface PublisherOptions {
  federation: KubeRest;
  registry: ClusterRegistry;
  /** Where the table goes (JSON, replaced atomically): the proxies' `tableFile`. */
  path?: string;
  /**
   * Where the federation's TLS certificates go (JSON with private keys, mode 0600, replaced
   * atomically): the proxies' `tls.certificatesFile`. Default: `certificates.json` beside `path`.
   */
  certificatesPath?: string;
  /** The fleet's state store: proxies with no table of their own follow the one published there (and its certificates). */
  store?: FleetStore;
  /**
   * A federated TLS Secret (`namespace/name`) published with the certificates whether or not an
   * Ingress names it, as the one proxies with no certificate of their own serve to names no
   * certificate covers and to clients sending no name (`--default-certificate`).
   */
  defaultCertificate?: string;
  /** When a standing certificate problem is evented again on its Ingress (default 5 min, doubling to 1 h). */
  eventRepeat?: RepeatPolicy;
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
  /** The table last published. */
  private readonly table: Document = { last: '', inStore: '' };
  private stopped = false;
  /** Malformed annotations evented, per `ingress|annotation`: one Event per distinct problem, not per rebuild. */
  private readonly annotationProblems: ProblemLedger;
  private problemAnnotations = new Set<string>();
  /** Federated Secrets (TLS ones keep their data; others are cached without it). */
  private secrets: Informer | undefined;
  /** The certificates last published, as the table is. */
  private readonly certificates: Document = { last: '', inStore: '' };
  /** Per Secret, the content last taken from it: a Secret gone bad keeps serving this. */
  private lastGood = new Map<string, SecretPair>();
  /** Secrets' pairs parsed once per content, not on every rebuild. */
  private readonly inspect = rememberingInspect();
  /** Certificate problems evented, per `ingress|secret`: one Event per distinct problem, not per rebuild. */
  private readonly certificateProblems: ProblemLedger;
  private problemPairs = new Set<string>();
  /** Resolves once lastGood holds what was published before this process led. */
  private seeding: Promise<void> = Promise.resolve();

  constructor(private readonly opts: PublisherOptions) {
    this.certificateProblems = new ProblemLedger(opts.eventRepeat);
    this.annotationProblems = new ProblemLedger(opts.eventRepeat);
  }

  /** Ingress × Secret pairs with a standing certificate problem, by reason (for the controller's metrics). */
  certificateProblemCounts(): Map<string, number> {
    return this.certificateProblems.objectsByReason();
  }

  /** Ingresses with a malformed annotation standing (InvalidAnnotation), for the controller's metrics. */
  annotationProblemCounts(): Map<string, number> {
    const ingresses = new Set([...this.problemAnnotations].map((key) => key.slice(0, key.indexOf('|'))));
    return new Map([[INVALID_ANNOTATION_REASON, ingresses.size]]);
  }

  private get certificatesPath(): string | undefined {
    return this.opts.certificatesPath ?? (this.opts.path ? join(dirname(this.opts.path), 'certificates.json') : undefined);
  }

  start(): void {
    this.stopped = false;
    this.seeding = this.seedLastGood();
    this.ingresses = new Informer(this.opts.federation, '/apis/networking.k8s.io/v1/ingresses').on(() => this.schedule());
    this.ingresses.start();
    this.workloads = ['/apis/apps/v1/replicasets', '/apis/apps/v1/deployments'].map((path) => new Informer(this.opts.federation, path).on(() => this.schedule()));
    for (const w of this.workloads) w.start();
    // Every namespace's Secrets, as the Ingresses' are: only kubernetes.io/tls ones keep their data.
    this.secrets = new Informer(this.opts.federation, '/api/v1/secrets', { transform: tlsSecretsOnly }).on((_event, obj, old) => {
      if ((obj as { type?: string }).type === TLS_SECRET_TYPE || (old as { type?: string } | undefined)?.type === TLS_SECRET_TYPE) this.schedule();
    });
    this.secrets.start();
    const tick = () => {
      if (this.stopped) return;
      this.syncMembers();
      this.schedule();
      // Is the table still in the store? (Redis may have restarted empty, or failed over.)
      const store = this.opts.store;
      if (store) {
        this.checkStore(this.table, () => store.tableVersion());
        this.checkStore(this.certificates, () => store.certificatesVersion());
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
    this.secrets?.stop();
    for (const w of this.workloads) w.stop();
    for (const w of this.watches.values()) this.stopWatch(w);
    this.watches.clear();
  }

  /**
   * The certificates published before this process led (a restart, a new leader): the store's,
   * else the file's. A Secret that is bad now then keeps serving what it served before, rather
   * than being withdrawn from every proxy because this process never saw it good. What is read
   * is checked as the proxies check it (checksum, then each certificate): only a good one is kept.
   */
  private async seedLastGood(): Promise<void> {
    const sources: [string, () => Promise<string | undefined>][] = [];
    const store = this.opts.store;
    if (store) {
      sources.push([
        'the state store',
        async () => {
          const c = await store.readCertificates();
          return c && createHash('sha256').update(c.body).digest('hex') === c.sha256 ? c.body : undefined;
        },
      ]);
    }
    const file = this.certificatesPath;
    if (file) sources.push([file, () => readFile(file, 'utf8')]);
    const now = Date.now();
    for (const [where, read] of sources) {
      let bundle: CertificateBundle;
      try {
        const text = await read();
        if (text === undefined) continue;
        bundle = parseCertificateBundle(text, where);
      } catch {
        continue; // not there, or not readable: the next source, else nothing to keep
      }
      for (const c of bundle.certificates) {
        try {
          inspectCertificate(`Secret ${c.secret} tls.crt`, `Secret ${c.secret} tls.key`, c.cert, c.key, now);
          this.lastGood.set(c.secret, { cert: c.cert, key: c.key });
        } catch {
          // Not good (any more): nothing to keep for that Secret.
        }
      }
      return;
    }
  }

  /** Whether the store still holds `doc`'s version; if not, a rebuild soon puts it back. */
  private checkStore(doc: Document, version: () => Promise<string | undefined>): void {
    if (!doc.current) return;
    version().then(
      (v) => {
        if (v !== doc.inStore) {
          doc.inStore = v ?? '';
          this.schedule();
        }
      },
      () => (doc.inStore = ''),
    );
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
      // The table and the certificates apart: a file one of them cannot write does not hold the other up.
      this.publishing = this.publishing
        .then(() => this.publish())
        .catch((err: unknown) => this.opts.logger.warn({ err: String(err) }, 'routing table not published this round'))
        .then(() => this.publishCertificates())
        .catch((err: unknown) => this.opts.logger.warn({ err: String(err) }, 'TLS certificates not published this round'));
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
    const problems: AnnotationProblem[] = [];
    const table = buildRoutingTable({
      version: '',
      ingresses,
      clusters: listed.map((m) => ({ name: m.name, region: m.region ?? 'unknown', zones: m.zones, clientCIDRs: m.clientCIDRs, ...(m.location ? { location: m.location } : {}) })),
      services,
      endpoints,
      workloads: this.workloads.flatMap((w) => w.list()),
      onProblem: (p) => problems.push(p),
    });
    this.eventAnnotationProblems(ingresses, problems);
    const content = JSON.stringify({ ...table, version: '' });
    let changed = false;
    if (content !== this.table.last) {
      table.version = createHash('sha256').update(content).digest('hex').slice(0, 12);
      this.table.current = { version: table.version, body: JSON.stringify(table) };
      if (this.opts.path) {
        const tmp = `${this.opts.path}.tmp`;
        await writeFile(tmp, `${JSON.stringify(table, null, 2)}\n`);
        await rename(tmp, this.opts.path);
      }
      // Only once written: a file that could not be written is tried again next round.
      this.table.last = content;
      this.opts.logger.info({ version: table.version, backends: Object.keys(table.backends).length }, 'routing table published');
      changed = true;
    }
    await this.documentToStore(this.table, 'routing table', (p) => this.opts.store!.publishTable(p));
    return changed;
  }

  /**
   * The certificates of the Ingresses' spec.tls, from the Secrets' cache: written (file, store)
   * when they changed; each problem told once as an Event on the Ingress and a log line (never
   * with key material).
   */
  async publishCertificates(): Promise<void> {
    await this.seeding;
    if (this.stopped || !this.ingresses?.hasSynced() || !this.secrets?.hasSynced()) return;
    const ingresses = this.ingresses.list().filter((i) => !i.metadata.deletionTimestamp);
    const defaultSecret = this.opts.defaultCertificate;
    const built = buildCertificates({ ingresses, secrets: this.secrets, ...(defaultSecret ? { defaultSecret } : {}), lastGood: this.lastGood, now: Date.now(), inspect: this.inspect });
    this.inspect.forget();
    this.lastGood = built.good;
    this.eventProblems(ingresses, built.problems);
    this.logDefaultProblem(built.defaultProblem);
    // The default is part of what the proxies get: naming another changes the version.
    const content = JSON.stringify({ certificates: built.certificates, defaultSecret: built.defaultSecret });
    const doc = this.certificates;
    if (content !== doc.last) {
      const bundle: CertificateBundle = { version: createHash('sha256').update(content).digest('hex').slice(0, 12), certificates: built.certificates, ...(built.defaultSecret ? { defaultSecret: built.defaultSecret } : {}) };
      doc.current = { version: bundle.version, body: JSON.stringify(bundle) };
      const file = this.certificatesPath;
      if (file) await writePrivateFile(file, `${JSON.stringify(bundle, null, 2)}\n`);
      doc.last = content; // only once written, as the table's
      this.opts.logger.info({ version: bundle.version, secrets: bundle.certificates.map((c) => c.secret), ...(bundle.defaultSecret ? { defaultSecret: bundle.defaultSecret } : {}), ...(file ? { file } : {}) }, 'TLS certificates published');
    }
    await this.documentToStore(doc, 'TLS certificates', (p) => this.opts.store!.publishCertificates(p));
  }

  private eventProblems(ingresses: readonly KObject[], problems: ReturnType<typeof buildCertificates>['problems']): void {
    const pairs = new Set<string>();
    const byPair = new Map<string, typeof problems>();
    for (const p of problems) {
      const key = `${p.ingress}|${p.secret}`;
      byPair.set(key, [...(byPair.get(key) ?? []), p]);
    }
    // Pairs whose problems are gone are settled empty (forgotten): when one comes back it is news.
    for (const ing of ingresses) {
      const ns = ing.metadata.namespace ?? 'default';
      const ingressKey = `${ns}/${ing.metadata.name}`;
      const secrets = new Set((((ing.spec ?? {}) as { tls?: { secretName?: string }[] }).tls ?? []).flatMap((t) => (t.secretName ? [`${ns}/${t.secretName}`] : [])));
      for (const secret of secrets) {
        const key = `${ingressKey}|${secret}`;
        pairs.add(key);
        const found = (byPair.get(key) ?? []).map((p) => ({ reason: p.reason, message: p.message, cluster: '' }));
        for (const p of this.certificateProblems.settle(key, found)) {
          const problem = byPair.get(key)!.find((q) => q.reason === p.reason)!;
          this.opts.logger.warn({ ingress: ingressKey, secret, reason: p.reason, code: problem.code }, p.message);
          void recordEvent(this.opts.federation, ingressRef(ing), 'Warning', p.reason, p.message);
        }
      }
    }
    for (const key of this.problemPairs) if (!pairs.has(key)) this.certificateProblems.forget(key);
    this.problemPairs = pairs;
  }

  /**
   * The default Secret's problem (if any), told as a log line with its code — once, again only when
   * it changes or after the repeat back-off while it stands — and counted with the Ingresses'
   * (meridian_controller_tls_certificate_problems). No Ingress names it, so there is none to put
   * an Event on.
   */
  private logDefaultProblem(problem: DefaultCertificateProblem | undefined): void {
    const secret = this.opts.defaultCertificate;
    if (!secret) return;
    const key = `${DEFAULT_CERTIFICATE_KEY}|${secret}`;
    const found = problem ? [{ reason: problem.reason, message: problem.message, cluster: '' }] : [];
    for (const p of this.certificateProblems.settle(key, found)) {
      this.opts.logger.warn({ secret, defaultCertificate: true, reason: p.reason, code: problem!.code }, `${p.message} (the --default-certificate Secret: no Ingress to record an Event on, so told here only)`);
    }
  }

  /**
   * Malformed annotations, ignored in the table: each told once as an Event on its Ingress (and a
   * log line), again only when its message changes or after the repeat back-off while it stands.
   * One that is fixed (or whose Ingress is gone) is forgotten, so its return is news.
   */
  private eventAnnotationProblems(ingresses: readonly KObject[], problems: readonly AnnotationProblem[]): void {
    const byKey = new Map(ingresses.map((i) => [`${i.metadata.namespace ?? 'default'}/${i.metadata.name}`, i]));
    const standing = new Set<string>();
    for (const p of problems) {
      const key = `${p.ingress}|${p.annotation}`;
      const ing = byKey.get(p.ingress);
      if (standing.has(key) || !ing) continue;
      standing.add(key);
      for (const told of this.annotationProblems.settle(key, [{ reason: INVALID_ANNOTATION_REASON, message: p.message, cluster: '' }])) {
        this.opts.logger.warn({ ingress: p.ingress, annotation: p.annotation, reason: told.reason, code: INVALID_ANNOTATION_CODE }, told.message);
        void recordEvent(this.opts.federation, ingressRef(ing), 'Warning', told.reason, told.message);
      }
    }
    for (const key of this.problemAnnotations) if (!standing.has(key)) this.annotationProblems.forget(key);
    this.problemAnnotations = standing;
  }

  /** Puts `doc` in the store unless it holds it already; one log line per outage. */
  private async documentToStore(doc: Document, what: string, put: (p: PublishedTable) => Promise<void>): Promise<void> {
    const store = this.opts.store;
    const d = doc.current;
    if (!store || !d || doc.inStore === d.version) return;
    try {
      await put({ version: d.version, body: d.body, sha256: createHash('sha256').update(d.body).digest('hex'), publishedAt: Date.now(), publisher: `${hostname()}_${process.pid}` });
      doc.inStore = d.version;
      if (doc.failing) this.opts.logger.info({ store: store.description, version: d.version }, `${what} in the state store again`);
      doc.failing = false;
    } catch (err) {
      doc.inStore = '';
      if (!doc.failing) this.opts.logger.warn({ store: store.description, err: String(err) }, `cannot publish the ${what} to the state store; retrying every tick`);
      doc.failing = true;
    }
  }
}

/** What the publisher keeps of one document it publishes (the table, the certificates). */
interface Document {
  /** Its content as last built (without version): a rebuild that changes nothing writes nothing. */
  last: string;
  /** Its version and compact JSON, as the store gets it. */
  current?: { version: string; body: string };
  /** The version the store is known to hold ('' = unknown or none). */
  inStore: string;
  /** Whether the store refused it last time (one log line per outage). */
  failing?: boolean;
}

const TLS_SECRET_TYPE = 'kubernetes.io/tls';

/** Where the default Secret's problems stand in the certificate ledger, in place of an Ingress. */
const DEFAULT_CERTIFICATE_KEY = '--default-certificate';

/** The Event reason a malformed Ingress annotation is told under. */
export const INVALID_ANNOTATION_REASON = 'InvalidAnnotation';

/** What an Event about a federated Ingress names (its uid ties it to this Ingress, not a re-created one). */
function ingressRef(ing: KObject): KObject {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: ing.metadata.name, namespace: ing.metadata.namespace ?? 'default', uid: ing.metadata.uid } } as KObject;
}

/**
 * The Secrets' cache as the certificates need it: managedFields dropped, non-TLS Secrets without
 * their data (no kubeconfig or password is held for nothing), and never the last-applied
 * annotation, which holds a `kubectl apply`'d Secret's data in clear.
 */
function tlsSecretsOnly(obj: KObject): KObject {
  const stripped = stripForCache(['kubectl.kubernetes.io/last-applied-configuration'])(obj) as KObject & { type?: string; data?: unknown };
  if (stripped.type === TLS_SECRET_TYPE) return stripped;
  const { data: _data, ...rest } = stripped;
  return rest as KObject;
}

/**
 * Writes a file only its owner can read, atomically: the temporary file is created 0600 (never
 * readable by others, even for a moment), then renamed over the old one.
 */
async function writePrivateFile(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  // A leftover temporary from a crash may have been made with other permissions: start afresh.
  await unlink(tmp).catch(() => {});
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.chmod(0o600); // the umask may only have narrowed 0600, never widened it; made explicit
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
