/**
 * What a route asks of the scheme its requests come over (an Ingress's ssl-redirect, HSTS and
 * allow-http annotations): checked here when a table is built, so the proxy's request path only
 * reads the result. Pure.
 */

/** What a plain-HTTP request for a route gets: served, redirected to HTTPS (308), or refused. */
export type PlainHttp = 'serve' | 'redirect' | 'refuse';

/** token = 1*tchar (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** quoted-string (RFC 9110 §5.6.4): qdtext or quoted-pair, no CTLs. */
const QUOTED = /^"(?:[\t !#-[\]-~]|\\[\t -~])*"$/;

/**
 * Why `value` is not a Strict-Transport-Security header value the proxy may send, or undefined
 * when it is one. RFC 6797 §6.1: directives separated by `;`, each `name[=token|quoted-string]`,
 * none twice; `max-age` required, delta-seconds (digits, quoted or not); `includeSubDomains`
 * without a value. Other directives (`preload`, which only the browsers' preload list reads) are
 * allowed, as the RFC tells user agents to ignore those they do not know. Whatever passes is
 * tokens and quoted strings only: no CR, LF or other control character can reach a header.
 */
export function hstsProblem(value: string): string | undefined {
  // Checked on the whole value first: trimming the directives would otherwise hide a CR or LF.
  if (/[^\t\x20-\x7e]/.test(value)) return 'only visible ASCII, spaces and tabs are allowed';
  const seen = new Set<string>();
  let maxAge = false;
  for (const part of value.split(';')) {
    const directive = part.trim();
    if (directive === '') continue;
    const eq = directive.indexOf('=');
    const name = (eq < 0 ? directive : directive.slice(0, eq)).trimEnd();
    const raw = eq < 0 ? undefined : directive.slice(eq + 1).trimStart();
    if (!TOKEN.test(name)) return `"${directive}" is not a directive (name[=value])`;
    const lower = name.toLowerCase();
    if (seen.has(lower)) return `${name} appears twice`;
    seen.add(lower);
    if (raw !== undefined && !TOKEN.test(raw) && !QUOTED.test(raw)) return `the value of ${name} is neither a token nor a quoted string`;
    if (lower === 'max-age') {
      const digits = raw?.startsWith('"') ? raw.slice(1, -1) : raw;
      if (digits === undefined || !/^[0-9]{1,10}$/.test(digits)) return 'max-age must be a whole number of seconds';
      maxAge = true;
    } else if (lower === 'includesubdomains' && raw !== undefined) return 'includeSubDomains takes no value';
  }
  return maxAge ? undefined : 'max-age is required (e.g. "max-age=31536000; includeSubDomains")';
}
