import { X509Certificate } from 'node:crypto';
import { copyFile, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith, type RunningProxy } from '../../../src/proxy/main.js';
import type { CertFiles } from '../../helpers/tls-certs.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { h2, h2request, httpsGet, makeCerts, origin, tableFor, type Certs, type Origin } from './setup.js';

/** The fingerprint of the certificate a new TLS connection for `servername` is given. */
function servedFingerprint(port: number, servername: string, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ca: [ca] }, () => {
      resolve(s.getPeerX509Certificate()!.fingerprint256);
      s.end();
    });
    s.on('error', reject);
  });
}

describe('certificate rotation from files', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  let app: Origin;
  let proxy: RunningProxy;
  let tlsPort: number;
  let ca: Buffer;
  /** The files the proxy serves a.test from (copies, overwritten by the test). */
  let live: CertFiles;
  let logs = '';

  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const m = await proxy.metrics.registry.getSingleMetric(name)?.get();
    return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, w]) => String(v.labels[k]) === w)).reduce((s, v) => s + v.value, 0);
  };
  const fingerprint = async (file: string) => new X509Certificate(await readFile(file)).fingerprint256;
  /** Replaces the live pair in place (certificate, then key: what many tools do). */
  const overwrite = async (src: CertFiles) => {
    await writeFile(live.cert, await readFile(src.cert));
    await writeFile(live.key, await readFile(src.key));
  };

  beforeAll(async () => {
    dir = await tempDir('meridian-tls-rotation-');
    certs = await makeCerts(dir.path);
    ca = await readFile(certs.ca.ca);
    live = { cert: join(dir.path, 'live.pem'), key: join(dir.path, 'live.key') };
    await copyFile(certs.a.cert, live.cert);
    await copyFile(certs.a.key, live.key);
    await writeFile(join(dir.path, 'garbage.pem'), 'not a certificate\n');
    app = await origin('app');
    const table = tableFor(app);
    const config = parseProxyConfig({
      listen: [{ host: '127.0.0.1', port: 0, tls: true }],
      admin: { host: '127.0.0.1', port: 0 },
      region: 'us-central1',
      tls: { certificates: [{ certFile: 'live.pem', keyFile: 'live.key' }, { certFile: certs.b.cert, keyFile: certs.b.key }], pollIntervalMs: 500 },
      table,
    });
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });
    proxy = await startProxyWith(config, table, { configPath: join(dir.path, 'proxy.yaml'), logger: pino({ level: 'info' }, sink), admin: false, watchTable: false });
    tlsPort = proxy.addresses[0]!.port;
  }, 60_000);

  afterAll(async () => {
    await proxy?.drain();
    await app?.close();
    await dir?.remove();
  });

  it('applies a changed certificate to new connections within seconds, with no failed request under load', async () => {
    expect(await servedFingerprint(tlsPort, 'a.test', ca)).toBe(await fingerprint(certs.a.cert));
    const next = await certs.ca.issue('a-next', { key: 'ecdsa', names: ['a.test'] });
    let stop = false;
    const failures: string[] = [];
    let ok = 0;
    const loop = async (one: () => Promise<number>) => {
      while (!stop) {
        try {
          const status = await one();
          if (status === 200) ok++;
          else failures.push(`status ${status}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const session = h2(tlsPort, 'a.test', ca.toString());
    const loops = [
      loop(async () => (await httpsGet(tlsPort, 'a.test', ca, '/h1')).status),
      loop(async () => (await httpsGet(tlsPort, 'a.test', ca, '/h1')).status),
      loop(async () => (await h2request(session, { ':path': '/h2' })).status),
      loop(async () => {
        const s = h2(tlsPort, 'a.test', ca.toString());
        try {
          return (await h2request(s, { ':path': '/h2-new' })).status;
        } finally {
          s.close();
        }
      }),
    ];
    await new Promise((r) => setTimeout(r, 500));
    const changedAt = performance.now();
    await overwrite(next);
    const want = await fingerprint(next.cert);
    await waitFor(async () => (await servedFingerprint(tlsPort, 'a.test', ca)) === want, { timeoutMs: 5_000, what: 'the new certificate served' });
    const tookMs = performance.now() - changedAt;
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await Promise.all(loops);
    // The connection opened before the change kept working throughout.
    expect((await h2request(session, { ':path': '/still' })).status).toBe(200);
    session.close();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(tookMs).toBeLessThan(3_000);
    expect(await metric('meridian_proxy_tls_certificate_rotations_total')).toBe(1);
    expect(await metric('meridian_proxy_tls_certificate_expiry_timestamp_seconds', { name: 'a.test' })).toBe(Math.floor(Date.parse(new X509Certificate(await readFile(next.cert)).validTo) / 1000));
  });

  it.each([
    ['expired', (c: Certs) => c.expired, 'expired'],
    ['a key that is not its certificate\'s', (c: Certs) => ({ cert: c.a.cert, key: c.b.key }), 'key-mismatch'],
    ['a certificate that does not parse', (c: Certs) => ({ cert: join(dir.path, 'garbage.pem'), key: c.a.key }), 'cert-invalid'],
    ['not valid yet', (c: Certs) => c.notYetValid, 'not-yet-valid'],
  ])('keeps the last good certificate when the new one is %s, and reports it', async (_what, bad, reason) => {
    const serving = await servedFingerprint(tlsPort, 'a.test', ca);
    const rotations = await metric('meridian_proxy_tls_certificate_rotations_total');
    const errors = await metric('meridian_proxy_tls_certificate_errors_total', { reason });
    await overwrite(bad(certs));
    await waitFor(async () => (await metric('meridian_proxy_tls_certificate_errors_total', { reason })) === errors + 1, { timeoutMs: 5_000, what: `a ${reason} error counted` });
    expect(await servedFingerprint(tlsPort, 'a.test', ca)).toBe(serving);
    expect(await metric('meridian_proxy_tls_certificate_rotations_total')).toBe(rotations);
    // Reported once, not at every poll.
    await new Promise((r) => setTimeout(r, 1_200));
    expect(await metric('meridian_proxy_tls_certificate_errors_total', { reason })).toBe(errors + 1);
    expect(logs).toMatch(new RegExp(`"code":"E_TLS_[A-Z_]+".*the last good one stays in use`));
  });

  it('takes a good certificate again after bad ones, also when it is swapped in by rename', async () => {
    const fresh = await certs.ca.issue('a-fresh', { key: 'rsa', names: ['a.test'] });
    await copyFile(fresh.key, `${live.key}.tmp`);
    await copyFile(fresh.cert, `${live.cert}.tmp`);
    await rename(`${live.key}.tmp`, live.key);
    await rename(`${live.cert}.tmp`, live.cert);
    const want = await fingerprint(fresh.cert);
    await waitFor(async () => (await servedFingerprint(tlsPort, 'a.test', ca)) === want, { timeoutMs: 5_000, what: 'the fresh certificate served' });
    // The default certificate is RSA now: b.test (RSA too) and a.test are both still served right.
    expect(await servedFingerprint(tlsPort, 'b.test', ca)).toBe(await fingerprint(certs.b.cert));
  });

  it('never logs a private key', async () => {
    expect(logs).toContain('TLS certificate rotated');
    expect(logs).not.toMatch(/PRIVATE KEY/);
    for (const f of [certs.a.key, certs.b.key]) {
      const body = (await readFile(f, 'utf8')).split('\n')[1]!;
      expect(logs).not.toContain(body.slice(0, 40));
    }
  });
});
