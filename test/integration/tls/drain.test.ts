import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/tmp.js';
import { h2, h2request, makeCerts, origin, startTlsProxy, tableFor, type Certs, type Origin, type TlsProxy } from './setup.js';

describe('drain over HTTP/2', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  let app: Origin;
  let p: TlsProxy;

  beforeAll(async () => {
    dir = await tempDir('meridian-tls-drain-');
    certs = await makeCerts(dir.path);
    app = await origin('app');
    p = await startTlsProxy(dir.path, [certs.a], tableFor(app));
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await dir?.remove();
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
