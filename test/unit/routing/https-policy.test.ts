import { describe, expect, it } from 'vitest';
import { httpsLocation, httpsPortSuffix, plainHttpAnswer, redirectingRoutes } from '../../../src/proxy/https-redirect.js';
import { renderRoute, routeReport } from '../../../src/proxy/route-report.js';
import { hstsProblem } from '../../../src/routing/https-policy.js';
import { LiveState } from '../../../src/routing/live.js';
import { routeFor } from '../../../src/routing/match.js';
import { buildSnapshot } from '../../../src/routing/snapshot.js';

describe('Strict-Transport-Security values (RFC 6797 §6.1)', () => {
  it.each([
    'max-age=31536000',
    'max-age=31536000; includeSubDomains; preload',
    'max-age="0"',
    'includeSubDomains;max-age=600;',
    '  MAX-AGE=1 ; includesubdomains  ',
    'max-age=5; ext="a quoted \\"value\\""',
  ])('accepts %j', (value) => {
    expect(hstsProblem(value)).toBeUndefined();
  });

  it.each([
    ['', /max-age is required/],
    ['includeSubDomains', /max-age is required/],
    ['max-age', /whole number/],
    ['max-age=-1', /whole number/],
    ['max-age=1.5', /whole number/],
    ['max-age=one year', /neither a token nor a quoted string/],
    ['max-age=1; max-age=2', /appears twice/],
    ['max-age=1; includeSubDomains=yes', /takes no value/],
    ['max-age=1\r\nSet-Cookie: a=b', /visible ASCII/],
    ['max-age=1\n', /visible ASCII/],
    ['max-age=1; (x)', /not a directive/],
    ['max-age=1; ext="unterminated', /neither a token nor a quoted string/],
  ])('refuses %j', (value, why) => {
    expect(hstsProblem(value)).toMatch(why);
  });
});

describe('the routing table\'s https policy', () => {
  const table = (https: unknown, defaultHttps?: unknown) => ({
    routes: [
      { host: 'secure.test', path: '/', backend: 'app', https },
      { host: 'open.test', path: '/', backend: 'app' },
    ],
    defaultBackend: 'app',
    ...(defaultHttps ? { defaultHttps } : {}),
    backends: { app: { shards: [] } },
  });

  it('is compiled into each route and the default route: the request path reads two fields', () => {
    const snap = buildSnapshot(table({ plainHttp: 'redirect', hsts: ' max-age=600 ' }, { plainHttp: 'refuse' }));
    expect(routeFor(snap.routes, snap.defaultRoute, 'SECURE.test:80', '/x')).toMatchObject({ plainHttp: 'redirect', hsts: 'max-age=600' });
    expect(routeFor(snap.routes, snap.defaultRoute, 'open.test', '/x')).toMatchObject({ plainHttp: 'serve', hsts: null });
    expect(routeFor(snap.routes, snap.defaultRoute, 'other.test', '/x')).toBe(snap.defaultRoute);
    expect(snap.defaultRoute).toMatchObject({ backend: 0, plainHttp: 'refuse', hsts: null });
    expect(redirectingRoutes(snap.routes, snap.defaultRoute)).toEqual(['secure.test/']);
  });

  it('is shown by meridian route (and the status page\'s route explanation)', () => {
    const snap = buildSnapshot(table({ plainHttp: 'redirect', hsts: 'max-age=600' }));
    const report = (host: string) => routeReport({ clientIp: '8.8.8.8', host }, snap, new LiveState(snap), () => undefined, 'test');
    expect(report('secure.test').https).toEqual({ plainHttp: 'redirect', hsts: 'max-age=600' });
    expect(renderRoute(report('secure.test'))).toContain('Plain HTTP: 308 to the same URL over HTTPS (served if the proxy has no HTTPS listener). HSTS over HTTPS: max-age=600.\n');
    expect(report('open.test').https).toBeUndefined();
    expect(renderRoute(report('open.test'))).not.toContain('Plain HTTP');
  });

  it.each([
    [{ plainHttp: 'maybe' }, /routes\.0\.https\.plainHttp/],
    [{ hsts: 'includeSubDomains' }, /routes\.0\.https\.hsts: not a Strict-Transport-Security value: max-age is required/],
    [{ redirect: true }, /routes\.0\.https/],
  ])('refuses a malformed policy %j with the field named (E_TABLE_INVALID)', (https, why) => {
    expect(() => buildSnapshot(table(https))).toThrow(expect.objectContaining({ code: 'E_TABLE_INVALID', message: expect.stringMatching(why) as string }));
  });
});

describe('HTTP → HTTPS redirects', () => {
  it.each([
    [443, ''],
    [8443, ':8443'],
  ])('port %i is written as %j', (port, suffix) => {
    expect(httpsPortSuffix(port)).toBe(suffix);
  });

  it.each([
    ['a.test', '/p?q=1', ':8443', 'https://a.test:8443/p?q=1'],
    ['A.Test:8080', '/', '', 'https://A.Test/'],
    ['[::1]:80', '/x', ':8443', 'https://[::1]:8443/x'],
    ['127.0.0.1', '/x', '', 'https://127.0.0.1/x'],
    ['a.test.', '/evil.com/x', '', 'https://a.test./evil.com/x'],
    // Whatever the path holds, it follows the authority: never `//host` or `\\host` of its own.
    ['a.test', '//evil.com/x', '', 'https://a.test//evil.com/x'],
    ['a.test', '/caf\xe9 x\t"', '', 'https://a.test/caf%E9%20x%09"'],
  ])('%s + %s → %s', (host, target, suffix, location) => {
    expect(httpsLocation(host, target, suffix)).toBe(location);
  });

  it.each([undefined, '', 'evil.com/x', 'a.test@evil.com', 'evil.com\\a.test', 'a.test:80:80', 'a test', 'a.test%2F', '[::1', '[::1]x', 'a..test', '.a.test', 'a.test:', 'a'.repeat(300)])(
    'sends nobody anywhere for the Host %j',
    (host) => {
      expect(httpsLocation(host, '/', '')).toBeUndefined();
    },
  );

  it('answers by the route: 308 with the Location, 421 for a refusing route, 400 with no safe host, nothing without an HTTPS listener', () => {
    const route = (plainHttp: 'serve' | 'redirect' | 'refuse') => ({ wildcard: false, path: '/', exact: false, backend: 0, plainHttp, hsts: null });
    expect(plainHttpAnswer(route('redirect'), 'a.test', '/x', ':8443')).toEqual({ location: 'https://a.test:8443/x' });
    expect(plainHttpAnswer(route('redirect'), 'evil/x', '/x', ':8443')).toBe('E_BAD_HOST');
    expect(plainHttpAnswer(route('redirect'), 'a.test', '/x', undefined)).toBeUndefined();
    expect(plainHttpAnswer(route('refuse'), 'a.test', '/x', undefined)).toBe('E_HTTPS_ONLY');
    expect(plainHttpAnswer(route('serve'), 'a.test', '/x', ':8443')).toBeUndefined();
  });
});
