import { describe, expect, it } from 'vitest';
import { CidrMap } from '../../../src/routing/cidr.js';
import { greatCircleKm, regionRttMs, REGION_LOCATIONS } from '../../../src/routing/geo.js';
import { compileRoutes, matchRoute } from '../../../src/routing/match.js';
import { buildSnapshot } from '../../../src/routing/snapshot.js';

describe('CIDR maps', () => {
  const m = new CidrMap<string>([
    ['10.0.0.0/8', 'ten'],
    ['10.1.0.0/16', 'ten-one'],
    ['192.168.1.7/32', 'host'],
    ['2001:db8::/32', 'doc6'],
    ['2001:db8:1::/48', 'doc6-1'],
  ]);
  it.each([
    ['10.9.9.9', 'ten'],
    ['10.1.2.3', 'ten-one'],
    ['::ffff:10.1.2.3', 'ten-one'],
    ['192.168.1.7', 'host'],
    ['192.168.1.8', undefined],
    ['2001:db8:2::1', 'doc6'],
    ['2001:db8:1:ffff::1', 'doc6-1'],
    ['2001:db9::1', undefined],
    ['not-an-ip', undefined],
  ])('%s → %s (longest prefix)', (ip, want) => {
    expect(m.get(ip)).toBe(want);
  });
  it.each(['10.0.0.0/33', 'banana', '::/129'])('rejects %s with a stable code', (cidr) => {
    expect(() => new CidrMap([[cidr, 1]])).toThrow(/E_CIDR_INVALID|is not an IPv4 or IPv6 CIDR/);
  });
});

describe('geography', () => {
  it('knows the seed regions', () => {
    for (const r of ['asia-east1', 'europe-west1', 'us-central1']) expect(REGION_LOCATIONS.has(r)).toBe(true);
  });
  it('measures great circles (London–New York ≈ 5,570 km)', () => {
    expect(greatCircleKm({ lat: 51.5, lon: -0.13 }, { lat: 40.71, lon: -74.01 })).toBeCloseTo(5570, -2);
  });
  it('uses measured RTT where known: asia-east1 reaches the U.S. sooner than Europe although Europe is nearer on a map', () => {
    const asia = REGION_LOCATIONS.get('asia-east1')!;
    expect(greatCircleKm(asia, REGION_LOCATIONS.get('europe-west1')!)).toBeLessThan(greatCircleKm(asia, REGION_LOCATIONS.get('us-central1')!));
    expect(regionRttMs('asia-east1', 'us-central1', REGION_LOCATIONS)).toBeLessThan(regionRttMs('asia-east1', 'europe-west1', REGION_LOCATIONS));
  });
  it('falls back to distance, and to Infinity for unknown places', () => {
    expect(regionRttMs('us-east4', 'us-west2', REGION_LOCATIONS)).toBeGreaterThan(40);
    expect(regionRttMs('nowhere-1', 'us-west2', REGION_LOCATIONS)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('route matching', () => {
  const backends = new Map([
    ['web', 0],
    ['api', 1],
    ['wild', 2],
    ['exact', 3],
  ]);
  const routes = compileRoutes(
    [
      { path: '/', pathType: 'Prefix', backend: 'web' },
      { host: 'shop.example.com', path: '/api', pathType: 'Prefix', backend: 'api' },
      { host: '*.example.com', path: '/', pathType: 'Prefix', backend: 'wild' },
      { host: 'shop.example.com', path: '/api/health', pathType: 'Exact', backend: 'exact' },
    ],
    backends,
  );
  it.each([
    ['shop.example.com', '/api/v1/items', 1],
    ['shop.example.com:8080', '/api', 1],
    ['SHOP.example.com', '/api/health', 3],
    ['shop.example.com', '/apiary', 2],
    ['blog.example.com', '/x', 2],
    ['a.b.example.com', '/x', 0],
    ['example.com', '/x', 0],
    ['other.org', '/anything?q=1', 0],
  ])('%s%s → backend %i', (host, path, want) => {
    expect(matchRoute(routes, -1, host, path)).toBe(want);
  });
  it('answers the default backend, or -1 for no route', () => {
    const only = compileRoutes([{ host: 'a.test', path: '/', pathType: 'Prefix', backend: 'web' }], backends);
    expect(matchRoute(only, 1, 'b.test', '/')).toBe(1);
    expect(matchRoute(only, -1, 'b.test', '/')).toBe(-1);
  });
});

describe('snapshot validation', () => {
  it.each([
    [{ backends: { a: { shards: [] } }, routes: [{ path: '/', backend: 'missing' }] }, /unknown backend "missing"/],
    [{ backends: { a: { shards: [] } }, defaultBackend: 'nope' }, /defaultBackend "nope"/],
    [{ backends: { a: { shards: [{ cluster: 'c', region: 'r', endpoints: [], capacityScaler: 0.05 }] } } }, /capacityScaler must be 0 or between 0.1 and 1/],
    [{ backends: { a: { shards: [{ cluster: 'c', region: 'r', endpoints: [{ address: 'x', port: 70000 }] }] } } }, /port/],
  ])('rejects a bad table with a clear message (%#)', (t, message) => {
    expect(() => buildSnapshot(t)).toThrow(message);
  });
});
