import { describe, expect, it } from 'vitest';
import { buildSniIndex } from '../../../src/proxy/tls/sni.js';
import { EXPIRES_SOON_DAYS, tlsStatus, type CertificateSetView, type CertificateSource, type TlsStatus } from '../../../src/proxy/tls/status.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const DAY = 86_400_000;

type Cert = { names: string[]; keyType: 'ecdsa' | 'rsa'; notAfter: number; fingerprint: string; source: CertificateSource };
const file = (certFile: string, names: string[], daysLeft: number, keyType: 'ecdsa' | 'rsa' = 'ecdsa'): Cert => ({ names, keyType, notAfter: NOW + daysLeft * DAY, fingerprint: `FP:${certFile}`, source: { kind: 'file', certFile } });
const secret = (name: string, names: string[], daysLeft: number, ingresses: string[] = []): Cert => ({ names, keyType: 'rsa', notAfter: NOW + daysLeft * DAY, fingerprint: `FP:${name}`, source: { kind: 'secret', secret: name, ingresses } });

/** A view as CertificateSet.describe() gives it: the SNI index built from the certificates, as the set builds it. */
function view(certs: Cert[], fallback: number, federationDefault?: string, rejected: CertificateSetView['rejected'] = []): CertificateSetView {
  const index = buildSniIndex(certs, fallback);
  return {
    inUse: certs.map(({ source, ...cert }) => ({ cert, source })),
    fallback: index.fallback,
    shadowed: index.shadowed,
    federationDefault,
    rejected,
  };
}

/** The parts of each row a case checks. */
const rows = (s: TlsStatus) => s.certificates.map((c) => ({ from: c.certFile ?? c.secret, default: c.defaultRule ?? false, daysLeft: c.daysLeft, soon: c.expiresSoon, shadowed: c.shadowed.map((x) => `${x.name}<${x.servedBy}`) }));

describe('the status document\'s tls part, from the certificate set', () => {
  const cases: { name: string; view: CertificateSetView; strictSni: boolean; rows: ReturnType<typeof rows> }[] = [
    {
      name: 'two files: the first is the default (first-static), the second is not',
      view: view([file('/etc/a.pem', ['a.test'], 90), file('/etc/b.pem', ['b.test'], 30, 'rsa')], 0),
      strictSni: false,
      rows: [
        { from: '/etc/a.pem', default: 'first-static', daysLeft: 90, soon: false, shadowed: [] },
        { from: '/etc/b.pem', default: false, daysLeft: 30, soon: false, shadowed: [] },
      ],
    },
    {
      name: 'a file and the federation\'s Secret for the same name: the Secret\'s name is shadowed by the file',
      view: view([file('/etc/a.pem', ['a.test'], 60), secret('shop/a', ['a.test', 'www.a.test'], 45, ['shop/web'])], 0, 'shop/a'),
      strictSni: false,
      rows: [
        { from: '/etc/a.pem', default: 'first-static', daysLeft: 60, soon: false, shadowed: [] },
        { from: 'shop/a', default: false, daysLeft: 45, soon: false, shadowed: ['a.test</etc/a.pem'] },
      ],
    },
    {
      name: 'the federation\'s certificates only, its default named and taken: that Secret is the default (federation-default)',
      view: view([secret('shop/b', ['b.test'], 20), secret('edge/fallback', ['fallback.test'], 200)], 1, 'edge/fallback'),
      strictSni: false,
      rows: [
        { from: 'shop/b', default: false, daysLeft: 20, soon: false, shadowed: [] },
        { from: 'edge/fallback', default: 'federation-default', daysLeft: 200, soon: false, shadowed: [] },
      ],
    },
    {
      name: 'the federation\'s certificates and no default: strict SNI, no row is the default',
      view: view([secret('shop/b', ['b.test'], 20)], -1),
      strictSni: true,
      rows: [{ from: 'shop/b', default: false, daysLeft: 20, soon: false, shadowed: [] }],
    },
    {
      name: 'no certificate at all (the federation sent none yet): strict SNI, no rows',
      view: view([], -1),
      strictSni: true,
      rows: [],
    },
    {
      name: 'expiry: under the threshold is soon, at it is not; under a day left is 0 days',
      view: view([file('/a', ['a.test'], EXPIRES_SOON_DAYS - 0.01), file('/b', ['b.test'], EXPIRES_SOON_DAYS), file('/c', ['c.test'], 0.5)], 0),
      strictSni: false,
      rows: [
        { from: '/a', default: 'first-static', daysLeft: EXPIRES_SOON_DAYS - 1, soon: true, shadowed: [] },
        { from: '/b', default: false, daysLeft: EXPIRES_SOON_DAYS, soon: false, shadowed: [] },
        { from: '/c', default: false, daysLeft: 0, soon: true, shadowed: [] },
      ],
    },
    {
      name: 'a fallback index past the certificates (a stale view) is no default: strict SNI',
      view: { ...view([file('/a', ['a.test'], 90)], 0), fallback: 3 },
      strictSni: true,
      rows: [{ from: '/a', default: false, daysLeft: 90, soon: false, shadowed: [] }],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const s = tlsStatus(c.view, 0, NOW);
      expect(rows(s)).toEqual(c.rows);
      expect(s.strictSni).toBe(c.strictSni);
    });
  }

  it('says where each certificate came from: a file by its path, a Secret with the Ingresses naming it', () => {
    const s = tlsStatus(view([file('/etc/a.pem', ['a.test', '*.w.test'], 90), secret('shop/a', ['www.a.test'], 45, ['shop/web', 'shop/api'])], 0, 'shop/a'), 7, NOW);
    expect(s.certificates[0]).toEqual({
      names: ['a.test', '*.w.test'],
      source: 'file',
      certFile: '/etc/a.pem',
      keyType: 'ecdsa',
      notAfter: '2027-03-01T12:00:00.000Z',
      daysLeft: 90,
      expiresSoon: false,
      fingerprint: 'FP:/etc/a.pem',
      default: true,
      defaultRule: 'first-static',
      shadowed: [],
    });
    expect(s.certificates[1]).toMatchObject({ source: 'secret', secret: 'shop/a', ingresses: ['shop/web', 'shop/api'], keyType: 'rsa' });
    expect(s.certificates[1]).not.toHaveProperty('certFile');
    expect(s.federationDefaultSecret).toBe('shop/a');
    expect(s.ticketKeyGeneration).toBe(7);
  });

  it('lists the refused certificates oldest first, saying what stays in use', () => {
    const s = tlsStatus(
      view([file('/etc/a.pem', ['a.test'], 90)], 0, undefined, [
        { code: 'E_TLS_CERT_EXPIRED', source: { kind: 'secret', secret: 'shop/b', ingresses: ['shop/web'] }, message: 'Secret shop/b: expired on Feb  1 00:00:00 2020 GMT', at: NOW - 1_000, keeping: null },
        { code: 'E_TLS_KEY_MISMATCH', source: { kind: 'file', certFile: '/etc/a.pem' }, message: '/etc/a.key: not the private key of /etc/a.pem', at: NOW - 60_000, keeping: 'FP:/etc/a.pem' },
      ]),
      0,
      NOW,
    );
    expect(s.rejected).toEqual([
      { code: 'E_TLS_KEY_MISMATCH', source: 'file', certFile: '/etc/a.pem', message: '/etc/a.key: not the private key of /etc/a.pem', at: new Date(NOW - 60_000).toISOString(), keeping: 'FP:/etc/a.pem' },
      { code: 'E_TLS_CERT_EXPIRED', source: 'secret', secret: 'shop/b', message: 'Secret shop/b: expired on Feb  1 00:00:00 2020 GMT', at: new Date(NOW - 1_000).toISOString(), keeping: null },
    ]);
  });

  it('copies only the fields it names: whatever else a view\'s certificate carries (its key) stays out', () => {
    const v = view([file('/etc/a.pem', ['a.test'], 90)], 0);
    const withKey = { ...v, inUse: v.inUse.map((u) => ({ ...u, cert: { ...u.cert, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', cert: 'PEM' } })) };
    const text = JSON.stringify(tlsStatus(withKey, 0, NOW));
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain('AAAA');
  });
});
