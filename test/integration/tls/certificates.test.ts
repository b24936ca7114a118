import { spawn } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/common/log.js';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith } from '../../../src/proxy/main.js';
import { CLI } from '../../helpers/proxy-process.js';
import { tempDir } from '../../helpers/tmp.js';
import { makeCerts, type Certs } from './setup.js';

const table = { version: 't', routes: [{ path: '/', backend: 'app' }], backends: { app: { shards: [{ cluster: 'c', region: 'us-central1', endpoints: [{ address: '127.0.0.1', port: 9 }] }] } } };

describe('certificates at start-up: a bad one is an error with a stable code and what to do', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  let garbage: string;
  let weakRsa: { cert: string; key: string };

  beforeAll(async () => {
    dir = await tempDir('meridian-tls-certs-');
    certs = await makeCerts(dir.path);
    garbage = join(dir.path, 'garbage.pem');
    await writeFile(garbage, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    const key = join(dir.path, 'weak.key');
    const { execFile } = await import('node:child_process');
    await new Promise((r, j) => execFile('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', key], (e) => (e ? j(e) : r(null))));
    weakRsa = await certs.ca.issue('weak', { names: ['weak.test'], keyFile: key });
  }, 60_000);

  afterAll(async () => {
    await dir?.remove();
  });

  const start = (certificates: { cert: string; key: string }[]) => {
    const config = parseProxyConfig({ listen: [{ host: '127.0.0.1', port: 0, tls: true }], admin: { host: '127.0.0.1', port: 0 }, tls: { certificates: certificates.map((c) => ({ certFile: c.cert, keyFile: c.key })) }, table });
    return startProxyWith(config, table, { configPath: join(dir.path, 'p.yaml'), logger: createLogger('t', 'silent'), admin: false, watchTable: false });
  };

  it.each([
    ['a missing file', () => [{ cert: join(dir.path, 'nope.pem'), key: certs.a.key }], 'E_TLS_FILE_UNREADABLE', /nope\.pem/],
    ['a certificate that does not parse', () => [{ cert: garbage, key: certs.a.key }], 'E_TLS_CERT_INVALID', /garbage\.pem/],
    ['a key that does not parse', () => [{ cert: certs.a.cert, key: certs.a.cert }], 'E_TLS_KEY_INVALID', /a\.pem/],
    ['a key that is not the certificate\'s', () => [certs.b, certs.mismatched], 'E_TLS_KEY_MISMATCH', /b\.key.*not the private key of .*a\.pem/],
    ['an expired certificate', () => [certs.a, certs.expired], 'E_TLS_CERT_EXPIRED', /expired\.pem: expired on/],
    ['a certificate not valid yet', () => [certs.notYetValid], 'E_TLS_CERT_NOT_YET_VALID', /future\.pem/],
    ['an RSA key under 2048 bits', () => [weakRsa], 'E_TLS_KEY_UNSUPPORTED', /1024 bits/],
  ])('refuses %s', async (_what, files, code, message) => {
    const err = await start(files()).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string; hint: string },
    );
    expect(err?.code).toBe(code);
    expect(err?.message).toMatch(message);
    expect(err?.hint).toBeTruthy();
    // Never a key's bytes in what is said.
    expect(`${err?.message} ${err?.hint}`).not.toMatch(/PRIVATE KEY-----|MII[A-Za-z0-9+/]{20}/);
  });

  it('refuses an unreadable key file (permissions)', async () => {
    if (process.getuid?.() === 0) return; // root reads anything
    const key = join(dir.path, 'locked.key');
    await writeFile(key, 'x');
    await chmod(key, 0o000);
    await expect(start([{ cert: certs.a.cert, key }])).rejects.toMatchObject({ code: 'E_TLS_FILE_UNREADABLE' });
  });

  it('asks for certificates when a listener has tls: true and there are none', () => {
    expect(() => parseProxyConfig({ listen: [{ port: 8443, tls: true }], table })).toThrow(/tls: a listen entry has tls: true: give the certificates/);
    expect(() => parseProxyConfig({ listen: [{ port: 8443, tsl: true }], table })).toThrow(/listen\.0/);
    // No certificate of its own: the federation's, from a file or with the fleet's table.
    expect(() => parseProxyConfig({ listen: [{ port: 8443, tls: true }], tls: {}, table })).toThrow(/or tls: \{\} when the table comes from the fleet's store/);
    expect(parseProxyConfig({ listen: [{ port: 8443, tls: true }], tls: { certificatesFile: 'certificates.json' }, table }).tls).toMatchObject({ certificates: [], certificatesFile: 'certificates.json' });
    expect(parseProxyConfig({ listen: [{ port: 8443, tls: true }], tls: {}, store: { redis: 'redis://127.0.0.1:1' } }).tls?.certificates).toEqual([]);
  });

  it('meridian proxy exits with the code and the hint on stderr', async () => {
    const file = join(dir.path, 'cli.yaml');
    await writeFile(file, stringify({ listen: [{ host: '127.0.0.1', port: 0, tls: true }], admin: { host: '127.0.0.1', port: 0 }, tls: { certificates: [{ certFile: 'a.pem', keyFile: 'a.key' }, { certFile: 'expired.pem', keyFile: 'expired.key' }] }, table }));
    const child = spawn(process.execPath, [CLI, 'proxy', '--config', file], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'error' } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).not.toBe(0);
    expect(err).toMatch(/E_TLS_CERT_EXPIRED: .*expired\.pem: expired on/);
    expect(err).toMatch(/hint: renew the certificate/);
  });
});
