import { Counter, Gauge, type Registry } from 'prom-client';
import type { CertificateProblem, LoadedCertificate } from './certificates.js';

/** Why a TLS handshake failed: the `reason` label of meridian_proxy_tls_handshake_errors_total. */
export type HandshakeFailure = 'timeout' | 'protocol' | 'cipher' | 'plain-http' | 'certificate-refused' | 'no-certificate' | 'reset' | 'other';

/** Why the proxy closed an HTTP/2 connection itself: the `kind` label of meridian_proxy_http2_abuse_total. */
export type Http2Abuse = 'rapid-reset' | 'ping-flood' | 'settings-flood' | 'flood' | 'invalid-frames' | 'protocol-error';

/**
 * The TLS and HTTP/2 side of the proxy's metrics, on the proxy's registry. Nothing here is per
 * request: certificates change rarely, and handshakes and abuse are per connection.
 */
export class TlsMetrics {
  readonly certificateErrors: Counter<'reason'>;
  readonly certificateRotations: Counter;
  readonly certificateExpiry: Gauge<'name' | 'file'>;
  readonly handshakes: Counter<'protocol' | 'resumed'>;
  readonly handshakeErrors: Counter<'reason'>;
  readonly http2Abuse: Counter<'kind'>;
  /** The fleet's ticket key generation in use; 0 for this process's own key (never the key itself). */
  readonly ticketKeyGeneration: Gauge;
  /** Read at scrape time: HTTP/2 connections open now. */
  http2SessionSource: () => number = () => 0;
  private readonly handshakeChildren = new Map<string, Counter.Internal>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.certificateErrors = new Counter({
      name: 'meridian_proxy_tls_certificate_errors_total',
      help: 'Certificates not taken (at a reload: the last good one stays), by reason: unreadable, cert-invalid, key-invalid, key-mismatch, key-unsupported, expired, not-yet-valid',
      labelNames: ['reason'],
      registers,
    });
    this.certificateRotations = new Counter({ name: 'meridian_proxy_tls_certificate_rotations_total', help: 'Changes of the certificates in use (a file, or a federated Ingress\'s Secret) applied to new connections', registers });
    this.certificateExpiry = new Gauge({
      name: 'meridian_proxy_tls_certificate_expiry_timestamp_seconds',
      help: 'notAfter of each certificate in use (Unix seconds), by its first name and file: alert on this minus time()',
      labelNames: ['name', 'file'],
      registers,
      // Each --workers process serves the same files; the earliest expiry is the one to alert on.
      aggregator: 'min',
    });
    this.handshakes = new Counter({ name: 'meridian_proxy_tls_handshakes_total', help: 'Completed TLS handshakes, by protocol version and whether the session was resumed', labelNames: ['protocol', 'resumed'], registers });
    this.handshakeErrors = new Counter({
      name: 'meridian_proxy_tls_handshake_errors_total',
      help: 'TLS handshakes that failed, by reason: timeout (tls.handshakeTimeoutMs), protocol (no common version), cipher, plain-http, certificate-refused (by the client), no-certificate (none for the name asked, or no name: no certificate of the proxy\'s own, none from the federation covers it, and the federation names no default), reset, other',
      labelNames: ['reason'],
      registers,
    });
    this.http2Abuse = new Counter({
      name: 'meridian_proxy_http2_abuse_total',
      help: 'HTTP/2 connections closed by the proxy for abuse: rapid-reset (CVE-2023-44487), ping-flood, settings-flood, flood (frames queued faster than read), invalid-frames, protocol-error',
      labelNames: ['kind'],
      registers,
    });
    this.ticketKeyGeneration = new Gauge({
      name: 'meridian_proxy_tls_ticket_key_generation',
      help: 'Generation of the session-ticket key in use: the fleet\'s (every proxy the same within a second of a rotation), or 0 for this process\'s own (no store, or out of reach for two rotation periods)',
      registers,
      // Across --workers, the lowest: a worker that has not switched shows.
      aggregator: 'min',
    });
    const source = () => this.http2SessionSource();
    new Gauge({
      name: 'meridian_proxy_http2_connections',
      help: 'HTTP/2 connections open now',
      registers,
      collect(this: Gauge) {
        this.set(source());
      },
    });
  }

  /** A handshake done: counted by version and resumption, with the label lookup cached. */
  handshake(protocol: string, resumed: boolean): void {
    const key = resumed ? `${protocol}+` : protocol;
    let c = this.handshakeChildren.get(key);
    if (!c) this.handshakeChildren.set(key, (c = this.handshakes.labels(protocol, String(resumed))));
    c.inc();
  }

  certificateError(problem: CertificateProblem): void {
    this.certificateErrors.inc({ reason: problem });
  }

  /** The certificates in use now: one expiry series each, those no longer in use dropped. */
  certificatesInUse(certs: readonly LoadedCertificate[]): void {
    this.certificateExpiry.reset();
    for (const c of certs) this.certificateExpiry.set({ name: c.names[0] ?? '', file: c.certFile }, Math.floor(c.notAfter / 1000));
  }
}
