/**
 * Which certificate a TLS client gets, from the name it asks for (SNI). Pure: built once per set
 * of certificates, consulted per handshake with two map lookups at most.
 *
 * Order, as nginx, Envoy and the cloud load balancers do it: a certificate naming the host
 * exactly; else one whose wildcard covers it (`*.example.com` covers `a.example.com`, one label
 * deep — not `example.com`, not `a.b.example.com`, RFC 6125 §6.4.3); else the default (also what
 * a client that sends no name gets): the proxy's first certificate of its own, else the one the
 * federation names (`meridian controller --default-certificate`). When several certificates name
 * the same host the first listed wins. Without a default (no certificate of the proxy's own, and
 * none named by the federation) a name no certificate covers gets none: the handshake fails
 * (HAProxy's strict-sni), rather than a stranger's certificate.
 */
export interface SniIndex {
  /** Host name → certificate index. */
  readonly exact: ReadonlyMap<string, number>;
  /** Parent domain of a wildcard (`example.com` for `*.example.com`) → certificate index. */
  readonly wildcard: ReadonlyMap<string, number>;
  /** The certificate for unknown names and for clients that send none; -1 when there is none (strict). */
  readonly fallback: number;
  /** Names listed by more than one certificate: only `used` serves them. */
  readonly shadowed: readonly { name: string; used: number; ignored: number }[];
}

export type SniMatch = 'exact' | 'wildcard' | 'default' | 'none';

/** `fallback`: the index of the certificate that also serves names none covers; -1 (or no such certificate): strict, they get none. */
export function buildSniIndex(certs: readonly { names: readonly string[] }[], fallback: number): SniIndex {
  const exact = new Map<string, number>();
  const wildcard = new Map<string, number>();
  const shadowed: { name: string; used: number; ignored: number }[] = [];
  certs.forEach((c, i) => {
    for (const name of c.names) {
      let map: Map<string, number>;
      let key: string;
      if (name.startsWith('*.')) {
        key = name.slice(2);
        // Only a whole leftmost label is a wildcard; `*.` over a single label (`*.com`) covers nothing a CA would issue.
        if (key.includes('*') || !key.includes('.')) continue;
        map = wildcard;
      } else {
        if (name.includes('*')) continue; // partial wildcards (`w*.example.com`): browsers refuse them, so do we
        key = name;
        map = exact;
      }
      const prior = map.get(key);
      if (prior === undefined) map.set(key, i);
      else if (prior !== i) shadowed.push({ name, used: prior, ignored: i });
    }
  });
  return { exact, wildcard, fallback: Number.isInteger(fallback) && fallback >= 0 && fallback < certs.length ? fallback : -1, shadowed };
}

/** The certificate for `servername` (as the client sent it; undefined when it sent none), and why; cert -1 (match 'none') for no certificate. */
export function selectCertificate(index: SniIndex, servername: string | undefined | false | null): { cert: number; match: SniMatch } {
  const fallback = { cert: index.fallback, match: index.fallback < 0 ? 'none' : 'default' } as const;
  if (!servername) return fallback;
  let name = servername.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  const e = index.exact.get(name);
  if (e !== undefined) return { cert: e, match: 'exact' };
  const dot = name.indexOf('.');
  if (dot > 0) {
    const w = index.wildcard.get(name.slice(dot + 1));
    if (w !== undefined) return { cert: w, match: 'wildcard' };
  }
  return fallback;
}
