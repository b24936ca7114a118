import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { MeridianError } from '../../common/errors.js';

/** Why a certificate was not taken: the `reason` label of meridian_proxy_tls_certificate_errors_total. */
export type CertificateProblem = 'unreadable' | 'cert-invalid' | 'key-invalid' | 'key-mismatch' | 'key-unsupported' | 'expired' | 'not-yet-valid';

const PROBLEMS: Record<CertificateProblem, { code: string; hint: string }> = {
  unreadable: { code: 'E_TLS_FILE_UNREADABLE', hint: 'certFile and keyFile are paths relative to the proxy config; the proxy needs read access to both' },
  'cert-invalid': { code: 'E_TLS_CERT_INVALID', hint: 'certFile must hold a PEM certificate (-----BEGIN CERTIFICATE-----), the server\'s first, then its intermediates' },
  'key-invalid': { code: 'E_TLS_KEY_INVALID', hint: 'keyFile must hold an unencrypted PEM private key (`openssl pkey -in KEY -out KEY.plain` removes a passphrase)' },
  'key-mismatch': { code: 'E_TLS_KEY_MISMATCH', hint: 'the private key is not the one the certificate was issued for: pair each certFile with its own keyFile' },
  'key-unsupported': { code: 'E_TLS_KEY_UNSUPPORTED', hint: 'use an ECDSA (P-256 or P-384) or an RSA (2048 bits or more) key' },
  expired: { code: 'E_TLS_CERT_EXPIRED', hint: 'renew the certificate (clients refuse an expired one) and replace the file' },
  'not-yet-valid': { code: 'E_TLS_CERT_NOT_YET_VALID', hint: 'the certificate\'s notBefore is in the future: check this host\'s clock, or wait until it is valid' },
};

/** A certificate that could not be taken, with its stable code and what to do. Never carries key material. */
export class CertificateError extends MeridianError {
  constructor(
    readonly problem: CertificateProblem,
    readonly file: string,
    detail: string,
  ) {
    super(PROBLEMS[problem].code, `${file}: ${detail}`, PROBLEMS[problem].hint);
  }
}

export type KeyType = 'ecdsa' | 'rsa';

/** A certificate and its key, checked, with what SNI selects it by. */
export interface LoadedCertificate {
  certFile: string;
  keyFile: string;
  /** PEM text as read: the certificate chain, and the private key. */
  cert: string;
  key: string;
  /** DNS names it serves, lower-case: its DNS subjectAltNames, or its CN when it has none. `*.x` for wildcards. */
  names: string[];
  keyType: KeyType;
  /** notAfter, ms since the epoch. */
  notAfter: number;
  notBefore: number;
  /** The leaf's SHA-256 fingerprint (for logs: which certificate is in use). */
  fingerprint: string;
  /** Hash of both files' contents: a rotation that changes nothing is not a rotation. */
  contentHash: string;
}

/**
 * The DNS names a certificate answers for (RFC 6125 §6.4.4: the CN only when there is no DNS
 * subjectAltName). Node prints subjectAltName as `DNS:a, DNS:b, IP Address:…`, JSON-quoting a
 * value that holds a comma or quote.
 */
export function certificateNames(x509: X509Certificate): string[] {
  const names: string[] = [];
  const san = x509.subjectAltName;
  if (san) {
    for (const m of san.matchAll(/(?:^|, )DNS:("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
      let v = m[1]!;
      if (v.startsWith('"')) {
        try {
          v = JSON.parse(v) as string;
        } catch {
          continue;
        }
      }
      v = v.trim().toLowerCase().replace(/\.$/, '');
      if (v && !names.includes(v)) names.push(v);
    }
  }
  if (names.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject)?.[1]?.trim().toLowerCase().replace(/\.$/, '');
    if (cn) names.push(cn);
  }
  return names;
}

function keyTypeOf(key: KeyObject, file: string): KeyType {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== 'prime256v1' && curve !== 'secp384r1') throw new CertificateError('key-unsupported', file, `an ECDSA key on ${curve ?? 'an unknown curve'}`);
    return 'ecdsa';
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new CertificateError('key-unsupported', file, `an RSA key of ${bits} bits`);
    return 'rsa';
  }
  throw new CertificateError('key-unsupported', file, `a ${key.asymmetricKeyType ?? 'symmetric'} key`);
}

/**
 * Checks a certificate and its key as a TLS server would use them: the certificate parses, the
 * key parses and is the certificate's, the key type is one clients take, and the certificate is
 * valid at `now`. Pure: throws a CertificateError naming the file and the problem.
 */
export function inspectCertificate(certFile: string, keyFile: string, cert: string, key: string, now: number): LoadedCertificate {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new CertificateError('cert-invalid', certFile, `not a certificate (${firstLine(err)})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    // The message is OpenSSL's reason, never the key's bytes.
    throw new CertificateError('key-invalid', keyFile, `not a usable private key (${firstLine(err)})`);
  }
  const keyType = keyTypeOf(privateKey, keyFile);
  if (!x509.checkPrivateKey(privateKey)) throw new CertificateError('key-mismatch', keyFile, `not the private key of ${certFile} (${x509.subject.replace(/\n/g, ', ')})`);
  const notAfter = Date.parse(x509.validTo);
  const notBefore = Date.parse(x509.validFrom);
  if (!(notAfter > now)) throw new CertificateError('expired', certFile, `expired on ${x509.validTo}`);
  if (notBefore > now) throw new CertificateError('not-yet-valid', certFile, `valid only from ${x509.validFrom}`);
  return {
    certFile,
    keyFile,
    cert,
    key,
    names: certificateNames(x509),
    keyType,
    notAfter,
    notBefore,
    fingerprint: x509.fingerprint256,
    contentHash: contentHash(cert, key),
  };
}

export function contentHash(cert: string, key: string): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}

/** Both files read (as text); an unreadable one is a CertificateError. */
export async function readCertificateFiles(certFile: string, keyFile: string): Promise<{ cert: string; key: string }> {
  const read = async (file: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new CertificateError('unreadable', file, firstLine(err));
    }
  };
  const [cert, key] = await Promise.all([read(certFile), read(keyFile)]);
  return { cert, key };
}

export async function loadCertificate(certFile: string, keyFile: string, now: number): Promise<LoadedCertificate> {
  const { cert, key } = await readCertificateFiles(certFile, keyFile);
  return inspectCertificate(certFile, keyFile, cert, key, now);
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!;
}
