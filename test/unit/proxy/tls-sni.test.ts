import { describe, expect, it } from 'vitest';
import { buildSniIndex, selectCertificate } from '../../../src/proxy/tls/sni.js';

describe('SNI certificate selection', () => {
  const index = buildSniIndex([
    { names: ['example.com', 'www.example.com'] }, // 0: the default
    { names: ['*.example.com'] }, // 1
    { names: ['api.example.com'] }, // 2
    { names: ['*.a.example.com', 'other.test'] }, // 3
    { names: ['www.example.com', '*.com', 'w*.example.org'] }, // 4: shadowed, a TLD wildcard, a partial wildcard
  ], 0);
  const pick = (name: string | undefined) => selectCertificate(index, name);

  it('takes an exact name before a wildcard, whatever the order they are listed in', () => {
    expect(pick('api.example.com')).toEqual({ cert: 2, match: 'exact' });
    expect(pick('example.com')).toEqual({ cert: 0, match: 'exact' });
  });

  it('matches wildcards one label deep only', () => {
    expect(pick('shop.example.com')).toEqual({ cert: 1, match: 'wildcard' });
    expect(pick('x.a.example.com')).toEqual({ cert: 3, match: 'wildcard' });
    expect(pick('x.y.example.com')).toEqual({ cert: 0, match: 'default' });
  });

  it('ignores case and a trailing dot', () => {
    expect(pick('API.Example.COM.')).toEqual({ cert: 2, match: 'exact' });
  });

  it('gives the first certificate to unknown names and to clients that send none', () => {
    expect(pick('nowhere.test')).toEqual({ cert: 0, match: 'default' });
    expect(pick(undefined)).toEqual({ cert: 0, match: 'default' });
    expect(pick('localhost')).toEqual({ cert: 0, match: 'default' });
  });

  it('serves a name listed twice from the first certificate, and says so', () => {
    expect(pick('www.example.com')).toEqual({ cert: 0, match: 'exact' });
    expect(index.shadowed).toEqual([{ name: 'www.example.com', used: 0, ignored: 4 }]);
  });

  it('never matches a wildcard over a top-level domain or a partial-label wildcard', () => {
    expect(pick('anything.com')).toEqual({ cert: 0, match: 'default' });
    expect(pick('web.example.org')).toEqual({ cert: 0, match: 'default' });
  });

  it('without a default (only the federation\'s certificates, or none yet), gives unknown names and nameless clients no certificate', () => {
    const strict = buildSniIndex([{ names: ['a.test'] }, { names: ['*.w.test'] }], -1);
    expect(selectCertificate(strict, 'a.test')).toEqual({ cert: 0, match: 'exact' });
    expect(selectCertificate(strict, 'x.w.test')).toEqual({ cert: 1, match: 'wildcard' });
    expect(selectCertificate(strict, 'b.test')).toEqual({ cert: -1, match: 'none' });
    expect(selectCertificate(strict, undefined)).toEqual({ cert: -1, match: 'none' });
    expect(selectCertificate(buildSniIndex([], 0), 'a.test')).toEqual({ cert: -1, match: 'none' });
  });

  // The federation's default Secret may sit anywhere among its certificates: exact names and
  // wildcards still come first, whichever certificate is the default.
  const federation = [{ names: ['a.test'] }, { names: ['*.w.test'] }, { names: ['fallback.test'] }];
  const fallbacks: [string, number, string | undefined, { cert: number; match: string }][] = [
    ['no name, the default listed last', 2, undefined, { cert: 2, match: 'default' }],
    ['an unknown name', 2, 'b.test', { cert: 2, match: 'default' }],
    ['an IP address', 2, '127.0.0.1', { cert: 2, match: 'default' }],
    ['a name another certificate has', 2, 'a.test', { cert: 0, match: 'exact' }],
    ['a name a wildcard covers', 2, 'x.w.test', { cert: 1, match: 'wildcard' }],
    ['the default\'s own name', 2, 'fallback.test', { cert: 2, match: 'exact' }],
    ['no name, a wildcard certificate as the default', 1, '', { cert: 1, match: 'default' }],
    ['a name two labels under the default\'s wildcard', 1, 'a.b.w.test', { cert: 1, match: 'default' }],
    ['no name, no default', -1, undefined, { cert: -1, match: 'none' }],
    ['no name, a default past the end (not taken)', 3, undefined, { cert: -1, match: 'none' }],
    ['an unknown name, a default past the end', 7, 'b.test', { cert: -1, match: 'none' }],
  ];
  it.each(fallbacks)('with the default at an index: %s', (_what, fallback, name, want) => {
    const index = buildSniIndex(federation, fallback);
    expect(selectCertificate(index, name)).toEqual(want);
  });
});
