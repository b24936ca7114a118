import { X509Certificate } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../../src/proxy/status.js';
import type { CertificateBundle } from '../../../src/proxy/tls/bundle.js';
import type { TlsStatus } from '../../../src/proxy/tls/status.js';
import { stamp, type CertFiles } from '../../helpers/tls-certs.js';
import { tempDir } from '../../helpers/tmp.js';
import { makeCerts, origin, sClient, servedName, startTlsProxy, tableFor, type Certs, type Origin, type TlsProxy } from './setup.js';

/** One GET on the admin port: status and body. */
function get(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The base64 body of a PEM key (armour and line breaks taken out), and its lines: none may appear on the page. */
async function keyMaterial(file: string): Promise<string[]> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l && !l.startsWith('-----'));
  return [lines.join(''), ...lines];
}

const fingerprint = async (f: CertFiles) => new X509Certificate(await readFile(f.cert)).fingerprint256;

/**
 * `/status/tls` on the admin port of a real proxy with a TLS listener: its certificates from its
 * config's files and from the federation's file, as a script (and the page) reads them.
 */
describe('the proxy\'s TLS certificates on its status page (/status/tls)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  /** shop.test and a.test, expiring in 5 days: a Secret of the federation. */
  let soon: CertFiles;
  let fallback: CertFiles;
  let app: Origin;
  const proxies: TlsProxy[] = [];
  let bundleFile: string;

  const entry = async (secret: string, f: CertFiles, ingresses: string[]) => ({ secret, ingresses, hosts: [], cert: await readFile(f.cert, 'utf8'), key: await readFile(f.key, 'utf8') });
  const writeBundle = async (file: string, b: Omit<CertificateBundle, 'version'>) => writeFile(file, JSON.stringify({ version: String(Date.now()), ...b }), { mode: 0o600 });
  const tlsOf = async (p: TlsProxy) => {
    const r = await get(p.adminPort!, '/status/tls');
    expect(r.status).toBe(200);
    return { text: r.text, tls: JSON.parse(r.text) as TlsStatus };
  };

  beforeAll(async () => {
    dir = await tempDir('meridian-tls-status-');
    certs = await makeCerts(dir.path);
    const inFive = new Date(Date.now() + 5 * 86_400_000);
    [soon, fallback] = await Promise.all([
      certs.ca.issue('soon', { key: 'rsa', names: ['shop.test', 'a.test'], end: stamp(inFive) }),
      certs.ca.issue('fallback', { names: ['fallback.test'] }),
    ]);
    app = await origin('app');
    bundleFile = join(dir.path, 'certificates.json');
  }, 60_000);

  afterAll(async () => {
    for (const p of proxies) await p.proxy.drain();
    await app?.close();
    await dir?.remove();
  });

  it('lists two static certificates and a federated one: names, source, default, days left, shadowed names, no key', async () => {
    // Copies, so this test can break one of them later.
    const b = { cert: join(dir.path, 'b-copy.pem'), key: join(dir.path, 'b-copy.key') };
    await Promise.all([copyFile(certs.b.cert, b.cert), copyFile(certs.b.key, b.key)]);
    await writeBundle(bundleFile, { certificates: [await entry('shop/soon', soon, ['shop/web', 'shop/api'])], defaultSecret: 'shop/soon' });
    const p = await startTlsProxy(dir.path, [certs.a, b], tableFor(app), { tls: { certificatesFile: bundleFile } }, { admin: true });
    proxies.push(p);

    const { text, tls } = await tlsOf(p);
    expect(tls.strictSni).toBe(false);
    expect(tls.ticketKeyGeneration).toBe(0); // no fleet: this process's own key
    expect(tls.federationDefaultSecret).toBe('shop/soon'); // named, but the proxy's own first certificate stays its default
    expect(tls.rejected).toEqual([]);
    expect(tls.certificates.map((c) => ({ names: c.names, source: c.source, from: c.certFile ?? c.secret, keyType: c.keyType, default: c.default, rule: c.defaultRule }))).toEqual([
      { names: ['a.test'], source: 'file', from: certs.a.cert, keyType: 'ecdsa', default: true, rule: 'first-static' },
      { names: ['b.test'], source: 'file', from: b.cert, keyType: 'rsa', default: false, rule: null },
      { names: ['shop.test', 'a.test'], source: 'secret', from: 'shop/soon', keyType: 'rsa', default: false, rule: null },
    ]);
    const [a, , fed] = tls.certificates;
    // makeCerts' certificates run 30 days from an hour ago; the federation's, 5 days from now.
    expect([a!.daysLeft, a!.expiresSoon]).toEqual([29, false]);
    expect([fed!.daysLeft, fed!.expiresSoon]).toEqual([4, true]);
    expect(a!.fingerprint).toBe(await fingerprint(certs.a));
    expect(Date.parse(a!.notAfter)).toBe(Date.parse(new X509Certificate(await readFile(certs.a.cert)).validTo));
    expect(fed!.ingresses).toEqual(['shop/web', 'shop/api']);
    expect(fed!.shadowed).toEqual([{ name: 'a.test', servedBy: certs.a.cert }]);

    // What the page says is what a client gets: a.test is the file's, shop.test the Secret's.
    expect(servedName((await sClient(p.tlsPort, ['-servername', 'a.test', '-showcerts'])).out)).toBe('a.test');
    expect(servedName((await sClient(p.tlsPort, ['-servername', 'shop.test', '-showcerts'])).out)).toBe('shop.test');

    // Neither /status/tls nor /status carries a private key, in PEM or as its base64.
    const whole = (await get(p.adminPort!, '/status')).text;
    expect((JSON.parse(whole) as StatusDocument).tls).toEqual(tls);
    for (const page of [text, whole]) {
      expect(page).not.toContain('PRIVATE KEY');
      for (const f of [certs.a.key, b.key, soon.key]) for (const m of await keyMaterial(f)) expect(page).not.toContain(m);
    }
  });

  it('shows a refused file with its code while the last good certificate stays in use, until the file is fixed', async () => {
    const p = proxies[0]!;
    const b = { cert: join(dir.path, 'b-copy.pem'), key: join(dir.path, 'b-copy.key') };
    const inUse = await fingerprint(certs.b);
    await copyFile(certs.a.key, b.key); // b's certificate with a's key
    await p.proxy.reload();
    let { tls } = await tlsOf(p);
    expect(tls.rejected).toMatchObject([{ code: 'E_TLS_KEY_MISMATCH', source: 'file', certFile: b.cert, keeping: inUse }]);
    expect(tls.rejected[0]!.message).toContain('not the private key of');
    expect(tls.certificates[1]!.fingerprint).toBe(inUse);

    await copyFile(certs.b.key, b.key);
    await p.proxy.reload();
    ({ tls } = await tlsOf(p));
    expect(tls.rejected).toEqual([]);
  });

  it('with the federation\'s certificates only: strict SNI until the federation names a default, then that Secret', async () => {
    const file = join(dir.path, 'fed-only.json');
    await writeBundle(file, { certificates: [await entry('shop/soon', soon, ['shop/web'])] });
    const p = await startTlsProxy(dir.path, [], tableFor(app), { tls: { certificatesFile: file } }, { admin: true });
    proxies.push(p);
    let { tls } = await tlsOf(p);
    expect(tls.strictSni).toBe(true);
    expect(tls.certificates.map((c) => [c.secret, c.default])).toEqual([['shop/soon', false]]);
    expect((await sClient(p.tlsPort, ['-noservername'])).ok).toBe(false); // what strict SNI means for a client

    await writeBundle(file, { certificates: [await entry('edge/fallback', fallback, []), await entry('shop/soon', soon, ['shop/web'])], defaultSecret: 'edge/fallback' });
    await p.proxy.reload();
    ({ tls } = await tlsOf(p));
    expect(tls.strictSni).toBe(false);
    expect(tls.certificates.map((c) => [c.secret, c.ingresses, c.default, c.defaultRule])).toEqual([
      ['edge/fallback', [], true, 'federation-default'],
      ['shop/soon', ['shop/web'], false, null],
    ]);
    expect(servedName((await sClient(p.tlsPort, ['-noservername', '-showcerts'])).out)).toBe('fallback.test');

    // A Secret the proxy does not take (expired) is listed with its code; its names have no certificate.
    await writeBundle(file, { certificates: [await entry('edge/fallback', fallback, []), await entry('shop/old', certs.expired, ['shop/legacy'])], defaultSecret: 'edge/fallback' });
    await p.proxy.reload();
    ({ tls } = await tlsOf(p));
    expect(tls.rejected).toMatchObject([{ code: 'E_TLS_CERT_EXPIRED', source: 'secret', secret: 'shop/old', keeping: null }]);
    expect(tls.certificates.map((c) => c.secret)).toEqual(['edge/fallback']);
  });
});
