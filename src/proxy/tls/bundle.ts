import { z } from 'zod';
import { MeridianError } from '../../common/errors.js';

/**
 * The federation's certificates as the controller hands them to the proxies (through the fleet's
 * store, or a file the controller writes): one entry per TLS Secret a federated Ingress names in
 * `spec.tls`, and the default Secret's (named by an Ingress or not), already checked by the
 * controller, checked again by each proxy before use. Holds private keys: whatever stores it must
 * be as private as a key file (the file is 0600).
 */
export interface CertificateBundle {
  /** Content hash of the certificates (the store's version of them). */
  version: string;
  /** Sorted by `secret`. */
  certificates: BundleCertificate[];
  /**
   * The Secret (one of `certificates`) whose certificate a proxy with none of its own serves to
   * names no certificate covers and to clients that send no name (`meridian controller
   * --default-certificate`); absent: such clients get no certificate (strict SNI). A proxy from
   * before this field ignores it (the schema drops fields it does not know).
   */
  defaultSecret?: string;
}

export interface BundleCertificate {
  /** The Secret it came from, `namespace/name`: its identity across rotations. */
  secret: string;
  /** The Ingresses naming it (`namespace/name`), for logs; none for a default Secret no Ingress names. */
  ingresses: string[];
  /** The hosts those Ingresses list for it (informational: SNI selects by the certificate's own names). */
  hosts: string[];
  /** PEM: the certificate chain (tls.crt), and the private key (tls.key). */
  cert: string;
  key: string;
}

const SECRET_KEY = /^[^/\s]+\/[^/\s]+$/;

const BundleSchema = z.object({
  version: z.string(),
  defaultSecret: z.string().regex(SECRET_KEY).optional(),
  certificates: z.array(
    z.object({
      secret: z.string().regex(SECRET_KEY),
      ingresses: z.array(z.string()),
      hosts: z.array(z.string()),
      cert: z.string(),
      key: z.string(),
    }),
  ),
});

/** A bundle read from JSON text (`where` names the source in the error): E_CERTIFICATES_INVALID when it is not one. */
export function parseCertificateBundle(text: string, where: string): CertificateBundle {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MeridianError('E_CERTIFICATES_INVALID', `${where}: not JSON (${(err as Error).message.split('\n')[0]})`, 'the certificates file is written by `meridian controller` (beside --table-out, or --certificates-out): point tls.certificatesFile at it');
  }
  const parsed = BundleSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // The issue's path and message only: never the value, which may be a private key.
    throw new MeridianError('E_CERTIFICATES_INVALID', `${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, 'the certificates file is written by `meridian controller`: do not edit it; check both run the same version of Meridian');
  }
  return parsed.data;
}
