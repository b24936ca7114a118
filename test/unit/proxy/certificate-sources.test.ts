import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificateBundle, type BundleCertificate } from '../../../src/proxy/tls/bundle.js';
import { CertificateSet } from '../../../src/proxy/tls/certificate-set.js';
import { TlsMetrics } from '../../../src/proxy/tls/metrics.js';
import { selectCertificate } from '../../../src/proxy/tls/sni.js';
import { TestCA, type CertFiles } from '../../helpers/tls-certs.js';
import { tempDir } from '../../helpers/tmp.js';

describe('the proxy\'s certificates from its files and from the federation', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let staticA: CertFiles;
  const federated: Record<string, BundleCertificate> = {};
  const entry = async (secret: string, f: CertFiles): Promise<BundleCertificate> => ({ secret, ingresses: [], hosts: [], cert: await readFile(f.cert, 'utf8'), key: await readFile(f.key, 'utf8') });

  beforeAll(async () => {
    dir = await tempDir();
    const ca = await TestCA.create(dir.path);
    const [a, fedA, b, b2, expired, fallback, fallbackRsa] = await Promise.all([
      ca.issue('a', { names: ['a.test'] }),
      ca.issue('fed-a', { names: ['a.test', 'www.a.test'] }),
      ca.issue('b', { names: ['b.test'] }),
      ca.issue('b2', { names: ['b.test'] }),
      ca.issue('old', { names: ['b.test'], start: '20200101000000Z', end: '20200201000000Z' }),
      ca.issue('fallback', { names: ['fallback.test'] }),
      ca.issue('fallback-rsa', { names: ['fallback.test'], key: 'rsa' }),
    ]);
    staticA = a;
    Object.assign(federated, { a: await entry('shop/a', fedA), b: await entry('shop/b', b), b2: await entry('shop/b', b2), expired: await entry('shop/b', expired), fallback: await entry('edge/fallback', fallback), fallbackRsa: await entry('edge/fallback', fallbackRsa), fallbackExpired: await entry('edge/fallback', expired) });
  });
  afterAll(() => dir?.remove());

  const open = async (files: CertFiles[]) => {
    const metrics = new TlsMetrics(new Registry());
    const set = await CertificateSet.open({ files: files.map((f) => ({ certFile: f.cert, keyFile: f.key })), sessionTimeoutSeconds: 300, ticketKeyRotationMs: 43_200_000, pollIntervalMs: 60_000, metrics, logger: pino({ level: 'silent' }) });
    const errors = async (reason: string) => (await metrics.certificateErrors.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
    const pick = (name: string | undefined) => {
      const { cert, match } = selectCertificate(set.current.index, name);
      return { file: set.current.certs[cert]?.certFile, match };
    };
    return { set, errors, pick, rotations: async () => (await metrics.certificateRotations.get()).values[0]?.value ?? 0 };
  };

  it('puts the config\'s files first: they win a name both have, and the first of them is the default', async () => {
    const { set, pick } = await open([staticA]);
    set.applyBundle({ version: '1', certificates: [federated.a!, federated.b!] });
    expect(pick('a.test')).toEqual({ file: staticA.cert, match: 'exact' });
    expect(pick('www.a.test')).toEqual({ file: 'Secret shop/a', match: 'exact' });
    expect(pick('b.test')).toEqual({ file: 'Secret shop/b', match: 'exact' });
    expect(pick('nowhere.test')).toEqual({ file: staticA.cert, match: 'default' });
    expect(set.current.serves(undefined)).toBe(true);
  });

  it('without files, starts with no certificate and serves only the names the federation\'s cover', async () => {
    const { set, pick } = await open([]);
    expect(set.current.certs).toEqual([]);
    expect(set.current.serves('b.test')).toBe(false);
    let changed = 0;
    set.onChange(() => changed++);
    set.applyBundle({ version: '1', certificates: [federated.b!] });
    expect(changed).toBe(1);
    expect(pick('b.test')).toEqual({ file: 'Secret shop/b', match: 'exact' });
    expect(pick('a.test')).toEqual({ file: undefined, match: 'none' });
    expect(set.current.serves(undefined)).toBe(false);
  });

  it('rotates a changed Secret, keeps the last good one when the new one fails (counted once), and withdraws a Secret no longer listed', async () => {
    const { set, pick, errors, rotations } = await open([]);
    set.applyBundle({ version: '1', certificates: [federated.b!] });
    const first = set.current.certs[0]!.fingerprint;
    set.applyBundle({ version: '1', certificates: [federated.b!] });
    expect(await rotations()).toBe(1); // the same content again changes nothing

    set.applyBundle({ version: '2', certificates: [federated.expired!] });
    set.applyBundle({ version: '2', certificates: [federated.expired!] });
    expect(set.current.certs[0]!.fingerprint).toBe(first);
    expect(await errors('expired')).toBe(1);

    set.applyBundle({ version: '3', certificates: [federated.b2!] });
    expect(set.current.certs[0]!.fingerprint).not.toBe(first);
    expect(pick('b.test').match).toBe('exact');

    set.applyBundle({ version: '4', certificates: [] });
    expect(set.current.certs).toEqual([]);
    expect(await rotations()).toBe(3);
  });

  it('describes the certificates in use for the status page: sources, Ingresses, default, refusals until fixed or withdrawn; no key', async () => {
    const { set } = await open([staticA]);
    set.applyBundle({ version: '1', certificates: [{ ...federated.a!, ingresses: ['shop/web'] }, federated.b!], defaultSecret: 'edge/fallback' });
    let v = set.describe();
    expect(v.inUse.map((u) => u.source)).toEqual([
      { kind: 'file', certFile: staticA.cert },
      { kind: 'secret', secret: 'shop/a', ingresses: ['shop/web'] },
      { kind: 'secret', secret: 'shop/b', ingresses: [] },
    ]);
    expect(v.fallback).toBe(0);
    expect(v.federationDefault).toBe('edge/fallback');
    expect(v.shadowed).toEqual([{ name: 'a.test', used: 0, ignored: 1 }]);
    expect(v.rejected).toEqual([]);

    set.applyBundle({ version: '2', certificates: [federated.a!, federated.expired!] });
    v = set.describe();
    expect(v.rejected).toEqual([{ code: 'E_TLS_CERT_EXPIRED', source: { kind: 'secret', secret: 'shop/b', ingresses: [] }, message: expect.stringMatching(/^Secret shop\/b: expired on /), at: expect.any(Number), keeping: v.inUse[2]!.cert.fingerprint }]);
    expect(JSON.stringify(v)).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    set.applyBundle({ version: '3', certificates: [federated.a!, federated.b2!] });
    expect(set.describe().rejected).toEqual([]); // taken: the refusal is over
    set.applyBundle({ version: '4', certificates: [federated.a!, federated.expired!] });
    set.applyBundle({ version: '5', certificates: [federated.a!] });
    expect(set.describe().rejected).toEqual([]); // withdrawn: nothing to fix
  });

  describe('the federation\'s default Secret (bundle.defaultSecret)', () => {
    it('serves clients sending no name, or an unknown one, when the proxy has no certificate of its own; exact names keep theirs', async () => {
      const { set, pick } = await open([]);
      set.applyBundle({ version: '1', certificates: [federated.fallback!, federated.b!], defaultSecret: 'edge/fallback' });
      expect(pick(undefined)).toEqual({ file: 'Secret edge/fallback', match: 'default' });
      expect(pick('nowhere.test')).toEqual({ file: 'Secret edge/fallback', match: 'default' });
      expect(pick('b.test')).toEqual({ file: 'Secret shop/b', match: 'exact' });
      expect(set.current.serves(undefined)).toBe(true);
      // The server's own context holds the default: it is the default's.
      expect(set.current.serverOptions().cert).toBe(federated.fallback!.cert);
    });

    it('leaves the proxy\'s own first certificate the default', async () => {
      const { set, pick } = await open([staticA]);
      set.applyBundle({ version: '1', certificates: [federated.fallback!, federated.b!], defaultSecret: 'edge/fallback' });
      expect(pick(undefined)).toEqual({ file: staticA.cert, match: 'default' });
      expect(pick('nowhere.test')).toEqual({ file: staticA.cert, match: 'default' });
      expect(pick('fallback.test')).toEqual({ file: 'Secret edge/fallback', match: 'exact' });
    });

    it('a new default (rotated, another Secret named, or none) is a new server context; other rotations keep it', async () => {
      const { set, pick } = await open([]);
      const seen: boolean[] = [];
      let last = set.current;
      set.onChange((c) => {
        seen.push(c.sameDefault(last));
        last = c;
      });
      set.applyBundle({ version: '1', certificates: [federated.fallback!, federated.b!], defaultSecret: 'edge/fallback' }); // none → fallback
      set.applyBundle({ version: '2', certificates: [federated.fallback!, federated.b2!], defaultSecret: 'edge/fallback' }); // b rotated: same default
      set.applyBundle({ version: '3', certificates: [federated.fallbackRsa!, federated.b2!], defaultSecret: 'edge/fallback' }); // the default rotated (RSA now)
      expect(set.current.defaultCertificate?.keyType).toBe('rsa');
      // The default's key type goes last in the server's preferences (see protocolOptions).
      expect(String(set.current.serverOptions().ciphers).split(':').at(-1)).toMatch(/RSA/);
      set.applyBundle({ version: '4', certificates: [federated.fallbackRsa!, federated.b2!], defaultSecret: 'shop/b' }); // another Secret named
      expect(pick(undefined)).toEqual({ file: 'Secret shop/b', match: 'default' });
      set.applyBundle({ version: '5', certificates: [federated.fallbackRsa!, federated.b2!] }); // none named: strict again
      expect(pick(undefined)).toEqual({ file: undefined, match: 'none' });
      expect(pick('nowhere.test')).toEqual({ file: undefined, match: 'none' });
      expect(seen).toEqual([false, true, false, false, false]);
    });

    it('a default the proxy does not take (expired) leaves strict SNI, counted; its last good certificate stays the default', async () => {
      const { set, pick, errors } = await open([]);
      set.applyBundle({ version: '1', certificates: [federated.fallbackExpired!, federated.b!], defaultSecret: 'edge/fallback' });
      expect(pick(undefined)).toEqual({ file: undefined, match: 'none' });
      expect(await errors('expired')).toBe(1);
      set.applyBundle({ version: '2', certificates: [federated.fallback!, federated.b!], defaultSecret: 'edge/fallback' });
      expect(pick(undefined)).toEqual({ file: 'Secret edge/fallback', match: 'default' });
      set.applyBundle({ version: '3', certificates: [federated.fallbackExpired!, federated.b!], defaultSecret: 'edge/fallback' });
      expect(pick(undefined)).toEqual({ file: 'Secret edge/fallback', match: 'default' });
      expect(set.current.defaultCertificate?.fingerprint).not.toBeUndefined();
    });
  });

  describe('the bundle\'s defaultSecret on the wire', () => {
    const body = (extra: Record<string, unknown>) => JSON.stringify({ version: '1', certificates: [federated.b], ...extra });
    it.each([
      ['absent (a controller from before it): strict SNI as ever', {}, undefined],
      ['present', { defaultSecret: 'edge/fallback' }, 'edge/fallback'],
    ])('parses a bundle with it %s', (_what, extra, want) => {
      const bundle = parseCertificateBundle(body(extra), 'test');
      expect(bundle.defaultSecret).toBe(want);
      expect(bundle.certificates.map((c) => c.secret)).toEqual(['shop/b']);
    });

    it('drops a field it does not know (how a proxy from before defaultSecret reads a bundle that has it)', () => {
      expect(parseCertificateBundle(body({ fromTheFuture: { x: 1 } }), 'test')).not.toHaveProperty('fromTheFuture');
    });

    it('refuses a defaultSecret that is not namespace/name', () => {
      expect(() => parseCertificateBundle(body({ defaultSecret: 'fallback' }), 'test')).toThrow(/defaultSecret/);
    });
  });
});
