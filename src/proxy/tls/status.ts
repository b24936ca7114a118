import type { KeyType, LoadedCertificate } from './certificates.js';
import type { SniIndex } from './sni.js';

/**
 * The proxy's TLS certificates as the status page shows them (`/status/tls`): which certificate
 * serves which names, where it came from, when it expires, which one is the default and why.
 * Pure shaping of what the CertificateSet describes, the clock a parameter. The view it shapes
 * carries no key material (CertificateSet.describe() picks the fields below), and neither does
 * the document: not a private key, not the session-ticket key (its generation only).
 */

/** A certificate expiring sooner than this is flagged (`expiresSoon`): time to renew it. */
export const EXPIRES_SOON_DAYS = 14;
const DAY_MS = 86_400_000;

/** Where a certificate in use came from: a file of the proxy's config, or a Secret of the federation. */
export type CertificateSource = { kind: 'file'; certFile: string } | { kind: 'secret'; secret: string; ingresses: readonly string[] };

/** A certificate that was not taken (the last problem per file or Secret, until it is taken or withdrawn). */
export interface RejectedCertificate {
  /** The stable code (E_TLS_…). */
  code: string;
  source: CertificateSource;
  /** What was wrong, naming the file or Secret (never key material: CertificateError's message). */
  message: string;
  /** When it was refused (ms since the epoch). */
  at: number;
  /** The fingerprint of the last good certificate still served in its place; null when none is. */
  keeping: string | null;
}

/** The certificate set as it stands (CertificateSet.describe()): the input of tlsStatus. */
export interface CertificateSetView {
  /** The certificates in use, in SNI order (the config's files first, then the federation's), without their keys. */
  inUse: readonly { cert: Pick<LoadedCertificate, 'names' | 'keyType' | 'notAfter' | 'fingerprint'>; source: CertificateSource }[];
  /** The index (into `inUse`) of the default certificate; -1 when there is none (strict SNI). */
  fallback: number;
  /** Names listed by more than one certificate (indexes into `inUse`): only `used` serves them. */
  shadowed: SniIndex['shadowed'];
  /** The Secret the federation names as its default (`--default-certificate`), taken or not. */
  federationDefault: string | undefined;
  rejected: readonly RejectedCertificate[];
}

/** Why a certificate is the default: the proxy's first certificate of its own, or the one the federation names. */
export type DefaultRule = 'first-static' | 'federation-default';

export interface CertificateStatus {
  /** The DNS names it serves (its subjectAltNames, or its CN), `*.x` for wildcards. */
  names: string[];
  source: 'file' | 'secret';
  /** source `file`: the certificate's path. */
  certFile?: string;
  /** source `secret`: the Secret (`namespace/name`) and the federated Ingresses naming it (none for a default no Ingress names). */
  secret?: string;
  ingresses?: string[];
  keyType: KeyType;
  /** ISO 8601. */
  notAfter: string;
  /** Whole days until notAfter (0: less than a day). */
  daysLeft: number;
  /** Expires within EXPIRES_SOON_DAYS. */
  expiresSoon: boolean;
  /** The leaf's SHA-256 fingerprint. */
  fingerprint: string;
  /** Served to clients sending no name, or one no certificate covers. */
  default: boolean;
  defaultRule: DefaultRule | null;
  /** Its names another certificate, listed earlier, serves instead (`servedBy`: that one's file or Secret). */
  shadowed: { name: string; servedBy: string }[];
}

export interface RejectedCertificateStatus {
  code: string;
  source: 'file' | 'secret';
  certFile?: string;
  secret?: string;
  message: string;
  /** ISO 8601. */
  at: string;
  /** The fingerprint of the last good certificate served in its place; null: its names have none. */
  keeping: string | null;
}

export interface TlsStatus {
  certificates: CertificateStatus[];
  /** No default certificate: clients sending no name, or one no certificate covers, get none (the handshake fails). */
  strictSni: boolean;
  /** The Secret the federation names as the default (`meridian controller --default-certificate`), whether this proxy uses it or not. */
  federationDefaultSecret: string | null;
  /** The session-ticket key in use: the fleet's generation, or 0 for this process's own key. Never the key. */
  ticketKeyGeneration: number;
  /** The last problem of each file or Secret not taken, oldest first. */
  rejected: RejectedCertificateStatus[];
}

const label = (s: CertificateSource) => (s.kind === 'file' ? s.certFile : `Secret ${s.secret}`);

const sourceFields = (s: CertificateSource) => (s.kind === 'file' ? { source: 'file' as const, certFile: s.certFile } : { source: 'secret' as const, secret: s.secret });

/** The status document's `tls` part (pure). */
export function tlsStatus(view: CertificateSetView, ticketKeyGeneration: number, now: number): TlsStatus {
  const fallback = view.fallback >= 0 && view.fallback < view.inUse.length ? view.fallback : -1;
  const certificates = view.inUse.map(({ cert, source }, i): CertificateStatus => {
    const isDefault = i === fallback;
    const msLeft = cert.notAfter - now;
    return {
      names: [...cert.names],
      ...sourceFields(source),
      ...(source.kind === 'secret' ? { ingresses: [...source.ingresses] } : {}),
      keyType: cert.keyType,
      notAfter: new Date(cert.notAfter).toISOString(),
      daysLeft: Math.max(0, Math.floor(msLeft / DAY_MS)),
      expiresSoon: msLeft < EXPIRES_SOON_DAYS * DAY_MS,
      fingerprint: cert.fingerprint,
      default: isDefault,
      defaultRule: isDefault ? (source.kind === 'file' ? 'first-static' : 'federation-default') : null,
      shadowed: view.shadowed.filter((s) => s.ignored === i && view.inUse[s.used]).map((s) => ({ name: s.name, servedBy: label(view.inUse[s.used]!.source) })),
    };
  });
  return {
    certificates,
    strictSni: fallback < 0,
    federationDefaultSecret: view.federationDefault ?? null,
    ticketKeyGeneration,
    rejected: [...view.rejected]
      .sort((a, b) => a.at - b.at)
      .map((r) => ({ code: r.code, ...sourceFields(r.source), message: r.message, at: new Date(r.at).toISOString(), keeping: r.keeping })),
  };
}
