import { createHash, randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Registry } from 'prom-client';
import type { MeridianError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { serialized } from '../../common/serialized.js';
import { parseCertificateBundle, type CertificateBundle } from './bundle.js';
import { CertificateError, contentHash, inspectCertificate, readCertificateFiles, type LoadedCertificate } from './certificates.js';
import { TlsContexts, type SessionSettings } from './contexts.js';
import { TlsMetrics } from './metrics.js';
import type { CertificateSetView, CertificateSource, RejectedCertificate } from './status.js';

export interface CertificateFiles {
  /** Paths as resolved (relative ones against the config file's folder). */
  certFile: string;
  keyFile: string;
}

export interface CertificateSetOptions {
  files: readonly CertificateFiles[];
  /** The federation's certificates as a file the controller writes (watched as the files are); else they come by applyBundle(). */
  bundleFile?: string;
  sessionTimeoutSeconds: number;
  /** This process's own ticket key is replaced this often (until the fleet's is installed). */
  ticketKeyRotationMs: number;
  /** How often the files are looked at when no change event came (fs.watch misses some: NFS, some overlays). */
  pollIntervalMs: number;
  metrics: TlsMetrics;
  logger: Logger;
  now?: () => number;
}

/** Writers replace a certificate and its key one after the other: changes are read once this long after the last event. */
const SETTLE_MS = 200;

/**
 * The proxy's certificates, checked and kept current, from two sources: files named in the config
 * (static), and the federation's (the Secrets of federated Ingresses' spec.tls, as a bundle from
 * the fleet's store or a file the controller writes). A changed file or Secret is checked as at
 * start and, when it passes, applied to new connections (the contexts are rebuilt; open
 * connections keep theirs). One that fails keeps the last good pair in use and is reported once
 * per content (a log line with its code, and meridian_proxy_tls_certificate_errors_total{reason}).
 * Static certificates come first: they win a name both have, and the first is the default;
 * without one, the federation's default Secret's certificate is (the bundle's `defaultSecret`, if
 * this proxy took it); without that either, names no certificate covers get none (strict SNI).
 * Key material is never logged.
 */
export class CertificateSet {
  /** The static certificates, by the index of their files. */
  private certs: LoadedCertificate[];
  /** The federation's, by Secret (`namespace/name`), in the bundle's order. */
  private federated = new Map<string, LoadedCertificate>();
  /** The Secret the federation names as the default (the bundle's `defaultSecret`). */
  private federatedDefault: string | undefined;
  /** Per Secret, the federated Ingresses naming it (as the last bundle said). */
  private federatedIngresses = new Map<string, readonly string[]>();
  /**
   * Per file (`file:` certFile) or Secret (`secret:` namespace/name), its last refusal and what
   * was refused (the contents' hash, or the read error), until it is taken or withdrawn: a poll or
   * bundle that brings the same content again does not report it again; the status page lists them.
   */
  private readonly refusals = new Map<string, { content: string; refusal: RejectedCertificate }>();
  /** What was last said about the default certificate (tellDefault): said once per change. */
  private defaultTold: string | undefined;
  /** Hash of the bundle file's text last applied or refused (a poll that finds it unchanged does nothing). */
  private bundleFileSeen: string | undefined;
  private session: SessionSettings;
  private contexts: TlsContexts;
  private readonly listeners: ((contexts: TlsContexts) => void)[] = [];
  private readonly stamps = new Map<string, string>();
  private watchers: FSWatcher[] = [];
  private timers: NodeJS.Timeout[] = [];
  /** Replaces this process's own ticket key; stopped once the fleet's keys are installed. */
  private ownKeyRotation: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  private constructor(
    private readonly opts: CertificateSetOptions,
    certs: LoadedCertificate[],
  ) {
    this.now = opts.now ?? Date.now;
    this.certs = certs;
    this.session = { timeoutSeconds: opts.sessionTimeoutSeconds, ticketKeys: randomBytes(48) };
    this.contexts = this.build();
    opts.metrics.certificatesInUse(this.contexts.certs);
    this.warnShadowed();
  }

  /** Loads and checks every certificate: the first that fails is a start-up error (CertificateError, with its code and hint). */
  static async open(opts: CertificateSetOptions): Promise<CertificateSet> {
    const now = (opts.now ?? Date.now)();
    const certs: LoadedCertificate[] = [];
    for (const f of opts.files) {
      try {
        const { cert, key } = await readCertificateFiles(f.certFile, f.keyFile);
        certs.push(inspectCertificate(f.certFile, f.keyFile, cert, key, now));
      } catch (err) {
        if (err instanceof CertificateError) opts.metrics.certificateError(err.problem);
        throw err;
      }
    }
    const set = new CertificateSet(opts, certs);
    for (const c of certs) opts.logger.info({ certFile: c.certFile, names: c.names, keyType: c.keyType, notAfter: new Date(c.notAfter).toISOString(), fingerprint: c.fingerprint }, 'TLS certificate loaded');
    // The federation's file may not be written yet (the controller starts later): start without it.
    if (opts.bundleFile) await set.readBundleFile();
    return set;
  }

  /** The contexts for the certificates in use: static first, then the federation's. */
  private build(): TlsContexts {
    const federated = [...this.federated.keys()];
    const fallback = this.certs.length > 0 ? 0 : this.federatedDefault === undefined ? -1 : federated.indexOf(this.federatedDefault);
    return new TlsContexts([...this.certs, ...this.federated.values()], this.session, fallback);
  }

  /**
   * The federation's certificates now (the whole set: a Secret not in it is no longer served).
   * Each is checked as a file is; one that fails keeps that Secret's last good certificate.
   */
  applyBundle(bundle: CertificateBundle): void {
    const now = this.now();
    const next = new Map<string, LoadedCertificate>();
    let changed = false;
    this.federatedIngresses = new Map(bundle.certificates.map((e) => [e.secret, e.ingresses]));
    for (const entry of bundle.certificates) {
      const inUse = this.federated.get(entry.secret);
      const hash = contentHash(entry.cert, entry.key);
      if (inUse?.contentHash === hash) {
        next.set(entry.secret, inUse);
        this.refusals.delete(`secret:${entry.secret}`);
        continue;
      }
      const label = `Secret ${entry.secret}`;
      try {
        const loaded = inspectCertificate(label, label, entry.cert, entry.key, now);
        next.set(entry.secret, loaded);
        changed = true;
        this.refusals.delete(`secret:${entry.secret}`);
        this.opts.logger.info({ secret: entry.secret, ingresses: entry.ingresses, names: loaded.names, keyType: loaded.keyType, notAfter: new Date(loaded.notAfter).toISOString(), fingerprint: loaded.fingerprint, ...(inUse ? { previous: inUse.fingerprint } : {}) }, inUse ? 'TLS certificate from the federation rotated: new connections use it' : 'TLS certificate from the federation loaded');
      } catch (err) {
        if (!(err instanceof CertificateError)) throw err;
        if (inUse) next.set(entry.secret, inUse);
        const key = `secret:${entry.secret}`;
        if (this.refusals.get(key)?.content === hash) continue;
        this.refusals.set(key, { content: hash, refusal: { code: err.code, source: { kind: 'secret', secret: entry.secret, ingresses: entry.ingresses }, message: err.message, at: now, keeping: inUse?.fingerprint ?? null } });
        this.opts.metrics.certificateError(err.problem);
        this.opts.logger.error({ secret: entry.secret, code: err.code, err: err.message, ...(inUse ? { keeping: inUse.fingerprint, notAfter: new Date(inUse.notAfter).toISOString() } : {}) }, inUse ? 'TLS certificate from the federation not taken; the last good one stays in use' : 'TLS certificate from the federation not taken; its names have no certificate');
      }
    }
    // A Secret no longer in the bundle is withdrawn: its refusal goes with it.
    for (const key of this.refusals.keys()) if (key.startsWith('secret:') && !this.federatedIngresses.has(key.slice('secret:'.length))) this.refusals.delete(key);
    for (const [secret, c] of this.federated) {
      if (next.has(secret)) continue;
      changed = true;
      this.opts.logger.info({ secret, names: c.names, fingerprint: c.fingerprint }, 'TLS certificate no longer named by any federated Ingress: withdrawn');
    }
    if (bundle.defaultSecret !== this.federatedDefault) changed = true;
    if (!changed) return;
    this.federated = next;
    this.federatedDefault = bundle.defaultSecret;
    this.rebuilt();
    this.tellDefault();
  }

  /** Says which certificate clients sending no name (or one no certificate covers) get, once each time the federation's part in that changes. */
  private tellDefault(): void {
    const secret = this.federatedDefault;
    const inUse = this.contexts.defaultCertificate;
    const own = this.certs.length > 0;
    const state = own ? `own|${secret ?? ''}` : `${secret ?? ''}|${inUse?.contentHash ?? ''}`;
    if (state === this.defaultTold) return;
    const first = this.defaultTold === undefined;
    this.defaultTold = state;
    if (own) {
      if (secret !== undefined) this.opts.logger.info({ secret, default: this.certs[0]!.certFile }, 'the federation names a default TLS certificate; this proxy\'s own first certificate stays its default');
    } else if (inUse) {
      this.opts.logger.info({ secret, names: inUse.names, fingerprint: inUse.fingerprint }, 'TLS default certificate from the federation: new connections sending no name, or one no certificate covers, get it');
    } else if (secret !== undefined) {
      this.opts.logger.warn({ secret }, 'the federation\'s default TLS certificate is not in use (this proxy did not take it, or it was not sent): clients sending no name, or one no certificate covers, get no certificate (strict SNI)');
    } else if (!first) {
      this.opts.logger.info('the federation names no default TLS certificate any more: clients sending no name, or one no certificate covers, get no certificate (strict SNI)');
    }
  }

  /** Reads the federation's file, if it changed: applied when it is a bundle; else the last one stays (reported once). */
  private async readBundleFile(): Promise<void> {
    const file = this.opts.bundleFile!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      if (this.bundleFileSeen === code) return;
      this.bundleFileSeen = code;
      this.opts.logger.warn({ code: 'E_CERTIFICATES_UNREADABLE', file, err: code }, 'the federation\'s certificates file cannot be read; serving what was last read from it (the controller writes it once it runs: --certificates-out, or beside --table-out)');
      return;
    }
    const seen = createHash('sha256').update(text).digest('hex');
    if (seen === this.bundleFileSeen) return;
    this.bundleFileSeen = seen;
    let bundle: CertificateBundle;
    try {
      bundle = parseCertificateBundle(text, file);
    } catch (err) {
      const e = err as MeridianError;
      this.opts.logger.error({ code: e.code, err: e.message, hint: e.hint }, 'the federation\'s certificates file is not valid; the last good certificates stay in use');
      return;
    }
    this.applyBundle(bundle);
  }

  get current(): TlsContexts {
    return this.contexts;
  }

  /** The certificates in use and the last refusals, for the status page: names, dates, fingerprints and sources, never a key. */
  describe(): CertificateSetView {
    const federated = [...this.federated.keys()];
    return {
      inUse: this.contexts.certs.map((c, i) => {
        const secret = federated[i - this.certs.length];
        const source: CertificateSource = i < this.certs.length || secret === undefined ? { kind: 'file', certFile: c.certFile } : { kind: 'secret', secret, ingresses: this.federatedIngresses.get(secret) ?? [] };
        return { cert: { names: c.names, keyType: c.keyType, notAfter: c.notAfter, fingerprint: c.fingerprint }, source };
      }),
      fallback: this.contexts.index.fallback,
      shadowed: this.contexts.index.shadowed,
      federationDefault: this.federatedDefault,
      rejected: [...this.refusals.values()].map((r) => r.refusal),
    };
  }

  /** Called with the new contexts whenever they change (a rotation, new ticket keys). */
  onChange(listener: (contexts: TlsContexts) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Starts watching the files (change events on their folders, and a poll of their stats), and
   * rotating this process's own ticket key: a key kept for the process's life would let one leak
   * decrypt every session it sealed.
   */
  watch(): void {
    const dirs = new Set([...this.opts.files.flatMap((f) => [dirname(f.certFile), dirname(f.keyFile)]), ...(this.opts.bundleFile ? [dirname(this.opts.bundleFile)] : [])]);
    for (const dir of dirs) {
      try {
        // The folder, not the file: a file replaced by rename (certbot, a Kubernetes Secret volume's
        // `..data` symlink swap) is a new inode a watch on the old one never hears about.
        const w = watch(dir, () => this.changed());
        w.on('error', () => w.close()); // the poll carries on
        this.watchers.push(w);
      } catch {
        // No inotify here (or the folder went away): the poll alone sees changes.
      }
    }
    void this.stampsChanged();
    this.timers.push(
      setInterval(() => void this.stampsChanged().then((c) => c && this.changed()), this.opts.pollIntervalMs).unref(),
    );
    this.ownKeyRotation = setInterval(() => this.useTicketKeys(randomBytes(48)), this.opts.ticketKeyRotationMs).unref();
  }

  /**
   * The fleet's session-ticket key (48 bytes), for new connections from now on: a client resumes
   * on any proxy holding the same key. This process stops rotating its own key; whoever calls
   * this rotates. Never logged.
   */
  installTicketKeys(keys: Buffer): void {
    clearInterval(this.ownKeyRotation);
    this.ownKeyRotation = undefined;
    this.useTicketKeys(keys);
  }

  close(): void {
    for (const w of this.watchers) w.close();
    for (const t of this.timers) clearInterval(t);
    clearInterval(this.ownKeyRotation);
    clearTimeout(this.settle);
    this.watchers = [];
    this.timers = [];
  }

  /** Re-reads every file now (SIGHUP, or a change seen); resolves once applied or refused. */
  readonly reload = serialized(() => this.reloadOnce());

  private changed(): void {
    clearTimeout(this.settle);
    this.settle = setTimeout(() => void this.reload(), SETTLE_MS).unref();
  }

  /** Whether any file's identity (inode, size, mtime, ctime — through symlinks) moved since the last look. */
  private async stampsChanged(): Promise<boolean> {
    let changed = false;
    const files = this.opts.files.flatMap((f) => [f.certFile, f.keyFile]);
    if (this.opts.bundleFile) files.push(this.opts.bundleFile);
    for (const file of files) {
      const s = await stat(file).then(
        (st) => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`,
        (err: NodeJS.ErrnoException) => `error:${err.code}`,
      );
      if (this.stamps.get(file) !== s) {
        if (this.stamps.has(file)) changed = true;
        this.stamps.set(file, s);
      }
    }
    return changed;
  }

  private async reloadOnce(): Promise<void> {
    if (this.opts.bundleFile) await this.readBundleFile();
    const now = this.now();
    const next = this.certs.slice();
    let rotated = false;
    for (let i = 0; i < this.opts.files.length; i++) {
      const f = this.opts.files[i]!;
      const inUse = this.certs[i]!;
      let files: { cert: string; key: string };
      try {
        files = await readCertificateFiles(f.certFile, f.keyFile);
      } catch (err) {
        this.refused(i, err as CertificateError, `unreadable:${(err as Error).message}`);
        continue;
      }
      const hash = contentHash(files.cert, files.key);
      if (hash === inUse.contentHash) {
        this.refusals.delete(`file:${f.certFile}`);
        continue;
      }
      try {
        next[i] = inspectCertificate(f.certFile, f.keyFile, files.cert, files.key, now);
        rotated = true;
        this.refusals.delete(`file:${f.certFile}`);
        this.opts.logger.info({ certFile: f.certFile, names: next[i]!.names, keyType: next[i]!.keyType, notAfter: new Date(next[i]!.notAfter).toISOString(), fingerprint: next[i]!.fingerprint, previous: inUse.fingerprint }, 'TLS certificate rotated: new connections use it');
      } catch (err) {
        if (!(err instanceof CertificateError)) throw err;
        this.refused(i, err, hash);
      }
    }
    if (!rotated) return;
    this.certs = next;
    this.rebuilt();
  }

  /** The certificates in use changed: new contexts for new connections, and the metrics and warnings that go with them. */
  private rebuilt(): void {
    this.opts.metrics.certificateRotations.inc();
    this.apply(this.build());
    this.opts.metrics.certificatesInUse(this.contexts.certs);
    this.warnShadowed();
  }

  private refused(i: number, err: CertificateError, content: string): void {
    const certFile = this.opts.files[i]!.certFile;
    const key = `file:${certFile}`;
    if (this.refusals.get(key)?.content === content) return;
    this.opts.metrics.certificateError(err.problem);
    const inUse = this.certs[i]!;
    this.refusals.set(key, { content, refusal: { code: err.code, source: { kind: 'file', certFile }, message: err.message, at: this.now(), keeping: inUse.fingerprint } });
    this.opts.logger.error({ code: err.code, err: err.message, hint: err.hint, keeping: inUse.fingerprint, notAfter: new Date(inUse.notAfter).toISOString() }, 'TLS certificate not taken; the last good one stays in use');
  }

  private useTicketKeys(keys: Buffer): void {
    this.session = { timeoutSeconds: this.session.timeoutSeconds, ticketKeys: keys };
    this.apply(this.contexts.withSession(this.session));
  }

  private apply(contexts: TlsContexts): void {
    this.contexts = contexts;
    for (const l of this.listeners) l(contexts);
  }

  private warnShadowed(): void {
    for (const s of this.contexts.index.shadowed) {
      const certs = this.contexts.certs;
      this.opts.logger.warn({ name: s.name, served: certs[s.used]!.certFile, ignored: certs[s.ignored]!.certFile }, 'two certificates name the same host: the first listed serves it (the config\'s files before the federation\'s)');
    }
  }
}

/**
 * The config's `tls`: its `certificates` files and its `certificatesFile` (the federation's, as
 * the controller writes it; paths relative to the config file), loaded, checked and watched, with
 * the TLS metrics on the proxy's registry. Throws the first bad certificate file's
 * CertificateError (a start-up error with its code and what to do); the federation's file never
 * stops a start (it may not be written yet, and a bad Secret is the federation's to fix).
 */
export async function openStaticCertificates(
  tls: { certificates: readonly CertificateFiles[]; certificatesFile?: string | undefined; sessionTimeoutSeconds: number; ticketKeyRotationSeconds: number; pollIntervalMs: number },
  configPath: string,
  registry: Registry,
  logger: Logger,
): Promise<{ certificates: CertificateSet; metrics: TlsMetrics }> {
  const metrics = new TlsMetrics(registry);
  const base = dirname(resolve(configPath));
  const certificates = await CertificateSet.open({
    files: tls.certificates.map((c) => ({ certFile: resolve(base, c.certFile), keyFile: resolve(base, c.keyFile) })),
    ...(tls.certificatesFile ? { bundleFile: resolve(base, tls.certificatesFile) } : {}),
    sessionTimeoutSeconds: tls.sessionTimeoutSeconds,
    ticketKeyRotationMs: tls.ticketKeyRotationSeconds * 1000,
    pollIntervalMs: tls.pollIntervalMs,
    metrics,
    logger,
  });
  certificates.watch();
  return { certificates, metrics };
}
