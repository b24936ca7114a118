/**
 * Property-based fuzzing of the request head (fast-check): valid requests — one to three,
 * pipelined, with Content-Length or chunked bodies — mutated by inserting or replacing CR, LF, NUL,
 * spaces, tabs and colons, duplicating or rewriting Content-Length/Transfer-Encoding, bogus chunk
 * sizes and extra pipelined requests, then sent raw to a proxy in front of a node:http origin that
 * counts the requests it reads (llhttp, strict: a second reader of the proxy's output).
 *
 * Properties, per case: the proxy process keeps answering (a plain request through it gets the
 * origin's 200); the connection gets an answer or a close within 2 s (unless the bytes are an
 * unfinished request, which may wait) and closes within 2 s of the client's FIN; the origin reads
 * no more requests than the client's bytes hold by the most generous reading the standard allows,
 * and never bytes it cannot parse.
 *
 * MERIDIAN_FUZZ_RUNS (default 200) sets the number of cases; MERIDIAN_FUZZ_SEED the seed (fixed by
 * default, so a run repeats; `random` for a new one; printed with the tally and with any failure).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/common/log.js';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith, type RunningProxy } from '../../../src/proxy/main.js';
import { parseMessages, RawConnection, requestHeadsByStandard } from '../../helpers/raw-http.js';
import { stopProxy } from './harness.js';

const RUNS = Number(process.env.MERIDIAN_FUZZ_RUNS ?? 200);
/** A fixed seed by default, so that a run is repeatable; `random` for a new one each run. */
const SEED = process.env.MERIDIAN_FUZZ_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.MERIDIAN_FUZZ_SEED ?? 20261201);
const PROBE_PATH = '/__probe';
const HEALTH_PATH = '/__fuzz_health';

let origin: Server;
let proxy: RunningProxy;
let port: number;
/** Requests the origin read, other than health checks; and bytes it could not parse. */
let originRequests = 0;
let originParseErrors: string[] = [];

beforeAll(async () => {
  origin = createServer((req, res) => {
    if (req.url !== PROBE_PATH && req.url !== HEALTH_PATH) originRequests++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  origin.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // A reset, or an end mid-body, is the proxy giving up a request (its client left, or sent a
    // body that did not parse): only llhttp's other codes are bytes it could not parse.
    if (err.code?.startsWith('HPE_') && err.code !== 'HPE_INVALID_EOF_STATE')
      originParseErrors.push(`${err.code ?? err.message}: ${JSON.stringify(((err as { rawPacket?: Buffer }).rawPacket ?? Buffer.alloc(0)).toString('latin1').slice(0, 200))}`);
    socket.destroy();
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
  const { address, port: originPort } = origin.address() as AddressInfo;
  const config = parseProxyConfig({
    listen: [{ host: '127.0.0.1', port: 0 }],
    admin: { host: '127.0.0.1', port: 0 },
    region: 'us-central1',
    limits: { headersTimeoutMs: 1000, drainTimeoutMs: 500 },
    healthCheck: { intervalMs: 60_000 },
    outlier: { consecutiveErrors: 100_000 },
    table: {
      version: 'fuzz',
      routes: [{ host: 'app.test', path: '/', backend: 'app' }],
      backends: { app: { healthCheckPath: PROBE_PATH, shards: [{ cluster: 'c1', region: 'us-central1', endpoints: [{ address, port: originPort }] }] } },
    },
  });
  proxy = await startProxyWith(config, config.table, { configPath: 'inline.yaml', logger: createLogger('fuzz', 'silent'), watchTable: false });
  port = proxy.addresses[0]!.port;
});

afterAll(async () => {
  await stopProxy(proxy);
  origin?.closeAllConnections();
  await new Promise<void>((r) => (origin ? origin.close(() => r()) : r()));
});

// ---- generators: valid requests, then mutations of their bytes

interface Req {
  method: string;
  path: string;
  fields: Array<[string, string]>;
  body: string;
  framing: 'none' | 'length' | 'chunked';
  pieces: number;
}

const reqArb: fc.Arbitrary<Req> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
  path: fc.stringMatching(/^\/[a-z0-9._~-]{0,10}$/),
  fields: fc.array(fc.tuple(fc.stringMatching(/^X-[A-Za-z0-9-]{1,8}$/), fc.stringMatching(/^[!-~]([ -~]{0,14}[!-~])?$/)), { maxLength: 4 }),
  body: fc.stringMatching(/^[ -~]{0,24}$/),
  framing: fc.constantFrom('none', 'length', 'chunked'),
  pieces: fc.integer({ min: 1, max: 3 }),
});

function serialize(r: Req): string {
  const lines = [`${r.method} ${r.path} HTTP/1.1`, 'Host: app.test', ...r.fields.map(([k, v]) => `${k}: ${v}`)];
  let body = '';
  if (r.framing === 'length') {
    lines.push(`Content-Length: ${r.body.length}`);
    body = r.body;
  } else if (r.framing === 'chunked') {
    lines.push('Transfer-Encoding: chunked');
    const size = Math.ceil(r.body.length / r.pieces) || 1;
    for (let i = 0; i < r.body.length; i += size) {
      const piece = r.body.slice(i, i + size);
      body += `${piece.length.toString(16)}\r\n${piece}\r\n`;
    }
    body += '0\r\n\r\n';
  }
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

type Mutation =
  | { kind: 'insert' | 'replace'; at: number; text: string }
  | { kind: 'delete'; at: number }
  | { kind: 'duplicate-framing' }
  | { kind: 'framing-value'; name: string; value: string }
  | { kind: 'chunk-size'; value: string }
  | { kind: 'pipeline'; extra: string };

const ODD = ['\r', '\n', '\0', ' ', '\t', ':', '\r\n', '\r\n\r\n', '\n\n', ',', '\x0b', '\x7f', '0', ';'];
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('insert' as const, 'replace' as const), at: fc.nat(), text: fc.constantFrom(...ODD) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate-framing' as const) }),
  fc.record({
    kind: fc.constant('framing-value' as const),
    name: fc.constantFrom('Content-Length', 'Transfer-Encoding', 'content-length', 'Transfer-Encoding ', ' Transfer-Encoding'),
    value: fc.constantFrom('chunked', 'xchunked', ' chunked', 'chunked, identity', 'identity', 'gzip, chunked', '0', '3', '-1', '+3', '3, 4', '3, 3', '0x3', '99999999999999999999', ''),
  }),
  fc.record({ kind: fc.constant('chunk-size' as const), value: fc.constantFrom('zz', '-1', 'ffffffffffffffffffff', '10000000000000000', '0x5', '5 ', '5;a=b', '5;a\n', '', '00000000000000000005') }),
  fc.record({ kind: fc.constant('pipeline' as const), extra: fc.constantFrom('GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n', 'G', 'GET /x HTTP/1.1\r\n', '0\r\n\r\n') }),
);

function mutate(bytes: string, m: Mutation): string {
  switch (m.kind) {
    case 'insert': {
      const at = m.at % (bytes.length + 1);
      return bytes.slice(0, at) + m.text + bytes.slice(at);
    }
    case 'replace': {
      const at = m.at % Math.max(1, bytes.length);
      return bytes.slice(0, at) + m.text + bytes.slice(at + 1);
    }
    case 'delete': {
      const at = m.at % Math.max(1, bytes.length);
      return bytes.slice(0, at) + bytes.slice(at + 1);
    }
    case 'duplicate-framing':
      return bytes.replace(/\r\n((?:content-length|transfer-encoding):[^\r\n]*)\r\n/i, '\r\n$1\r\n$1\r\n');
    case 'framing-value': {
      // Into the first head: replace a framing field of that name, or add one.
      const end = bytes.indexOf('\r\n\r\n');
      const head = end < 0 ? bytes : bytes.slice(0, end);
      const re = new RegExp(`\\r\\n${m.name.trim()}:[^\\r\\n]*`, 'i');
      const line = `\r\n${m.name}: ${m.value}`;
      const changed = re.test(head) ? head.replace(re, line) : head + line;
      return end < 0 ? changed : changed + bytes.slice(end);
    }
    case 'chunk-size':
      return bytes.replace(/\r\n\r\n([0-9a-f]+)\r\n/, `\r\n\r\n${m.value}\r\n`);
    case 'pipeline':
      return bytes + m.extra;
  }
}

const caseArb = fc.record({ requests: fc.array(reqArb, { minLength: 1, maxLength: 3 }), mutations: fc.array(mutationArb, { maxLength: 4 }) });

/** A plain request through the proxy: the process is alive and serving. */
async function health(): Promise<string | undefined> {
  const c = await RawConnection.open(port);
  try {
    await c.write(`GET ${HEALTH_PATH} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
    const r = await c.next(2000);
    return r.status === 200 && r.body.toString() === 'ok' ? undefined : `a plain request got ${r.status} ${JSON.stringify(r.body.toString('latin1'))}`;
  } catch (err) {
    return `a plain request got no answer: ${(err as Error).message}`;
  } finally {
    c.destroy();
  }
}

/** What the cases did, printed at the end: a fuzzer that only ever gets 400 tests little. */
const tally = { cases: 0, forwarded: 0, served2xx: 0, refused: 0, unfinished: 0, originRequests: 0 };

/** Sends one case's bytes; returns what broke (empty when nothing did). */
async function check(bytes: Buffer): Promise<string[]> {
  const broke: string[] = [];
  const before = originRequests;
  const lenient = parseMessages('request', bytes, { lenient: true, semantic: false });
  const unfinished = !lenient.error && lenient.rest.length > 0;
  const c = await RawConnection.open(port);
  try {
    await c.write(bytes);
    // Until every request is answered, or the close; 2 s at most.
    const answeredAll = () => c.parsed().messages.filter((m) => m.status! >= 200).length >= Math.max(1, lenient.messages.length);
    await waitUntil(() => c.closed || answeredAll(), 2000);
    if (!c.closed && c.bytesReceived === 0 && !unfinished) broke.push('no answer and no close within 2 s');
    const statuses = c.parsed().messages.map((m) => m.status!);
    tally.cases++;
    if (statuses.some((s) => s >= 200 && s < 300)) tally.served2xx++;
    if (statuses.some((s) => s >= 400)) tally.refused++;
    if (unfinished) tally.unfinished++;
    c.end();
    if ((await c.waitClosed(2000)) === undefined) broke.push('still open 2 s after the client\'s FIN');
  } finally {
    c.destroy();
  }
  const alive = await health();
  if (alive) broke.push(`the proxy stopped serving: ${alive}`);
  const bound = requestHeadsByStandard(bytes);
  const seen = originRequests - before;
  tally.originRequests += seen;
  if (seen > 0) tally.forwarded++;
  if (seen > bound) broke.push(`the origin read ${seen} requests; the client's bytes hold at most ${bound} by the standard`);
  if (originParseErrors.length) broke.push(`the origin could not parse what the proxy sent: ${originParseErrors.join('; ')}`);
  originParseErrors = [];
  return broke;
}

function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const deadline = performance.now() + timeoutMs;
    const tick = () => {
      if (cond()) return resolve(true);
      if (performance.now() >= deadline) return resolve(false);
      setTimeout(tick, 5);
    };
    tick();
  });
}

describe('fuzzing the request head', () => {
  it(`never crashes, always answers or closes, never forwards more requests than the client sent (${RUNS} cases)`, { timeout: 120_000 }, async () => {
    const total = { cases: 0, bytes: 0 };
    try {
      await fc.assert(
        fc.asyncProperty(caseArb, async ({ requests, mutations }) => {
          const text = mutations.reduce(mutate, requests.map(serialize).join(''));
          const bytes = Buffer.from(text, 'latin1');
          total.cases++;
          total.bytes += bytes.length;
          const broke = await check(bytes);
          expect(broke, `sent ${JSON.stringify(text)}`).toEqual([]);
        }),
        { numRuns: RUNS, seed: SEED },
      );
    } finally {
      console.log(`fuzz (seed ${SEED}): ${tally.cases} cases, ${total.bytes} bytes; ${tally.forwarded} reached the origin (${tally.originRequests} requests), ${tally.served2xx} got a 2xx, ${tally.refused} a 4xx/5xx, ${tally.unfinished} were unfinished requests`);
    }
    expect(total.cases).toBeGreaterThanOrEqual(RUNS);
  });
});
