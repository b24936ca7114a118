/**
 * The adversarial suites' common parts: a proxy started in-process in front of a raw origin, and
 * the judge of one probe (bench/lib/security-probes.js) by invariants that hold whatever status
 * code a proxy chooses — what reached the origin against what the client's bytes are by the
 * standard, and what the client got back.
 */
import { createLogger } from '../../../src/common/log.js';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith, type RunningProxy } from '../../../src/proxy/main.js';
import { hostilePath, type Probe } from '../../../bench/lib/security-probes.js';
import { exchange, header, headerValues, parseMessages, type Exchange, type HttpMessage } from '../../helpers/raw-http.js';
import { okReply, type RawOrigin, type Reply, type SeenRequest } from '../../helpers/raw-origin.js';

export const HOST = 'app.test';

/**
 * A proxy with one route (Host app.test → the origin), in-process like the proxy tests. Probes
 * every minute only (the origin answers them apart from the rest), and never ejects the origin:
 * hostile answers must not change where the next request goes.
 */
export async function proxyInFront(origin: RawOrigin, limits: Record<string, number> = {}, extra: Record<string, unknown> = {}): Promise<{ proxy: RunningProxy; port: number }> {
  const config = parseProxyConfig({
    listen: [{ host: '127.0.0.1', port: 0 }],
    admin: { host: '127.0.0.1', port: 0 },
    region: 'us-central1',
    // Drain quickly: some tests leave requests hanging on purpose.
    limits: { drainTimeoutMs: 500, ...limits },
    healthCheck: { intervalMs: 60_000 },
    outlier: { consecutiveErrors: 100_000 },
    table: {
      version: 'security',
      routes: [{ host: HOST, path: '/', backend: 'app' }],
      backends: { app: { healthCheckPath: origin.probePath, shards: [{ cluster: 'c1', region: 'us-central1', endpoints: [origin.endpoint] }] } },
    },
    ...extra,
  });
  const proxy = await startProxyWith(config, config.table, { configPath: 'inline.yaml', logger: createLogger('security-test', 'silent'), watchTable: false });
  return { proxy, port: proxy.addresses[0]!.port };
}

/**
 * Drains a proxy, waiting `timeoutMs` at most: true when it drained. (Its drain deadline is
 * 500 ms here; a drain that never ends is a defect of its own, tested as such, and must not
 * hang a suite's teardown.)
 */
export async function stopProxy(proxy: RunningProxy | undefined, timeoutMs = 5000): Promise<boolean> {
  if (!proxy) return true;
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([proxy.drain().then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
  clearTimeout(timer);
  return drained;
}

/** Headers a proxy sets, frames or removes itself: left out when comparing what the client sent with what the origin got. */
const PROXY_OWNED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'content-length', 'transfer-encoding']);

/** A field value as two readers that may each replace CTLs with SP would agree on it. */
// eslint-disable-next-line no-control-regex -- control characters are the point
const norm = (v: string) => v.replace(/[\x00-\x1f\x7f]/g, ' ').replace(/[ \t]+/g, ' ').trim();

function fieldBag(m: HttpMessage): string[] {
  return m.headers
    .filter(([k]) => !PROXY_OWNED.has(k.toLowerCase()))
    .map(([k, v]) => `${k.toLowerCase()}: ${norm(v)}`)
    .sort();
}

const pathOf = (target: string) => target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '') || '/';

/** Why `seen` is not `sent` as the origin should get it (undefined when it is). */
function forwardedAsSent(seen: HttpMessage, sent: HttpMessage): string | undefined {
  if (seen.method !== sent.method) return `method ${seen.method} for ${sent.method}`;
  if (pathOf(seen.target!) !== pathOf(sent.target!)) return `target ${seen.target} for ${sent.target}`;
  const a = fieldBag(seen).join('\n');
  const b = fieldBag(sent).join('\n');
  const why: string[] = [];
  if (a !== b) {
    const extra = fieldBag(seen).filter((f) => !fieldBag(sent).includes(f));
    const missing = fieldBag(sent).filter((f) => !fieldBag(seen).includes(f));
    const list = (l: string[]) => `${JSON.stringify(l.slice(0, 3))}${l.length > 3 ? ` (+${l.length - 3} more)` : ''}`;
    why.push(`fields differ: the origin got ${list(extra)} the client did not send, and lacks ${list(missing)}`);
  }
  if (!seen.body.equals(sent.body)) why.push(`the body ${JSON.stringify(seen.body.toString('latin1').slice(0, 60))} for ${JSON.stringify(sent.body.toString('latin1').slice(0, 60))}`);
  return why.length ? why.join('; ') : undefined;
}

/** What happened to one probe, and which invariants it broke. */
export interface ProbeOutcome {
  probe: Probe;
  client: Exchange;
  seen: SeenRequest[];
  violations: string[];
  /** One line: the client's statuses, open/closed, what reached the origin. */
  summary: string;
}

export function describeOutcome(o: { client: Exchange; seen: SeenRequest[] }): string {
  const statuses = o.client.responses.map((r) => r.status).join(',') || '—';
  const cut = o.client.parsed.partial ? ' (cut mid-response)' : '';
  const conn = o.client.reset ? 'reset' : o.client.closed ? 'closed' : 'open';
  const origin = o.seen.length ? o.seen.map((s) => `${s.message.method} ${s.message.target}`).join(' + ') : 'nothing';
  return `${statuses}${cut}, ${conn}; origin: ${origin}`;
}

/** The origin's scripted answer for a hostile-origin probe. */
export function hostileReply(p: Probe): Reply {
  const steps = p.origin ?? [];
  const then = p.then ?? 'keep';
  if (steps.length === 0) return then === 'hang' ? { hang: true } : then === 'reset' ? { reset: true } : { close: true };
  return { raw: steps, then };
}

/**
 * Sends a probe on a fresh connection and judges it. The origin's script must already answer
 * `hostilePath(name)` for hostile-origin probes (see hostileScript).
 */
export async function runProbe(port: number, origin: RawOrigin, p: Probe, opts: { idleMs?: number; timeoutMs?: number } = {}): Promise<ProbeOutcome> {
  const mark = origin.mark();
  const hostile = p.theme === 'hostile-origin';
  const client = await exchange(port, p.request, {
    idleMs: opts.idleMs ?? (hostile ? 3000 : 400),
    timeoutMs: opts.timeoutMs ?? 6000,
    // One request, one final answer: no need to wait for the idle time once it is complete.
    ...(hostile ? { stopWhen: (parsed) => parsed.messages.some((m) => m.status! >= 200) } : {}),
  });
  await origin.quiet(100);
  const seen = origin.requests(mark);
  const violations: string[] = [];
  const v = (s: string) => violations.push(s);

  for (const e of origin.errors(mark)) v(`the origin could not read what the proxy sent (${e.error}): ${JSON.stringify(e.bytes.toString('latin1').slice(0, 200))}`);
  const allowed = p.allowed.map(pathOf);
  if (seen.length > p.allowed.length) v(`the origin saw ${seen.length} requests (${seen.map((s) => s.message.target).join(', ')}); by the standard the client sent at most ${p.allowed.length}`);
  for (const s of seen) if (!allowed.includes(pathOf(s.message.target!))) v(`the origin saw a request for ${s.message.target}, which the client's bytes are not by any reading the standard allows`);
  for (const bytes of origin.received(mark)) for (const never of p.neverForward ?? []) if (bytes.includes(never, 0, 'latin1')) v(`${JSON.stringify(never)} reached the origin: ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`);

  // Each forwarded request is one the client sent, as it sent it, by some reading the standard
  // allows. (Pipelined requests may reach the origin in any order: they go out on several
  // connections at once.)
  const sent = Buffer.from(p.request, 'latin1');
  const readings = [parseMessages('request', sent, { semantic: false }).messages, parseMessages('request', sent, { semantic: false, lenient: true }).messages];
  if (!hostile)
    seen.forEach((s) => {
      const candidates = readings.flat();
      const why = candidates.map((m) => forwardedAsSent(s.message, m));
      if (!why.includes(undefined)) {
        const same = candidates.findIndex((m) => pathOf(m.target!) === pathOf(s.message.target!));
        v(`the origin got ${s.message.method} ${s.message.target}, which is not a request the client sent as it sent it: ${why[same >= 0 ? same : 0] ?? 'the client sent no such request'}`);
      }
      for (const name of p.absentHeaders ?? []) if (headerValues(s.message, name).length) v(`the origin got a ${name} header the client's bytes hold only inside another field (a bare CR read as a line end)`);
      if (p.keepCoding && !(header(s.message, 'transfer-encoding') ?? '').toLowerCase().includes(p.keepCoding))
        v(`the client's body is ${p.keepCoding}-coded, the origin got Transfer-Encoding ${JSON.stringify(header(s.message, 'transfer-encoding') ?? null)} and the coded bytes as the content`);
      if (p.originForm && !s.message.target!.startsWith('/')) v(`the origin got the request target ${s.message.target} (absolute-form): a request to an origin carries origin-form`);
    });

  if (hostile) judgeHostile(p, client, v);
  else {
    // One answer per request, and one for bytes that are not (or not yet) one: never more.
    const reading = readings[1]!.length > readings[0]!.length ? readings[1]! : readings[0]!;
    const consumed = reading.reduce((n, m) => n + m.raw.length, 0);
    const most = reading.length + (consumed < sent.length ? 1 : 0);
    const answers = client.responses.filter((r) => r.status! >= 200).length;
    if (answers > most) v(`${answers} answers (${client.responses.map((r) => r.status).join(',')}) to bytes that hold at most ${most} requests`);
    judgeAnswer(p, client, seen, reading, v);
    // After an answer that says Connection: close, the server processes no further request on
    // the connection (RFC 9112 §9.6): none of the requests behind it may reach the origin.
    const finals = client.responses.filter((r) => r.status! >= 200);
    const closing = finals.findIndex((r) => /\bclose\b/i.test(header(r, 'connection') ?? ''));
    if (closing >= 0)
      for (const later of reading.slice(closing + 1))
        if (seen.some((s) => pathOf(s.message.target!) === pathOf(later.target!))) v(`answer #${closing + 1} (${finals[closing]!.status}) said Connection: close, yet ${later.method} ${later.target}, behind it, reached the origin`);
  }
  return { probe: p, client, seen, violations, summary: describeOutcome({ client, seen }) };
}

function judgeAnswer(p: Probe, client: Exchange, seen: SeenRequest[], reading: HttpMessage[], v: (s: string) => void): void {
  const answers = client.responses.filter((r) => r.status! >= 200);
  const statuses = answers.map((r) => r.status!);
  if (client.parsed.error) v(`the client got bytes that are not a valid response (${client.parsed.error}): ${JSON.stringify(client.bytes.toString('latin1').slice(0, 200))}`);
  const a = p.answer;
  if (a === 'serve') {
    if (statuses.length < p.allowed.length || statuses.slice(0, p.allowed.length).some((s) => s < 200 || s > 299)) v(`the client's ${p.allowed.length} valid requests got ${statuses.join(',') || 'no answer'}`);
  } else if (a === 'reject') {
    const served = p.served ?? 0;
    if (statuses.slice(served).some((s) => s < 400)) v(`the invalid request got ${statuses.slice(served).join(',')}: not refused`);
    if (statuses.length <= served && !client.closed) v('the invalid request got no answer, and the connection stayed open');
  } else if (a === 'reject-or-close') {
    const refused = statuses.length > 0 && statuses[0]! >= 400;
    const closedAfterAllowed = client.closed && statuses.length <= p.allowed.length;
    if (!refused && !closedAfterAllowed) v(`got ${statuses.join(',') || 'no answer'} and the connection ${client.closed ? 'closed' : 'stayed open'}: neither refused nor closed`);
    if (statuses.slice(p.allowed.length).some((s) => s < 400)) v(`answered ${statuses.length} requests, ${p.allowed.length} at most are requests`);
  } else if (Array.isArray(a)) {
    if (!a.includes(statuses[0] ?? 0)) v(`got ${statuses[0] ?? 'no answer'}, want ${a.join(' or ')}`);
  }
  // Answers in order: the i-th answer is the i-th request's. A refusal the proxy made itself in
  // the place of a request the origin did act on tells the client the wrong thing.
  const seenTargets = seen.map((s) => pathOf(s.message.target!));
  answers.forEach((r, i) => {
    const own = reading[i] ? pathOf(reading[i]!.target!) : undefined;
    const from = header(r, 'x-origin-target');
    if (from !== undefined && own !== undefined && pathOf(from) !== own) v(`answer #${i + 1} is the origin's answer to ${from}, but request #${i + 1} was ${own}`);
    if (from === undefined && r.status! >= 400 && r.status! < 500 && own !== undefined && seenTargets.includes(own) && seenTargets.length > i)
      v(`answer #${i + 1} is the proxy's own ${r.status}, written in the place of the answer to ${own}, which the origin received and answered`);
  });
}

/**
 * A hostile answer may reach the client only as a well-formed response (the content the origin's
 * answer has by the standard, when it has one), as the proxy's own 502/504, or — once bytes of it
 * were sent — as a cut connection. Never as a response that looks complete when the origin's was
 * not, and never as malformed bytes.
 */
function judgeHostile(p: Probe, client: Exchange, v: (s: string) => void): void {
  const final = client.responses.find((r) => r.status! >= 200);
  if (client.parsed.error) v(`the client got bytes that are not a valid response (${client.parsed.error}): ${JSON.stringify(client.bytes.toString('latin1').slice(0, 200))}`);
  if (p.mustPass) {
    if (!final || final.status !== 200 || final.body.toString('latin1') !== p.body) v(`a valid answer (${JSON.stringify((p.origin ?? []).join('').slice(0, 80))}) reached the client as ${final ? `${final.status} ${JSON.stringify(final.body.toString('latin1').slice(0, 60))}` : 'nothing'}`);
    return;
  }
  if (final) {
    const own = header(final, 'x-meridian-error');
    if (final.status === 502 || final.status === 504) {
      if (!own) v(`a ${final.status} without x-meridian-error: is it the origin's or the proxy's?`);
    } else if (final.status === 101) v('the client got a 101 for a request that asked for no upgrade');
    else if (p.cut) v(`the origin's answer was incomplete, the client got a complete ${final.status} (${final.body.length} bytes)`);
    else if (p.body !== undefined && final.body.toString('latin1') !== p.body) v(`the client got the content ${JSON.stringify(final.body.toString('latin1').slice(0, 80))}; the origin's answer has ${JSON.stringify(p.body)} by the standard`);
    else if (p.body === undefined && !own) v(`an invalid answer reached the client as a ${final.status}`);
  } else if (client.parsed.partial) {
    if (!client.closed) v('a response was begun and neither finished nor cut');
  } else if (!client.closed) v(`no answer and no close in ${Math.round(client.elapsedMs)} ms`);
  else if (client.bytes.length === 0) v('the connection was closed without a byte of answer: nothing had been sent, so the proxy\'s own 502 was still possible');
}

/** An origin script answering the given hostile probes at /h/<name>, and 200 to anything else. */
export function hostileScript(probes: Probe[]): (req: HttpMessage) => Reply {
  const byTarget = new Map(probes.map((p) => [hostilePath(p.name), hostileReply(p)]));
  return (req) => byTarget.get(req.target!) ?? okReply(req);
}

/** After a probe: a plain request on a new connection is served by the origin, with its own answer. */
export async function stillServes(port: number, tag: string): Promise<string | undefined> {
  const target = `/after/${encodeURIComponent(tag)}`;
  const r = await exchange(port, `GET ${target} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, { idleMs: 3000, timeoutMs: 5000, stopWhen: (p) => p.messages.length > 0 });
  const m = r.responses[0];
  if (!m) return `a plain request after it got no answer (${JSON.stringify(r.bytes.toString('latin1').slice(0, 120))})`;
  if (m.status !== 200 || header(m, 'x-origin-target') !== target || m.body.toString() !== `ok GET ${target}`) return `a plain request after it got ${m.status} ${JSON.stringify(m.body.toString('latin1').slice(0, 80))}: not its own answer`;
  return undefined;
}

/** Prints a theme's outcomes as a table (the record of which status each probe got). */
export function printOutcomes(theme: string, outcomes: ProbeOutcome[]): void {
  if (!outcomes.length) return;
  const w = Math.max(...outcomes.map((o) => o.probe.name.length));
  const lines = outcomes.map((o) => `${o.probe.name.padEnd(w)}  ${o.violations.length ? 'VIOLATED' : 'ok      '}  ${o.summary}`);
  console.log(`${theme}: what the proxy did with each probe\n${lines.join('\n')}`);
}
