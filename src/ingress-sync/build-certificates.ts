import type { KObject } from '../kube/rest.js';
import { CertificateError, contentHash, inspectCertificate, type CertificateProblem, type LoadedCertificate } from '../proxy/tls/certificates.js';
import type { BundleCertificate } from '../proxy/tls/bundle.js';
import { buildSniIndex, selectCertificate } from '../proxy/tls/sni.js';
import type { ObjectsByKey } from './build-table.js';

/** A Secret's certificate and key (PEM), as last taken. */
export interface SecretPair {
  cert: string;
  key: string;
}

export interface CertificateInputs {
  /** Federated Ingresses (networking.k8s.io/v1 form; `spec.tls` is the same in extensions/v1beta1). */
  ingresses: readonly KObject[];
  /** Federated Secrets by `namespace/name`. */
  secrets: ObjectsByKey;
  /**
   * The Secret (`namespace/name`) whose certificate proxies with none of their own serve to names
   * no certificate covers and to clients sending no name (`--default-certificate`): in the bundle
   * whether or not an Ingress names it.
   */
  defaultSecret?: string;
  /** Per Secret, the content last taken from it: what a Secret that went bad keeps serving. */
  lastGood: ReadonlyMap<string, SecretPair>;
  /** ms since the epoch: certificates are judged valid or expired against it. */
  now: number;
  /** How a Secret's pair is checked (default inspectCertificate): the publisher passes one that remembers pairs it has parsed. */
  inspect?: typeof inspectCertificate;
}

/**
 * inspectCertificate, remembering what it found per (label, content): a publisher rebuilds the
 * certificates every second and on every Service or Endpoints change, and parsing each Secret's
 * pair again (~0.4 ms for RSA 2048) would make an idle controller's CPU grow with its Secrets.
 * Validity in time is judged anew each call (a remembered pair past its notAfter is inspected
 * again, for the error's own words; time-bound failures are never remembered). `forget()` drops
 * what the builds since the last call did not ask for.
 */
export function rememberingInspect(): typeof inspectCertificate & { forget(): void } {
  let kept = new Map<string, LoadedCertificate | CertificateError>();
  let asked = new Map<string, LoadedCertificate | CertificateError>();
  const inspect = (certFile: string, keyFile: string, cert: string, key: string, now: number): LoadedCertificate => {
    const id = `${certFile}\0${contentHash(cert, key)}`;
    const known = asked.get(id) ?? kept.get(id);
    if (known instanceof CertificateError) {
      asked.set(id, known);
      throw known;
    }
    if (known && known.notBefore <= now && known.notAfter > now) {
      asked.set(id, known);
      return known;
    }
    try {
      const loaded = inspectCertificate(certFile, keyFile, cert, key, now);
      asked.set(id, loaded);
      return loaded;
    } catch (err) {
      if (err instanceof CertificateError && err.problem !== 'expired' && err.problem !== 'not-yet-valid') asked.set(id, err);
      throw err;
    }
  };
  return Object.assign(inspect, {
    forget() {
      kept = asked;
      asked = new Map();
    },
  });
}

/** The Event reasons problems are recorded under on the Ingress. */
export const CERTIFICATE_PROBLEM_REASONS = ['TLSSecretNotFound', 'TLSCertificateRejected', 'TLSHostNotCovered'] as const;
export type CertificateProblemReason = (typeof CERTIFICATE_PROBLEM_REASONS)[number];

/** Something wrong with a Secret an Ingress names in `spec.tls`: reported on that Ingress. */
export interface IngressCertificateProblem {
  /** The Ingress, `namespace/name`. */
  ingress: string;
  /** The Secret, `namespace/name`. */
  secret: string;
  reason: CertificateProblemReason;
  /** The stable E_TLS_* code. */
  code: string;
  /** `E_…: ` what is wrong and what to do; never key material. */
  message: string;
}

/** Something wrong with the default Secret (`--default-certificate`): no Ingress to report it on, so the controller logs it. */
export type DefaultCertificateProblem = Omit<IngressCertificateProblem, 'ingress' | 'reason'> & { reason: Exclude<CertificateProblemReason, 'TLSHostNotCovered'> };

export interface CertificateBuild {
  /** One per referenced Secret that has (or had) a good certificate, sorted by Secret. */
  certificates: BundleCertificate[];
  /** The default Secret, when its certificate is among `certificates`. */
  defaultSecret?: string;
  problems: IngressCertificateProblem[];
  /** What is wrong with the default Secret, if anything. */
  defaultProblem?: DefaultCertificateProblem;
  /** The content taken from each referenced Secret (newly good, or kept): the next build's lastGood. */
  good: Map<string, SecretPair>;
}

const TLS_SECRET_TYPE = 'kubernetes.io/tls';
const CREATE = 'kubectl create secret tls NAME --cert=CERT --key=KEY';

/** What to do about each problem inspectCertificate finds, said for a Secret rather than for files. */
const SECRET_HINTS: Record<CertificateProblem, string> = {
  unreadable: `Recreate the Secret (${CREATE})`,
  'cert-invalid': 'Put the PEM certificate chain in tls.crt, the server\'s certificate first',
  'key-invalid': 'Put an unencrypted PEM private key in tls.key (`openssl pkey -in KEY -out KEY.plain` removes a passphrase)',
  'key-mismatch': `Put the key tls.crt was issued for in tls.key (${CREATE} --dry-run=client -o yaml | kubectl apply -f -)`,
  'key-unsupported': 'Use an ECDSA (P-256 or P-384) or an RSA (2048 bits or more) key',
  expired: 'Renew the certificate and update the Secret',
  'not-yet-valid': 'The certificate\'s notBefore is in the future: check the issuer\'s clock, or wait until it is valid',
};

interface Reference {
  ingresses: string[];
  hosts: string[];
}

/**
 * The certificates the proxies should serve, from the federated Ingresses' `spec.tls` (hosts and
 * a Secret of the Ingress's own namespace) and the federated Secrets: one entry per referenced
 * Secret, checked as a TLS server would use it (inspectCertificate). A Secret that is missing,
 * of the wrong type, incomplete or fails a check keeps the content last taken from it (if any)
 * and is reported on every Ingress naming it; a good certificate that does not cover a host the
 * Ingress lists for it is served, and reported. The default Secret, if one is named, is taken the
 * same way, with or without an Ingress naming it, and its problem reported apart (defaultProblem).
 * Pure: time comes in as `now`.
 */
export function buildCertificates(input: CertificateInputs): CertificateBuild {
  const refs = new Map<string, Reference>();
  for (const ing of input.ingresses) {
    const ns = ing.metadata.namespace ?? 'default';
    const ingressKey = `${ns}/${ing.metadata.name}`;
    const tls = ((ing.spec ?? {}) as { tls?: { hosts?: string[]; secretName?: string }[] }).tls ?? [];
    for (const t of tls) {
      // No secretName: the Ingress asks for the default certificate (static files); nothing to fetch.
      if (!t.secretName) continue;
      const secretKey = `${ns}/${t.secretName}`;
      let ref = refs.get(secretKey);
      if (!ref) refs.set(secretKey, (ref = { ingresses: [], hosts: [] }));
      if (!ref.ingresses.includes(ingressKey)) ref.ingresses.push(ingressKey);
      for (const h of t.hosts ?? []) {
        const host = h.toLowerCase();
        if (!ref.hosts.includes(host)) ref.hosts.push(host);
      }
    }
  }

  const defaultSecret = input.defaultSecret;
  if (defaultSecret !== undefined && !refs.has(defaultSecret)) refs.set(defaultSecret, { ingresses: [], hosts: [] });

  const certificates: BundleCertificate[] = [];
  const problems: IngressCertificateProblem[] = [];
  let defaultProblem: DefaultCertificateProblem | undefined;
  const good = new Map<string, SecretPair>();
  for (const secretKey of [...refs.keys()].sort()) {
    const ref = refs.get(secretKey)!;
    const isDefault = secretKey === defaultSecret;
    // Sorted: the bundle (and its version) must not change with the order the caches list objects in.
    ref.ingresses.sort();
    ref.hosts.sort();
    const report = (reason: CertificateProblemReason, code: string, message: string) => {
      for (const ingress of ref.ingresses) problems.push({ ingress, secret: secretKey, reason, code, message: `${code}: ${message}` });
    };
    const namedBy = [ref.ingresses.length ? 'named in spec.tls' : '', isDefault ? `${ref.ingresses.length ? 'and ' : 'named '}by --default-certificate` : ''].filter(Boolean).join(' ');
    const taken = takeSecret(secretKey, namedBy, input.secrets.get(secretKey), input.now, input.inspect ?? inspectCertificate);
    let pair: SecretPair | undefined;
    if ('problem' in taken) {
      pair = input.lastGood.get(secretKey);
      const keeping = pair ? 'the proxies keep serving the certificate last taken from it' : 'no certificate from it is served until it is fixed';
      const { reason, code, message, hint } = taken.problem;
      report(reason, code, `${message}; ${keeping}. ${hint}`);
      if (isDefault) {
        const strict = pair ? '' : ' (proxies with no certificate of their own give clients sending no name, or one no certificate covers, none: strict SNI)';
        defaultProblem = { secret: secretKey, reason, code, message: `${code}: ${message}; ${keeping}${strict}. ${hint}` };
      }
    } else {
      pair = { cert: taken.cert, key: taken.key };
      const index = buildSniIndex([{ names: taken.names }], -1);
      const uncovered = ref.hosts.filter((h) => selectCertificate(index, h).match === 'none');
      if (uncovered.length) {
        report(
          'TLSHostNotCovered',
          'E_TLS_HOST_NOT_COVERED',
          `Secret ${secretKey}: its certificate (${taken.names.join(', ') || 'no names'}) does not cover ${uncovered.join(', ')}; clients asking for ${uncovered.length > 1 ? 'them' : 'it'} get another certificate and refuse it. Issue a certificate for every host in spec.tls[].hosts, or list only the hosts it covers`,
        );
      }
    }
    if (!pair) continue;
    good.set(secretKey, pair);
    certificates.push({ secret: secretKey, ingresses: ref.ingresses, hosts: ref.hosts, cert: pair.cert, key: pair.key });
  }
  return { certificates, ...(defaultSecret !== undefined && good.has(defaultSecret) ? { defaultSecret } : {}), problems, ...(defaultProblem ? { defaultProblem } : {}), good };
}

type Taken = { cert: string; key: string; names: string[] } | { problem: { reason: Exclude<CertificateProblemReason, 'TLSHostNotCovered'>; code: string; message: string; hint: string } };

/** A Secret's certificate and key when it holds a usable pair; else what is wrong with it. `namedBy` says where it is named (for a missing one). */
function takeSecret(secretKey: string, namedBy: string, secret: KObject | undefined, now: number, inspect: typeof inspectCertificate): Taken {
  if (!secret) {
    const where = namedBy.startsWith('named in spec.tls') ? 'in the Ingress\'s namespace' : `in namespace ${secretKey.slice(0, secretKey.indexOf('/'))}`;
    return { problem: { reason: 'TLSSecretNotFound', code: 'E_TLS_SECRET_NOT_FOUND', message: `Secret ${secretKey}, ${namedBy}, does not exist in the federation`, hint: `Create it ${where} (${CREATE})` } };
  }
  const type = (secret as { type?: string }).type;
  if (type !== TLS_SECRET_TYPE) {
    return { problem: { reason: 'TLSCertificateRejected', code: 'E_TLS_SECRET_TYPE', message: `Secret ${secretKey} is of type ${type ?? 'Opaque'}, not ${TLS_SECRET_TYPE}`, hint: `Recreate it as a TLS Secret (${CREATE})` } };
  }
  const data = ((secret as { data?: Record<string, string> }).data ?? {}) as Record<string, string | undefined>;
  const missing = ['tls.crt', 'tls.key'].filter((k) => !data[k]);
  if (missing.length) {
    return { problem: { reason: 'TLSCertificateRejected', code: 'E_TLS_SECRET_INCOMPLETE', message: `Secret ${secretKey} has no ${missing.join(' and no ')}`, hint: `A TLS Secret holds tls.crt and tls.key (${CREATE})` } };
  }
  const cert = Buffer.from(data['tls.crt']!, 'base64').toString('utf8');
  const key = Buffer.from(data['tls.key']!, 'base64').toString('utf8');
  try {
    const loaded = inspect(`Secret ${secretKey} tls.crt`, `Secret ${secretKey} tls.key`, cert, key, now);
    return { cert, key, names: loaded.names };
  } catch (err) {
    if (!(err instanceof CertificateError)) throw err;
    return { problem: { reason: 'TLSCertificateRejected', code: err.code, message: err.message, hint: SECRET_HINTS[err.problem] } };
  }
}
