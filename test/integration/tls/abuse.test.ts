import { readFile } from 'node:fs/promises';
import { constants } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { h2, h2request, makeCerts, origin, startTlsProxy, tableFor, type Certs, type Origin, type TlsProxy } from './setup.js';

/** Requests on a fresh HTTP/2 connection, one after another, until `stop()`: the bystander. */
function bystander(port: number, ca: string) {
  const session = h2(port, 'a.test', ca);
  let stopped = false;
  let ok = 0;
  const failures: string[] = [];
  const done = (async () => {
    while (!stopped) {
      try {
        const r = await h2request(session, { ':path': '/bystander' });
        if (r.status === 200) ok++;
        else failures.push(String(r.status));
      } catch (err) {
        failures.push(String(err));
        // A session that is gone fails every request at once: stop rather than spin.
        if (session.destroyed || session.closed) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  })();
  return {
    get ok() {
      return ok;
    },
    failures,
    async stop() {
      stopped = true;
      await done;
      session.close();
    },
  };
}

describe('HTTP/2 and TLS abuse: bounded, counted, the connection closed, other clients unaffected', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  let ca: string;
  let app: Origin;
  let p: TlsProxy;

  beforeAll(async () => {
    dir = await tempDir('meridian-tls-abuse-');
    certs = await makeCerts(dir.path);
    ca = await readFile(certs.ca.ca, 'utf8');
    app = await origin('app');
    p = await startTlsProxy(dir.path, [certs.a, certs.b], tableFor(app), { tls: { handshakeTimeoutMs: 1_000 }, http2: { maxConcurrentStreams: 50 } });
  }, 60_000);

  afterAll(async () => {
    await p?.proxy.drain();
    await app?.close();
    await dir?.remove();
  });

  it('closes a rapid-reset client (CVE-2023-44487) while another client is served throughout', async () => {
    const other = bystander(p.tlsPort, ca);
    await waitFor(async () => (await p.metric('meridian_proxy_http2_connections')) === 1, { what: 'the bystander connected' });
    const attacker = h2(p.tlsPort, 'a.test', ca);
    await new Promise((r) => attacker.once('connect', r));
    const reachedOrigin = () => app.seen.filter((r) => r.url.startsWith('/slow?ms=2000')).length;
    // Open and cancel at once, far past SETTINGS_MAX_CONCURRENT_STREAMS (a reset stream no longer counts).
    for (let i = 0; i < 2_000 && !attacker.destroyed && !attacker.closed; i++) {
      const req = attacker.request({ ':path': `/slow?ms=2000&i=${i}` });
      req.on('error', () => {});
      req.close(constants.NGHTTP2_CANCEL);
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    // The proxy closed the attacker's connection (its client, busy sending, may not have read the
    // GOAWAY yet: what counts is the proxy's side), and no more of its streams were routed.
    await waitFor(async () => (await p.metric('meridian_proxy_http2_abuse_total', { kind: 'rapid-reset' })) === 1, { what: 'the rapid reset counted' });
    await waitFor(async () => (await p.metric('meridian_proxy_http2_connections')) === 1, { what: 'the attacker\'s connection closed' });
    const routed = reachedOrigin();
    expect(routed).toBeLessThanOrEqual(210);
    await new Promise((r) => setTimeout(r, 300));
    expect(reachedOrigin()).toBe(routed);
    attacker.destroy();
    await other.stop();
    expect(other.failures).toEqual([]);
    expect(other.ok).toBeGreaterThan(0);
    // Every request the attacker started was let go (none left in flight once the origin answered).
    await waitFor(async () => (await p.metric('meridian_proxy_in_flight_requests')) === 0, { timeoutMs: 5_000, what: 'nothing left in flight' });
  });

  it('closes a PING flood', async () => {
    const other = bystander(p.tlsPort, ca);
    const attacker = h2(p.tlsPort, 'a.test', ca, { maxOutstandingPings: 10_000 });
    await new Promise((r) => attacker.once('connect', r));
    const goaway = new Promise<number>((resolve) => attacker.once('goaway', (code: number) => resolve(code)));
    for (let i = 0; i < 500 && !attacker.destroyed; i++) attacker.ping(Buffer.alloc(8, i % 256), () => {});
    expect(await goaway).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    await other.stop();
    expect(other.failures).toEqual([]);
    expect(await p.metric('meridian_proxy_http2_abuse_total', { kind: 'ping-flood' })).toBe(1);
  });

  it('closes a SETTINGS flood', async () => {
    const attacker = h2(p.tlsPort, 'a.test', ca, { maxOutstandingSettings: 10_000 });
    await new Promise((r) => attacker.once('connect', r));
    const goaway = new Promise<number>((resolve) => attacker.once('goaway', (code: number) => resolve(code)));
    for (let i = 0; i < 500 && !attacker.destroyed; i++) {
      try {
        attacker.settings({ initialWindowSize: 65_535 + (i % 2) });
      } catch {
        break;
      }
    }
    expect(await goaway).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect(await p.metric('meridian_proxy_http2_abuse_total', { kind: 'settings-flood' })).toBe(1);
  });

  it('refuses streams past SETTINGS_MAX_CONCURRENT_STREAMS and serves the rest', async () => {
    const s = h2(p.tlsPort, 'a.test', ca, { peerMaxConcurrentStreams: 1_000 });
    try {
      await new Promise((r) => s.once('remoteSettings', r));
      expect(s.remoteSettings.maxConcurrentStreams).toBe(50);
      // Node's client queues what the server's setting does not allow: all 120 are answered, 50 at a time.
      const answers = await Promise.all(Array.from({ length: 120 }, () => h2request(s, { ':path': '/slow?ms=100' })));
      expect(answers.every((a) => a.status === 200)).toBe(true);
    } finally {
      s.close();
    }
  });

  it('drops a TLS handshake that takes too long, even one trickling bytes, and counts it', async () => {
    const before = await p.metric('meridian_proxy_tls_handshake_errors_total', { reason: 'timeout' });
    const started = performance.now();
    const socket = netConnect({ host: '127.0.0.1', port: p.tlsPort });
    socket.on('error', () => {});
    // A ClientHello record header, then a byte every 100 ms: never a whole ClientHello.
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    const trickle = setInterval(() => socket.writable && socket.write(Buffer.from([0x42])), 100);
    // Meanwhile a real client handshakes and is served.
    const served = await new Promise<boolean>((resolve) => {
      const t = tlsConnect({ host: '127.0.0.1', port: p.tlsPort, servername: 'a.test', ca: [ca] }, () => {
        resolve(true);
        t.end();
      });
      t.on('error', () => resolve(false));
    });
    expect(served).toBe(true);
    await new Promise<void>((r) => socket.once('close', () => r()));
    clearInterval(trickle);
    const tookMs = performance.now() - started;
    expect(tookMs).toBeGreaterThan(900);
    expect(tookMs).toBeLessThan(2_500);
    expect(await p.metric('meridian_proxy_tls_handshake_errors_total', { reason: 'timeout' })).toBe(before + 1);
  });

  it('counts plain HTTP sent to the TLS port, and closes it', async () => {
    const before = await p.metric('meridian_proxy_tls_handshake_errors_total');
    const socket = netConnect({ host: '127.0.0.1', port: p.tlsPort });
    socket.on('error', () => {});
    socket.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(await p.metric('meridian_proxy_tls_handshake_errors_total')).toBe(before + 1);
  });
});
