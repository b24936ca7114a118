import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { KeyType, LoadedCertificate } from './certificates.js';
import { buildSniIndex, selectCertificate, type SniIndex } from './sni.js';

/**
 * TLS 1.2 suites of Mozilla's "intermediate" configuration (v5.7), without its DHE ones (slower
 * than ECDHE and needing DH parameters; no client that has ECDHE lacks it). All AEAD, all with
 * forward secrecy — also what RFC 9113 §9.2.2 asks of TLS 1.2 under HTTP/2.
 */
const TLS12_CIPHERS: Record<KeyType, readonly string[]> = {
  ecdsa: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
  rsa: ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305'],
};
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const SIGALGS: Record<KeyType, readonly string[]> = {
  ecdsa: ['ecdsa_secp256r1_sha256', 'ecdsa_secp384r1_sha384', 'ecdsa_secp521r1_sha512'],
  rsa: ['rsa_pss_rsae_sha256', 'rsa_pss_rsae_sha384', 'rsa_pss_rsae_sha512', 'rsa_pkcs1_sha256', 'rsa_pkcs1_sha384', 'rsa_pkcs1_sha512'],
};
/** Mozilla intermediate's curves. */
const CURVES = 'X25519:prime256v1:secp384r1';
/** Fixed, so a session from one certificate's context resumes under the server's (and across restarts' ticket keys, when shared). */
const SESSION_ID_CONTEXT = 'meridian-proxy';

export interface SessionSettings {
  /** Seconds a session (ticket) may be resumed for. */
  timeoutSeconds: number;
  /** 48 bytes: the key session tickets are sealed with. */
  ticketKeys: Buffer;
}

/**
 * The protocol settings of every context: TLS 1.2 and 1.3 only, the suites and curves above, and
 * the server's order of preference over them.
 *
 * Why the server's order, with the default certificate's key type *last*: Node installs the
 * certificate SNI chose into the connection beside the default context's one, not in its place,
 * when their key types differ (ECDSA and RSA are separate slots in OpenSSL). A TLS 1.3 client
 * offering both then got whichever type came first — the default certificate, for a name it does
 * not cover. The other type's slot is filled only when SNI chose a certificate of that type, so
 * preferring it always serves the chosen one (tested with each type as the default).
 */
export function protocolOptions(defaultType: KeyType): SecureContextOptions {
  const other: KeyType = defaultType === 'ecdsa' ? 'rsa' : 'ecdsa';
  return {
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: [...TLS13_SUITES, ...TLS12_CIPHERS[other], ...TLS12_CIPHERS[defaultType]].join(':'),
    sigalgs: [...SIGALGS[other], ...SIGALGS[defaultType]].join(':'),
    honorCipherOrder: true,
    ecdhCurve: CURVES,
  };
}

/**
 * The secure contexts for one set of certificates, built once (a handshake only looks one up):
 * the server's own context is the default certificate's; SNI picks among the rest. Immutable: a
 * rotation builds a new one, which new connections use; open ones keep theirs.
 *
 * The default is `fallback`, an index into `certs`: the proxy's first certificate of its own, else
 * the federation's default Secret's. There may be none (-1: only the federation's certificates,
 * perhaps none yet, and no default named): the server's own context then has no certificate, so
 * a handshake for a name no certificate covers fails, and one for a covered name gets its context.
 * The default's key type orders every context's preferences (protocolOptions), so a new default
 * means new contexts, the server's own included (sameDefault).
 */
export class TlsContexts {
  readonly index: SniIndex;
  private readonly contexts: SecureContext[];
  private readonly protocol: SecureContextOptions;

  constructor(
    readonly certs: readonly LoadedCertificate[],
    private readonly session: SessionSettings,
    fallback: number,
    built?: TlsContexts,
  ) {
    this.index = built?.index ?? buildSniIndex(certs, fallback);
    // No default certificate: no slot of the server's own to keep last, any order serves.
    this.protocol = built?.protocol ?? protocolOptions(this.defaultCertificate?.keyType ?? 'ecdsa');
    // No ticket keys here: Node seals and opens every ticket with the server's own context's
    // keys, whichever context SNI chose (it takes only the certificate from that one; tested).
    this.contexts = built?.contexts ?? certs.map((c) => createSecureContext({ ...this.protocol, key: c.key, cert: c.cert, sessionIdContext: SESSION_ID_CONTEXT }));
  }

  /** The same certificates (their contexts reused, not rebuilt) with other session settings. */
  withSession(session: SessionSettings): TlsContexts {
    return new TlsContexts(this.certs, session, this.index.fallback, this);
  }

  /** What clients asking for an unknown name (or none) get; undefined when they get no certificate. */
  get defaultCertificate(): LoadedCertificate | undefined {
    return this.certs[this.index.fallback];
  }

  /** Options for the server's own context: the default certificate (if any), the protocol settings, the session settings. */
  serverOptions(): SecureContextOptions {
    const c = this.defaultCertificate;
    return {
      ...this.protocol,
      ...(c ? { key: c.key, cert: c.cert } : {}),
      sessionIdContext: SESSION_ID_CONTEXT,
      ticketKeys: this.session.ticketKeys,
      sessionTimeout: this.session.timeoutSeconds,
    };
  }

  /** The context for a client's SNI name; undefined for the server's own context (the default certificate, or none). */
  contextFor(servername: string): SecureContext | undefined {
    const { cert, match } = selectCertificate(this.index, servername);
    return match === 'default' || match === 'none' ? undefined : this.contexts[cert];
  }

  /** Whether a client asking for `servername` (or none) gets a certificate. */
  serves(servername: string | undefined | false | null): boolean {
    return selectCertificate(this.index, servername).match !== 'none';
  }

  /** Whether `other` serves the same default certificate (or none) with the same settings (so the server's own context can stay). */
  sameDefault(other: TlsContexts): boolean {
    return other.defaultCertificate?.contentHash === this.defaultCertificate?.contentHash && other.session === this.session;
  }
}
