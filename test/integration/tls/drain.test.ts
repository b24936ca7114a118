import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { h2, h2request, makeCerts, origin, startTlsProxy, tableFor, type Certs, type Origin, type TlsProxy } from './setup.js';

const IDLE_MS = 400;

describe('HTTP/2 connections and streams: closed when idle, an upload held to its deadline, drained with GOAWAY', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  let app: Origin;
  let p: TlsProxy;

  beforeAll(async () => {
    dir = await tempDir('meridian-tls-drain-');
    certs = await makeCerts(dir.path);
    app = await origin('app');
    p = await startTlsProxy(dir.path, [certs.a], tableFor(app), { http2: { idleTimeoutMs: IDLE_MS }, limits: { headersTimeoutMs: 300, requestTimeoutMs: 300 } });
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await dir?.remove();
  });

  it('closes a connection with no stream open for http2.idleTimeoutMs (GOAWAY NO_ERROR), not one with a stream open longer, and PINGs do not keep it', async () => {
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    let goawayAt = 0;
    let goawayCode = -1;
    s.once('goaway', (code) => {
      goawayAt = performance.now();
      goawayCode = code;
    });
    // A stream open twice the idle timeout: the connection is not idle meanwhile.
    const answer = await h2request(s, { ':path': `/slow?ms=${2 * IDLE_MS}` });
    expect(answer.status).toBe(200);
    expect(goawayAt).toBe(0);
    const idleFrom = performance.now();
    // PINGs (answered) count as no stream.
    const pings = setInterval(() => goawayAt === 0 && !s.closed && !s.destroyed && s.ping(() => {}), 50);
    try {
      await waitFor(() => goawayAt > 0, { timeoutMs: 5_000, intervalMs: 20, what: 'GOAWAY' });
    } finally {
      clearInterval(pings);
    }
    expect(goawayCode).toBe(0);
    // Within the timeout and the sweep's tenth of it (plus a scheduling margin).
    expect(goawayAt - idleFrom).toBeGreaterThanOrEqual(IDLE_MS - 20);
    expect(goawayAt - idleFrom).toBeLessThan(IDLE_MS + 400);
    await waitFor(() => s.closed || s.destroyed, { timeoutMs: 5_000, intervalMs: 20, what: 'the connection closed' });
  });

  it('answers 408 E_CLIENT_TIMEOUT to an upload not in within limits.requestTimeoutMs, and the connection serves on', async () => {
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    try {
      const upload = s.request({ ':method': 'POST', ':path': '/upload' }, { endStream: false });
      upload.write('a first chunk, and nothing more');
      const answer = await new Promise<{ status: number; code: unknown }>((resolve, reject) => {
        upload.on('response', (h) => resolve({ status: Number(h[':status']), code: h['x-meridian-error'] }));
        upload.on('error', reject);
      });
      expect(answer).toEqual({ status: 408, code: 'E_CLIENT_TIMEOUT' });
      expect((await h2request(s, { ':path': '/after' })).status).toBe(200);
    } finally {
      s.close();
    }
  });

  it('finishes the streams in flight, sends GOAWAY so no new one starts, then closes', async () => {
    const s = h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8'));
    expect((await h2request(s, { ':path': '/warm' })).status).toBe(200);
    const goaway = new Promise<void>((r) => s.once('goaway', () => r()));
    const inFlight = h2request(s, { ':path': '/slow?ms=600' });
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    const drained = p.proxy.drain();
    await goaway;
    // The request that was in flight is answered in full.
    const answer = await inFlight;
    expect([answer.status, JSON.parse(answer.body).url]).toEqual([200, '/slow?ms=600']);
    await drained;
    expect(performance.now() - started).toBeLessThan(5_000);
    // Nothing listens any more.
    await expect(h2request(h2(p.tlsPort, 'a.test', await readFile(certs.ca.ca, 'utf8')), { ':path': '/late' })).rejects.toThrow();
    s.close();
  });
});
