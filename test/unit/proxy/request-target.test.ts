import { describe, expect, it } from 'vitest';
import { normalizeTarget, removeDotSegments } from '../../../src/proxy/request-target.js';

describe('removeDotSegments() (RFC 3986 §5.2.4, its examples and edges)', () => {
  it.each([
    ['/a/b/c/./../../g', '/a/g'],
    ['/mid/content=5/../6', '/mid/6'],
    ['/../a', '/a'],
    ['/a/..', '/'],
    ['/a/.', '/a/'],
    ['/a/b/..', '/a/'],
    ['/.', '/'],
    ['/..', '/'],
    ['/a/.b/..c', '/a/.b/..c'],
    ['/', '/'],
    ['/plain', '/plain'],
  ])('%s → %s', (input, output) => {
    expect(removeDotSegments(input)).toBe(output);
  });
});

describe('normalizeTarget(): what is routed and forwarded', () => {
  it.each([
    ['/public/../secret', '/secret', ''],
    ['/public/%2e%2e/secret', '/secret', ''],
    ['/public/%2E%2e/secret?x=/../', '/secret', '?x=/../'],
    ['/public/.%2e/secret', '/secret', ''],
    ['/public//a///b', '/public/a/b', ''],
    ['/%7Euser/%61', '/~user/a', ''],
    ['/a%20b/%c3%a9', '/a%20b/%C3%A9', ''],
    ['/search?q=%2F', '/search', '?q=%2F'],
    ['/', '/', ''],
  ])('%s → %s %s', (target, path, query) => {
    expect(normalizeTarget(target)).toEqual({ ok: true, path, query });
  });

  it.each([
    ['/a%2Fb', 'encoded-slash'],
    ['/a%5cb', 'encoded-slash'],
    ['/a%zzb', 'bad-escape'],
    ['/a%4', 'bad-escape'],
    ['/a%00b', 'nul'],
    ['*', 'not-origin-form'],
    ['http://example.com/a', 'not-origin-form'],
    ['/a#frag', 'fragment'],
  ])('%s is refused (%s)', (target, problem) => {
    expect(normalizeTarget(target)).toEqual({ ok: false, problem });
  });

  it('keeps encoded slashes as data when asked, and still removes real dot-segments', () => {
    const keep = { mergeSlashes: true, encodedSlashes: 'keep' as const };
    expect(normalizeTarget('/api/group%2fproject/../x', keep)).toEqual({ ok: true, path: '/api/x', query: '' });
    expect(normalizeTarget('/public/..%2Fsecret', keep)).toEqual({ ok: true, path: '/public/..%2Fsecret', query: '' });
  });

  it('merges slashes only when asked', () => {
    expect(normalizeTarget('//a//b', { mergeSlashes: false, encodedSlashes: 'reject' })).toEqual({ ok: true, path: '//a//b', query: '' });
  });
});
