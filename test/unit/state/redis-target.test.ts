import { describe, expect, it } from 'vitest';
import { FleetKeys } from '../../../src/state/keys.js';
import { parseRedisUrl, resolveRedisTarget } from '../../../src/state/redis-target.js';

describe('parseRedisUrl()', () => {
  it.each([
    ['redis://127.0.0.1', { mode: 'standalone', nodes: [{ host: '127.0.0.1', port: 6379 }] }, 'redis://127.0.0.1:6379'],
    ['redis://:s3cret@redis.internal:6380/2', { mode: 'standalone', password: 's3cret', db: 2 }, 'redis://:***@redis.internal:6380/2'],
    ['redis://app:p%40ss@h:1', { username: 'app', password: 'p@ss' }, 'redis://app:***@h:1'],
    ['redis://legacy@h', { password: 'legacy' }, 'redis://:***@h:6379'],
    ['rediss://h:6380', { tls: { rejectUnauthorized: true } }, 'rediss://h:6380'],
    ['redis://[::1]:7000', { nodes: [{ host: '::1', port: 7000 }] }, 'redis://[::1]:7000'],
    ['redis+sentinel://s1,s2:26380/mymaster/1', { mode: 'sentinel', name: 'mymaster', db: 1, nodes: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }] }, 'redis+sentinel://s1:26379,s2:26380/mymaster/1'],
    ['redis+cluster://a:7000,b:7001', { mode: 'cluster', nodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }] }, 'redis+cluster://a:7000,b:7001'],
  ])('%s', (url, expected, description) => {
    const t = parseRedisUrl(url);
    expect(t).toMatchObject(expected);
    expect(t.description).toBe(description);
    expect(t.description).not.toContain('s3cret');
  });

  it.each([
    ['localhost:6379', /not a Redis URL/],
    ['http://h:80', /not a Redis URL/],
    ['redis://h:99999', /out of range/],
    ['redis://a,b', /several hosts/],
    ['redis+sentinel://s1:26379', /names its master/],
    ['redis+cluster://a:1/3', /no databases/],
    ['redis://h/zero', /not a number/],
    ['redis://user:s3cret@h:x', /host\[:port\]/],
  ])('rejects %s with E_STORE_URL, never echoing a password', (url, message) => {
    let err: unknown;
    try {
      parseRedisUrl(url);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'E_STORE_URL', message });
    expect(String((err as Error).message)).not.toContain('s3cret');
  });
});

describe('resolveRedisTarget()', () => {
  it('takes the Sentinel and Cluster config forms with AUTH and TLS', () => {
    expect(resolveRedisTarget({ sentinels: [{ host: 's', port: 26379 }], name: 'm', password: 'x', sentinelPassword: 'y' })).toMatchObject({ mode: 'sentinel', name: 'm', password: 'x', sentinelPassword: 'y' });
    expect(resolveRedisTarget({ cluster: [{ host: 'a', port: 7000 }], tls: true })).toMatchObject({ mode: 'cluster', tls: { rejectUnauthorized: true }, description: 'rediss+cluster://a:7000' });
    expect(resolveRedisTarget({ url: 'rediss://h', tls: false }).tls).toBeUndefined();
  });
  it.each([
    [{}, /exactly one of/],
    [{ url: 'redis://h', cluster: [{ host: 'a', port: 1 }] }, /exactly one of/],
    [{ sentinels: [{ host: 's', port: 1 }] }, /needs redis.name/],
    [{ cluster: [{ host: 'a', port: 1 }], db: 1 }, /only database 0/],
    [{ url: 'redis://h', tls: { caFile: '/nonexistent/ca.pem' } }, /caFile/],
  ])('rejects %j with a clear error', (config, message) => {
    expect(() => resolveRedisTarget(config)).toThrow(message);
  });
});

describe('FleetKeys', () => {
  it('hash-tags every key with the fleet name, so a fleet lives in one Redis Cluster slot', () => {
    const k = new FleetKeys('prod-eu');
    for (const key of [k.table, k.members, k.ejections, k.channel, k.member('p1'), k.votes('p1'), k.votesVersion('p1'), k.load(1)]) expect(key.startsWith('meridian:{prod-eu}:')).toBe(true);
  });
  it.each(['', 'Prod', 'a_b', '-x', 'x'.repeat(64)])('rejects the fleet name %j', (name) => {
    expect(() => new FleetKeys(name)).toThrow(/E_STORE_FLEET|not a DNS label/);
  });
});
