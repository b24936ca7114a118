import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCertificates, rememberingInspect, type SecretPair } from '../../../src/ingress-sync/build-certificates.js';
import { CertificateError } from '../../../src/proxy/tls/certificates.js';
import type { KObject } from '../../../src/kube/rest.js';
import { TestCA, type CertFiles } from '../../helpers/tls-certs.js';
import { tempDir } from '../../helpers/tmp.js';

const ingress = (ns: string, name: string, tls: { hosts?: string[]; secretName?: string }[]): KObject => ({ metadata: { name, namespace: ns }, spec: { tls, defaultBackend: { service: { name: 'web', port: { number: 80 } } } } }) as KObject;
const b64 = (text: string) => Buffer.from(text).toString('base64');
const tlsSecret = (ns: string, name: string, pair: SecretPair, type = 'kubernetes.io/tls'): KObject => ({ metadata: { name, namespace: ns }, type, data: { 'tls.crt': b64(pair.cert), 'tls.key': b64(pair.key) } }) as KObject;
const read = async (f: CertFiles): Promise<SecretPair> => ({ cert: await readFile(f.cert, 'utf8'), key: await readFile(f.key, 'utf8') });

describe('certificates for the proxies from federated Ingresses\' spec.tls and Secrets', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let good: SecretPair;
  let renewed: SecretPair;
  let expired: SecretPair;
  let mismatched: SecretPair;
  let wildcard: SecretPair;
  const now = Date.now();

  beforeAll(async () => {
    dir = await tempDir();
    const ca = await TestCA.create(dir.path);
    const [a, a2, old, w, other] = await Promise.all([
      ca.issue('a', { names: ['a.test', 'www.a.test'] }),
      ca.issue('a2', { names: ['a.test', 'www.a.test'] }),
      ca.issue('old', { names: ['a.test'], start: '20200101000000Z', end: '20200201000000Z' }),
      ca.issue('w', { names: ['*.w.test'] }),
      ca.issue('other', { names: ['other.test'] }),
    ]);
    [good, renewed, expired, wildcard] = await Promise.all([read(a), read(a2), read(old), read(w)]);
    mismatched = { cert: good.cert, key: (await read(other)).key };
  });
  afterAll(() => dir?.remove());

  const build = (ingresses: KObject[], secrets: KObject[], lastGood = new Map<string, SecretPair>()) =>
    buildCertificates({ ingresses, secrets: new Map(secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s])), lastGood, now });

  it('parses a Secret\'s pair once per content while it stays valid; judges time anew; forgets what the last builds did not ask for', () => {
    const inspect = rememberingInspect();
    const first = inspect('Secret shop/a-tls tls.crt', 'Secret shop/a-tls tls.key', good.cert, good.key, now);
    expect(inspect('Secret shop/a-tls tls.crt', 'Secret shop/a-tls tls.key', good.cert, good.key, now + 1)).toBe(first);
    // Another Secret with the same content is its own entry (its errors name it).
    expect(inspect('Secret shop/b-tls tls.crt', 'Secret shop/b-tls tls.key', good.cert, good.key, now)).not.toBe(first);
    // Past its notAfter the remembered pair is not taken: the error is the full check's.
    expect(() => inspect('Secret shop/a-tls tls.crt', 'Secret shop/a-tls tls.key', good.cert, good.key, first.notAfter)).toThrow(/E_TLS_CERT_EXPIRED|expired/);
    const mismatch = () => inspect('Secret shop/m tls.crt', 'Secret shop/m tls.key', mismatched.cert, mismatched.key, now);
    let err: unknown;
    try {
      mismatch();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CertificateError);
    expect(() => mismatch()).toThrow(err as Error); // the same error, remembered
    inspect.forget(); // kept: what was asked since the start
    expect(inspect('Secret shop/a-tls tls.crt', 'Secret shop/a-tls tls.key', good.cert, good.key, now)).toBe(first);
    inspect.forget(); // kept: only a-tls
    inspect.forget(); // nothing asked since: dropped
    expect(inspect('Secret shop/a-tls tls.crt', 'Secret shop/a-tls tls.key', good.cert, good.key, now)).not.toBe(first);
    // Builds with it give what builds without it give.
    const ingresses = [ingress('shop', 'one', [{ hosts: ['a.test'], secretName: 'a-tls' }, { hosts: ['a.test'], secretName: 'm-tls' }])];
    const secrets = new Map([tlsSecret('shop', 'a-tls', good), tlsSecret('shop', 'm-tls', mismatched)].map((x) => [`shop/${x.metadata.name}`, x]));
    const plain = buildCertificates({ ingresses, secrets, lastGood: new Map(), now });
    expect(buildCertificates({ ingresses, secrets, lastGood: new Map(), now, inspect })).toEqual(plain);
    expect(buildCertificates({ ingresses, secrets, lastGood: new Map(), now, inspect })).toEqual(plain);
  });

  it('publishes a good Secret once, for every Ingress naming it, with the hosts they list', () => {
    const out = build([ingress('shop', 'one', [{ hosts: ['a.test'], secretName: 'a-tls' }]), ingress('shop', 'two', [{ hosts: ['WWW.a.test'], secretName: 'a-tls' }])], [tlsSecret('shop', 'a-tls', good)]);
    expect(out.problems).toEqual([]);
    expect(out.certificates).toEqual([{ secret: 'shop/a-tls', ingresses: ['shop/one', 'shop/two'], hosts: ['a.test', 'www.a.test'], cert: good.cert, key: good.key }]);
    expect(out.good.get('shop/a-tls')).toEqual(good);
  });

  it('uses only the Secret of the Ingress\'s own namespace', () => {
    const out = build([ingress('shop', 'one', [{ hosts: ['a.test'], secretName: 'a-tls' }])], [tlsSecret('other', 'a-tls', good)]);
    expect(out.certificates).toEqual([]);
    expect(out.problems).toEqual([expect.objectContaining({ ingress: 'shop/one', secret: 'shop/a-tls', reason: 'TLSSecretNotFound', code: 'E_TLS_SECRET_NOT_FOUND' })]);
  });

  it('ignores a spec.tls entry without a Secret (it asks for the default certificate)', () => {
    expect(build([ingress('shop', 'one', [{ hosts: ['a.test'] }])], [])).toEqual({ certificates: [], problems: [], good: new Map() });
  });

  const bad: [string, () => KObject | undefined, string, string, RegExp][] = [
    ['missing', () => undefined, 'TLSSecretNotFound', 'E_TLS_SECRET_NOT_FOUND', /does not exist in the federation.*kubectl create secret tls/],
    ['of another type', () => tlsSecret('shop', 'a-tls', good, 'Opaque'), 'TLSCertificateRejected', 'E_TLS_SECRET_TYPE', /type Opaque, not kubernetes\.io\/tls/],
    ['without tls.key', () => ({ metadata: { name: 'a-tls', namespace: 'shop' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(good.cert) } }) as KObject, 'TLSCertificateRejected', 'E_TLS_SECRET_INCOMPLETE', /has no tls\.key/],
    ['not PEM', () => tlsSecret('shop', 'a-tls', { cert: 'hello', key: good.key }), 'TLSCertificateRejected', 'E_TLS_CERT_INVALID', /tls\.crt: not a certificate/],
    ['with another certificate\'s key', () => tlsSecret('shop', 'a-tls', mismatched), 'TLSCertificateRejected', 'E_TLS_KEY_MISMATCH', /not the private key of/],
    ['expired', () => tlsSecret('shop', 'a-tls', expired), 'TLSCertificateRejected', 'E_TLS_CERT_EXPIRED', /expired on .*renew the certificate and update the Secret/i],
  ];
  it.each(bad)('a Secret %s keeps the last good certificate, reported on each Ingress with its code and what to do', (_what, secret, reason, code, message) => {
    const s = secret();
    const ingresses = [ingress('shop', 'one', [{ hosts: ['a.test'], secretName: 'a-tls' }]), ingress('shop', 'two', [{ hosts: ['a.test'], secretName: 'a-tls' }])];
    const kept = build(ingresses, s ? [s] : [], new Map([['shop/a-tls', good]]));
    expect(kept.certificates.map((c) => c.cert)).toEqual([good.cert]);
    expect(kept.good.get('shop/a-tls')).toEqual(good);
    expect(kept.problems.map((p) => [p.ingress, p.reason, p.code])).toEqual([
      ['shop/one', reason, code],
      ['shop/two', reason, code],
    ]);
    expect(kept.problems[0]!.message).toMatch(new RegExp(`^${code}: `));
    expect(kept.problems[0]!.message).toMatch(message);
    expect(kept.problems[0]!.message).toMatch(/keep serving the certificate last taken from it/);
    // Never any key material in what is reported.
    for (const p of kept.problems) expect(p.message).not.toMatch(/PRIVATE KEY|MII|MHc/);
    // With nothing good before, nothing is published for it.
    const none = build(ingresses, s ? [s] : []);
    expect(none.certificates).toEqual([]);
    expect(none.problems[0]!.message).toMatch(/no certificate from it is served until it is fixed/);
  });

  it('takes a renewed certificate over the last good one', () => {
    const out = build([ingress('shop', 'one', [{ hosts: ['a.test'], secretName: 'a-tls' }])], [tlsSecret('shop', 'a-tls', renewed)], new Map([['shop/a-tls', good]]));
    expect(out.certificates[0]!.cert).toBe(renewed.cert);
    expect(out.good.get('shop/a-tls')).toEqual(renewed);
  });

  it('serves a certificate that does not cover a listed host, and warns about that host (a wildcard one label deep)', () => {
    const out = build([ingress('shop', 'one', [{ hosts: ['x.w.test', 'w.test', 'a.b.w.test'], secretName: 'w-tls' }])], [tlsSecret('shop', 'w-tls', wildcard)]);
    expect(out.certificates.map((c) => c.secret)).toEqual(['shop/w-tls']);
    expect(out.problems).toEqual([expect.objectContaining({ reason: 'TLSHostNotCovered', code: 'E_TLS_HOST_NOT_COVERED' })]);
    expect(out.problems[0]!.message).toMatch(/\(\*\.w\.test\) does not cover a\.b\.w\.test, w\.test;/);
  });

  describe('the default Secret (--default-certificate)', () => {
    const named = (secret = 'a-tls') => ingress('shop', 'one', [{ hosts: ['a.test'], secretName: secret }]);
    interface DefaultCase {
      ingresses: () => KObject[];
      secrets: () => KObject[];
      lastGood?: () => Map<string, SecretPair>;
      /** The bundle's Secrets, and its defaultSecret. */
      published: string[];
      defaultSecret: string | undefined;
      /** The default's problem: code and words; undefined for none. */
      defaultProblem?: [string, string, RegExp];
      /** Problems reported on Ingresses: [ingress, code]. */
      ingressProblems: [string, string][];
    }
    const cases: [string, DefaultCase][] = [
      ['no Ingress names it: published anyway, for no Ingress and no host', { ingresses: () => [named()], secrets: () => [tlsSecret('shop', 'a-tls', good), tlsSecret('edge', 'fallback', wildcard)], published: ['edge/fallback', 'shop/a-tls'], defaultSecret: 'edge/fallback', ingressProblems: [] }],
      ['no Ingress at all', { ingresses: () => [], secrets: () => [tlsSecret('edge', 'fallback', wildcard)], published: ['edge/fallback'], defaultSecret: 'edge/fallback', ingressProblems: [] }],
      ['an Ingress names it too: one entry', { ingresses: () => [ingress('edge', 'site', [{ hosts: ['x.w.test'], secretName: 'fallback' }])], secrets: () => [tlsSecret('edge', 'fallback', wildcard)], published: ['edge/fallback'], defaultSecret: 'edge/fallback', ingressProblems: [] }],
      ['missing: not published, reported for itself only (no Ingress names it), strict SNI said', { ingresses: () => [named()], secrets: () => [tlsSecret('shop', 'a-tls', good)], published: ['shop/a-tls'], defaultSecret: undefined, defaultProblem: ['TLSSecretNotFound', 'E_TLS_SECRET_NOT_FOUND', /^E_TLS_SECRET_NOT_FOUND: Secret edge\/fallback, named by --default-certificate, does not exist in the federation; no certificate from it is served until it is fixed \(.*strict SNI\)\. Create it in namespace edge \(kubectl create secret tls/], ingressProblems: [] }],
      ['expired, with a last good one: that one stays published, and the default', { ingresses: () => [], secrets: () => [tlsSecret('edge', 'fallback', expired)], lastGood: () => new Map([['edge/fallback', wildcard]]), published: ['edge/fallback'], defaultSecret: 'edge/fallback', defaultProblem: ['TLSCertificateRejected', 'E_TLS_CERT_EXPIRED', /^E_TLS_CERT_EXPIRED: .*; the proxies keep serving the certificate last taken from it\. Renew/], ingressProblems: [] }],
      ['of another type, never good: nothing published', { ingresses: () => [], secrets: () => [tlsSecret('edge', 'fallback', wildcard, 'Opaque')], published: [], defaultSecret: undefined, defaultProblem: ['TLSCertificateRejected', 'E_TLS_SECRET_TYPE', /type Opaque, not kubernetes\.io\/tls; no certificate from it is served until it is fixed \(.*strict SNI\)/], ingressProblems: [] }],
      ['missing and named by an Ingress: reported on the Ingress and for itself', { ingresses: () => [ingress('edge', 'site', [{ hosts: ['x.w.test'], secretName: 'fallback' }])], secrets: () => [], published: [], defaultSecret: undefined, defaultProblem: ['TLSSecretNotFound', 'E_TLS_SECRET_NOT_FOUND', /Secret edge\/fallback, named in spec\.tls and by --default-certificate, does not exist/], ingressProblems: [['edge/site', 'E_TLS_SECRET_NOT_FOUND']] }],
    ];
    it.each(cases)('%s', (_what, c) => {
      const out = buildCertificates({ ingresses: c.ingresses(), secrets: new Map(c.secrets().map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s])), defaultSecret: 'edge/fallback', lastGood: c.lastGood?.() ?? new Map(), now });
      expect(out.certificates.map((x) => x.secret)).toEqual(c.published);
      expect(out.defaultSecret).toBe(c.defaultSecret);
      const fallback = out.certificates.find((x) => x.secret === 'edge/fallback');
      if (fallback && !c.ingresses().length) expect(fallback).toMatchObject({ ingresses: [], hosts: [] });
      if (c.defaultProblem) {
        const [reason, code, message] = c.defaultProblem;
        expect(out.defaultProblem).toMatchObject({ secret: 'edge/fallback', reason, code });
        expect(out.defaultProblem!.message).toMatch(message);
        expect(out.defaultProblem!.message).not.toMatch(/PRIVATE KEY|MII|MHc/);
      } else expect(out.defaultProblem).toBeUndefined();
      expect(out.problems.map((p) => [p.ingress, p.code])).toEqual(c.ingressProblems);
    });

    it('without one, the build has neither a default nor its problem', () => {
      const out = build([named()], [tlsSecret('shop', 'a-tls', good)]);
      expect('defaultSecret' in out).toBe(false);
      expect('defaultProblem' in out).toBe(false);
    });
  });

  it('forgets a Secret no Ingress names any more', () => {
    const out = build([ingress('shop', 'one', [{ hosts: ['a.test'], secretName: 'b-tls' }])], [tlsSecret('shop', 'a-tls', good), tlsSecret('shop', 'b-tls', renewed)], new Map([['shop/a-tls', good]]));
    expect([...out.good.keys()]).toEqual(['shop/b-tls']);
    expect(out.certificates.map((c) => c.secret)).toEqual(['shop/b-tls']);
  });
});
