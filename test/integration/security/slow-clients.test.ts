/**
 * Slow and greedy clients on raw sockets: headers dribbled a byte at a time (slowloris), uploads
 * slower than the proxy's timeouts and within or beyond its limits, bodies over
 * limits.maxBodyBytes (declared or chunked), and clients that never read a large response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../../src/proxy/main.js';
import { request } from '../../../bench/lib/security-probes.js';
import { header, RawConnection } from '../../helpers/raw-http.js';
import { okReply, RawOrigin, type OriginConnection } from '../../helpers/raw-origin.js';
import { proxyInFront, stopProxy } from './harness.js';

const HUGE = 256 * 1024 * 1024;
let origin: RawOrigin;
const proxies: RunningProxy[] = [];
/** headersTimeoutMs 1 s, requestTimeoutMs 3 s; upstream timeouts at their defaults (30/60 s). */
let timeouts: number;
/** upstreamHeadersTimeoutMs 1 s: an upload slower than that is still within every client limit. */
let upload: number;
/** maxBodyBytes 1 KiB. */
let limited: number;
/** One connection per endpoint, 2 s queue and write timeouts (the knobs of issue 11's fix for defect 3). */
let single: number;

async function start(limits: Record<string, number>): Promise<number> {
  const { proxy, port } = await proxyInFront(origin, limits);
  proxies.push(proxy);
  return port;
}

beforeAll(async () => {
  origin = await RawOrigin.start({
    script: (req) => (req.target === '/huge' ? { raw: [`HTTP/1.1 200 OK\r\nContent-Length: ${HUGE}\r\nx-origin-target: /huge\r\n\r\n`, { stream: HUGE }] } : okReply(req)),
  });
  timeouts = await start({ headersTimeoutMs: 1000, requestTimeoutMs: 3000 });
  upload = await start({ upstreamHeadersTimeoutMs: 1000 });
  limited = await start({ maxBodyBytes: 1024 });
  single = await start({ upstreamConnectionsPerEndpoint: 1, upstreamQueueTimeoutMs: 2000, downstreamWriteTimeoutMs: 2000 });
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => stopProxy(p)));
  await origin?.close();
});

/** A GET on a new connection: its answer, or why there was none within `timeoutMs`. */
async function plainGet(port: number, target: string, timeoutMs: number): Promise<{ status?: number; body?: string; error?: string; ms: number }> {
  const c = await RawConnection.open(port);
  try {
    await c.write(request('GET', target));
    const r = await c.next(timeoutMs);
    return { status: r.status!, body: r.body.toString(), ms: performance.now() - c.openedAt };
  } catch (err) {
    return { error: (err as Error).message, ms: performance.now() - c.openedAt };
  } finally {
    c.destroy();
  }
}

/** The origin's connection carrying the first /huge request read since `mark`, once its answer has begun. */
function hugeAnswer(mark: number, timeoutMs = 3000): Promise<OriginConnection | undefined> {
  return origin.until(() => {
    const seen = origin.requests(mark).find((r) => r.message.target === '/huge');
    const conn = seen && origin.connections.find((c) => c.id === seen.conn);
    return conn && conn.written > 0 ? conn : undefined;
  }, timeoutMs);
}

/** A client that asks for 256 MB and never reads a byte of it. */
async function neverReader(port: number): Promise<RawConnection> {
  const c = await RawConnection.open(port);
  c.pause();
  await c.write(request('GET', '/huge'));
  return c;
}

describe('slow clients', () => {
  it('answers a slowloris with 408 and closes within headersTimeoutMs + 1.5 s', async () => {
    const c = await RawConnection.open(timeouts);
    try {
      // A header that never ends, one byte every 100 ms: the connection is never idle.
      const dribbling = c.dribble(`GET /a HTTP/1.1\r\nHost: app.test\r\nX-Slow: ${'a'.repeat(200)}`, { everyMs: 100 });
      const closedAfter = await c.waitClosed(1000 + 1500);
      c.destroy();
      await dribbling;
      expect(closedAfter, `still open after 2.5 s; got ${JSON.stringify(c.received.toString('latin1'))}`).toBeDefined();
      expect(c.parsed().messages[0]?.status).toBe(408);
    } finally {
      c.destroy();
    }
  });

  it('lets a slow but steady upload through when it outlasts upstreamHeadersTimeoutMs (issue 11 defect 5)', async () => {
    const mark = origin.mark();
    const c = await RawConnection.open(upload);
    try {
      // 1,000 bytes in 100-byte pieces every 200 ms: 2 s of upload against a 1 s upstream headers timeout.
      await c.write(request('POST', '/upload', ['Content-Length: 1000']));
      await c.dribble('u'.repeat(1000), { piece: 100, everyMs: 200 });
      const r = await c.next(3000);
      expect([r.status, header(r, 'x-origin-target')]).toEqual([200, '/upload']);
      expect(origin.requests(mark).map((s) => s.message.body.length)).toEqual([1000]);
    } finally {
      c.destroy();
    }
  });

  it('ends an upload slower than requestTimeoutMs within requestTimeoutMs + 1.5 s, and the origin never gets it whole', async () => {
    const mark = origin.mark();
    const c = await RawConnection.open(timeouts);
    try {
      await c.write(request('POST', '/slow-upload', ['Content-Length: 100000']));
      const dribbling = c.dribble('s'.repeat(100_000), { piece: 10, everyMs: 100 });
      const closedAfter = await c.waitClosed(3000 + 1500);
      const answered = c.parsed().messages[0];
      c.destroy();
      await dribbling;
      expect(closedAfter !== undefined || (answered?.status ?? 0) >= 400, `neither answered nor closed in 4.5 s; got ${JSON.stringify(c.received.toString('latin1'))}`).toBe(true);
      if (answered) expect(answered.status).toBeGreaterThanOrEqual(400);
      expect(origin.requests(mark)).toEqual([]);
    } finally {
      c.destroy();
    }
  });

  it('answers 413 to a declared body over maxBodyBytes, and nothing of it reaches the origin', async () => {
    const mark = origin.mark();
    const c = await RawConnection.open(limited);
    try {
      await c.write(request('POST', '/big-declared', ['Content-Length: 4096'], 'd'.repeat(4096)));
      const r = await c.next(3000);
      expect([r.status, header(r, 'x-meridian-error')]).toEqual([413, 'E_BODY_TOO_LARGE']);
      await origin.quiet(100);
      expect(origin.received(mark).filter((b) => b.includes('/big-declared'))).toEqual([]);
    } finally {
      c.destroy();
    }
  });

  it('answers 413 to a chunked body that passes maxBodyBytes, and the origin never gets it whole', async () => {
    const mark = origin.mark();
    const c = await RawConnection.open(limited);
    try {
      const chunk = `400\r\n${'c'.repeat(1024)}\r\n`;
      await c.write(request('POST', '/big-chunked', ['Transfer-Encoding: chunked'], chunk.repeat(4) + '0\r\n\r\n'));
      const r = await c.next(3000);
      expect([r.status, header(r, 'x-meridian-error')]).toEqual([413, 'E_BODY_TOO_LARGE']);
      await origin.quiet(100);
      expect(origin.requests(mark).filter((s) => s.message.target === '/big-chunked')).toEqual([]);
    } finally {
      c.destroy();
    }
  });

  it('holds back a response its client never reads (backpressure), and serves other clients meanwhile', async () => {
    const mark = origin.mark();
    const x = await neverReader(limited);
    try {
      const conn = await hugeAnswer(mark);
      expect(conn, 'the origin began the 256 MB answer').toBeDefined();
      // Wait for the origin's writes to stall (500 ms without progress, 10 s at most): every
      // buffer from the origin to the paused client is full.
      const deadline = performance.now() + 10_000;
      for (let before = -1; before !== conn!.written && performance.now() < deadline; ) {
        before = conn!.written;
        await origin.until(() => conn!.written !== before, 500);
      }
      expect(conn!.written, `the origin wrote ${conn!.written} bytes for a client that read none`).toBeLessThan(64 * 1024 * 1024);
      const other = await plainGet(limited, '/other', 2000);
      expect([other.status, other.body]).toEqual([200, 'ok GET /other']);
      expect(origin.requests(mark).map((s) => s.message.target)).toEqual(['/huge', '/other']);
    } finally {
      x.destroy();
    }
  });

  it('answers a request queued behind a never-reading client within the queue timeout (issue 11 defect 3)', async () => {
    const mark = origin.mark();
    const x = await neverReader(single);
    try {
      expect(await hugeAnswer(mark), 'the origin began the 256 MB answer').toBeDefined();
      const queued = await plainGet(single, '/queued', 2000 + 2000);
      expect(queued.error, 'a request waited for ever behind a client that reads nothing').toBeUndefined();
    } finally {
      x.destroy();
    }
  });

  it('drops a client that reads nothing for downstreamWriteTimeoutMs, freeing its upstream connection (issue 11 defect 3)', async () => {
    const mark = origin.mark();
    const x = await neverReader(single);
    try {
      const upstream = await hugeAnswer(mark);
      expect(upstream, 'the origin began the 256 MB answer').toBeDefined();
      // A reader that reads nothing cannot see its connection close (the close waits behind the
      // unread bytes): what shows is the upstream request abandoned, and its connection free.
      expect(await origin.until(() => upstream!.closed, 2000 + 1500), 'the upstream connection still carries the unread response').toBe(true);
      const next = await plainGet(single, '/after-drop', 3000);
      expect([next.status, next.body]).toEqual([200, 'ok GET /after-drop']);
      // And when the reader reads at last, its response ends cut, not complete.
      x.resume();
      expect(await x.waitClosed(5000), 'the reader\'s connection was not closed').toBeDefined();
      expect(x.parsed().messages).toEqual([]);
    } finally {
      x.destroy();
    }
  });
});
