import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BundleCertificate, CertificateBundle } from '../../../src/proxy/tls/bundle.js';
import type { CertFiles } from '../../helpers/tls-certs.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { makeCerts, origin, sClient, servedName, startTlsProxy, tableFor, type Certs, type Origin, type TlsProxy } from './setup.js';

/**
 * A proxy with no certificate of its own, only the federation's (the controller's certificates
 * file): without a default it refuses clients sending no name or an unknown one (strict SNI);
 * once the bundle names a default Secret (`meridian controller --default-certificate`), those
 * clients get its certificate, and named hosts keep their own — whatever the default's key type.
 */
describe('the federation\'s default certificate, for clients sending no SNI or an unknown name', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  let fallback: CertFiles;
  let app: Origin;
  let p: TlsProxy;
  let bundleFile: string;
  const entries: Record<string, BundleCertificate> = {};
  let version = 0;

  /** Replaces the certificates file as the controller does (a new file renamed over the old). */
  const publish = async (defaultSecret?: string) => {
    const bundle: CertificateBundle = { version: `v${++version}`, certificates: Object.values(entries), ...(defaultSecret ? { defaultSecret } : {}) };
    await writeFile(`${bundleFile}.tmp`, JSON.stringify(bundle), { mode: 0o600 });
    await rename(`${bundleFile}.tmp`, bundleFile);
  };
  /** The subject CN of the certificate a new connection gets (openssl s_client), undefined when the handshake fails. */
  const served = async (...args: string[]) => servedName((await sClient(p.tlsPort, [...args, '-showcerts'])).out);
  const noCertificate = () => p.metric('meridian_proxy_tls_handshake_errors_total', { reason: 'no-certificate' });

  beforeAll(async () => {
    dir = await tempDir('meridian-tls-default-');
    certs = await makeCerts(dir.path);
    fallback = await certs.ca.issue('fallback', { key: 'ecdsa', names: ['fallback.test'] });
    const entry = async (secret: string, f: CertFiles): Promise<BundleCertificate> => ({ secret, ingresses: [], hosts: [], cert: await readFile(f.cert, 'utf8'), key: await readFile(f.key, 'utf8') });
    Object.assign(entries, { a: await entry('shop/a-tls', certs.a), b: await entry('shop/b-tls', certs.b), fallback: await entry('edge/fallback', fallback) });
    bundleFile = join(dir.path, 'certificates.json');
    await publish();
    app = await origin('app');
    p = await startTlsProxy(dir.path, [], tableFor(app), { tls: { certificatesFile: bundleFile, pollIntervalMs: 200 } });
  }, 60_000);

  afterAll(async () => {
    await p?.proxy.drain();
    await app?.close();
    await dir?.remove();
  });

  it('without a default: no SNI, or a name no certificate covers, gets no certificate (strict SNI, counted); named hosts get theirs', async () => {
    expect(await served('-servername a.test')).toBe('a.test');
    const before = await noCertificate();
    expect(await served('-noservername')).toBeUndefined();
    expect(await served('-servername unknown.test')).toBeUndefined();
    expect(await noCertificate()).toBe(before + 2);
  });

  it('with the bundle\'s default Secret: no SNI, an address, and an unknown name get its certificate; named hosts keep theirs', async () => {
    await publish('edge/fallback');
    await waitFor(async () => (await served('-noservername')) === 'fallback.test', { what: 'the default certificate served without SNI' });
    const before = await noCertificate();
    // openssl sends no SNI when it connects to an address and is given no name: a load balancer's health check.
    expect(await served()).toBe('fallback.test');
    expect(await served('-servername unknown.test')).toBe('fallback.test');
    expect(await served('-servername deeper.x.w.test')).toBe('fallback.test');
    expect(await served('-servername fallback.test')).toBe('fallback.test');
    expect(await served('-servername a.test')).toBe('a.test');
    // The RSA certificate beside an ECDSA default, for TLS 1.3 and 1.2 clients offering both key types.
    expect(await served('-servername b.test', '-tls1_3')).toBe('b.test');
    expect(await served('-servername b.test', '-tls1_2')).toBe('b.test');
    expect(await noCertificate()).toBe(before);
  });

  it('another default (of the other key type) applies to new connections, the server\'s own context rebuilt: names keep their certificates', async () => {
    await publish('shop/b-tls');
    await waitFor(async () => (await served('-noservername')) === 'b.test', { what: 'the new default served without SNI' });
    expect(await served('-servername unknown.test')).toBe('b.test');
    // The ECDSA certificate now beside an RSA default: the preferences were reordered with it.
    expect(await served('-servername a.test', '-tls1_3')).toBe('a.test');
    expect(await served('-servername a.test', '-tls1_2')).toBe('a.test');
    expect(await served('-servername fallback.test')).toBe('fallback.test');
  });

  it('a bundle naming no default again: strict SNI again', async () => {
    await publish();
    await waitFor(async () => (await served('-noservername')) === undefined, { what: 'no certificate without SNI' });
    const before = await noCertificate();
    expect(await served('-servername unknown.test')).toBeUndefined();
    expect(await noCertificate()).toBe(before + 1);
    expect(await served('-servername b.test')).toBe('b.test');
  });
});
