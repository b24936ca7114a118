import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBackend, MemoryStore } from '../../../src/state/memory-store.js';
import { RedisStore } from '../../../src/state/redis-store.js';
import { parseRedisUrl, resolveRedisTarget } from '../../../src/state/redis-target.js';
import type { FleetMessage, FleetStore, MemberRecord } from '../../../src/state/store.js';
import { freePort, startRedisCluster, startSentinelSetup, TestRedis } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const member = (id: string, extra: Partial<MemberRecord> = {}): MemberRecord => ({
  id,
  host: 'h',
  pid: 1,
  region: 'us-central1',
  version: '0.1.0',
  tableVersion: 'v1',
  startedAt: 1,
  heartbeatAt: 2,
  lastSyncAt: 2,
  rttMs: { 'asia-east1': 150 },
  probing: { endpoints: 3, assigned: 2, k: 3 },
  ...extra,
});

/** The FleetStore contract, run against every implementation. */
function contract(name: string, open: (fleet: string) => Promise<FleetStore>, cleanup: () => Promise<void> = async () => {}) {
  describe(`FleetStore contract: ${name}`, () => {
    const stores: FleetStore[] = [];
    const openStore = async (fleet = 'test') => {
      const s = await open(fleet);
      stores.push(s);
      return s;
    };
    afterAll(async () => {
      await Promise.all(stores.map((s) => s.close()));
      await cleanup();
    });

    it('publishes a table that every reader of the fleet gets whole, with a notification', async () => {
      const a = await openStore();
      const b = await openStore();
      const got: FleetMessage[] = [];
      await b.subscribe((m) => got.push(m));
      expect(await b.tableVersion()).toBeUndefined();
      await a.publishTable({ version: 'abc', body: '{"backends":{}}', sha256: 'f00', publishedAt: 5, publisher: 'ctl' });
      expect(await b.tableVersion()).toBe('abc');
      expect(await b.readTable()).toEqual({ version: 'abc', body: '{"backends":{}}', sha256: 'f00', publishedAt: 5, publisher: 'ctl' });
      await waitFor(() => got.some((m) => m.type === 'table' && m.version === 'abc'), { what: 'table notification', timeoutMs: 3000 });
    });

    it('publishes the certificates beside the table, apart from it, with their own notification', async () => {
      const a = await openStore('certs');
      const b = await openStore('certs');
      const got: FleetMessage[] = [];
      await b.subscribe((m) => got.push(m));
      expect(await b.certificatesVersion()).toBeUndefined();
      const published = { version: 'c1', body: '{"version":"c1","certificates":[]}', sha256: 'beef', publishedAt: 7, publisher: 'ctl' };
      await a.publishCertificates(published);
      expect(await b.certificatesVersion()).toBe('c1');
      expect(await b.readCertificates()).toEqual(published);
      expect(await b.tableVersion()).toBeUndefined();
      await waitFor(() => got.some((m) => m.type === 'certificates' && m.version === 'c1'), { what: 'certificates notification', timeoutMs: 3000 });
    });

    it('keeps fleets apart', async () => {
      const a = await openStore('fleet-a');
      const b = await openStore('fleet-b');
      await a.heartbeat(member('only-in-a'), 5_000);
      expect((await b.members()).map((m) => m.id)).not.toContain('only-in-a');
      expect((await a.members()).map((m) => m.id)).toContain('only-in-a');
    });

    it('registers members that vanish when their heartbeats stop', async () => {
      const s = await openStore('members');
      await s.heartbeat(member('p1'), 5_000);
      await s.heartbeat(member('p2'), 150);
      expect((await s.members()).map((m) => m.id).sort()).toEqual(['p1', 'p2']);
      expect((await s.members()).find((m) => m.id === 'p1')).toEqual(member('p1'));
      await waitFor(async () => (await s.members()).length === 1, { what: 'p2 to expire', timeoutMs: 3000 });
      await s.leave('p1');
      expect(await s.members()).toEqual([]);
    });

    it('returns only the vote sets that changed since the reader last saw them', async () => {
      const s = await openStore('votes');
      await s.putVotes('p1', { version: 1, down: ['web|c|10.0.0.1:80'] }, 5_000);
      await s.putVotes('p2', { version: 7, down: [] }, 5_000);
      const first = await s.votes(['p1', 'p2', 'p3'], new Map());
      expect([...first.keys()].sort()).toEqual(['p1', 'p2']);
      expect(first.get('p1')).toEqual({ version: 1, down: ['web|c|10.0.0.1:80'] });
      expect([...(await s.votes(['p1', 'p2'], new Map([['p1', 1], ['p2', 7]]))).keys()]).toEqual([]);
      await s.putVotes('p1', { version: 2, down: [] }, 5_000);
      expect([...(await s.votes(['p1', 'p2'], new Map([['p1', 1], ['p2', 7]]))).keys()]).toEqual(['p1']);
    });

    it('keeps ejections until they end', async () => {
      const s = await openStore('ejections');
      const now = Date.now();
      await s.putEjection({ endpoint: 'e1', since: now, until: now + 60_000, by: 'p1', times: 1 });
      await s.putEjection({ endpoint: 'e2', since: now - 10, until: now - 1, by: 'p1', times: 2 });
      expect((await s.ejections(now)).map((r) => r.endpoint)).toEqual(['e1']);
      await s.removeEjection('e1');
      expect(await s.ejections(now)).toEqual([]);
    });

    it('sums the load every proxy reports for a second', async () => {
      const s = await openStore('load');
      const second = Math.floor(Date.now() / 1000);
      await s.reportLoad(second, { shards: { 'web|a': [10, 20], 'web|b': [0, 0] }, groups: { 'web|asia-east1': 20 } });
      await s.reportLoad(second, { shards: { 'web|a': [5, 12.5] }, groups: { 'web|asia-east1': 12.5 } });
      await s.reportLoad(second, { shards: {}, groups: {} });
      const total = await s.readLoad(second);
      expect(total?.proxies).toBe(3);
      expect(total?.shards.get('web|a')).toEqual({ rate: 15, demand: 32.5 });
      expect(total?.groups.get('web|asia-east1')).toBeCloseTo(32.5, 6);
      expect(await s.readLoad(second - 100)).toBeUndefined();
    });

    it('rotates the ticket key by compare-and-set: of proposals for the same generation one wins, and it is announced', async () => {
      const a = await openStore('tickets');
      const b = await openStore('tickets');
      const heard: FleetMessage[] = [];
      await b.subscribe((m) => heard.push(m));
      expect(await a.ticketKeys()).toBeUndefined();
      const key = (fill: number) => Buffer.alloc(48, fill).toString('base64');
      const first = { generation: 1, key: key(1), createdAt: 10 };
      expect(await a.rotateTicketKeys(0, first, 60_000)).toBe(true);
      expect(await b.ticketKeys()).toEqual(first);
      // Two proxies that both read generation 1 propose generation 2 at once: exactly one wins.
      const won = await Promise.all([a.rotateTicketKeys(1, { generation: 2, key: key(2), createdAt: 20 }, 60_000), b.rotateTicketKeys(1, { generation: 2, key: key(3), createdAt: 21 }, 60_000)]);
      expect(won.filter(Boolean)).toHaveLength(1);
      expect((await a.ticketKeys())?.key).toBe(won[0] ? key(2) : key(3));
      // A stale proposal (it read generation 0 or 1) changes nothing.
      expect(await a.rotateTicketKeys(0, { generation: 1, key: key(4), createdAt: 30 }, 60_000)).toBe(false);
      expect(await a.rotateTicketKeys(1, { generation: 2, key: key(4), createdAt: 30 }, 60_000)).toBe(false);
      expect((await b.ticketKeys())?.generation).toBe(2);
      await waitFor(() => heard.filter((m) => m.type === 'ticket-keys').length === 2, { what: 'two ticket-keys messages', timeoutMs: 3000 });
      // Each generation announced once, in either order: on a Redis Cluster each PUBLISH goes to
      // whichever node the client picks and is relayed from there, so two announcements may arrive
      // either way round (seen in CI). A proxy reads the key from the store on each message, so the
      // order carries nothing.
      const announced = heard.filter((m): m is Extract<FleetMessage, { type: 'ticket-keys' }> => m.type === 'ticket-keys').map((m) => m.generation);
      expect(announced.sort()).toEqual([1, 2]);
    });

    it('lets a ticket key expire when no proxy rotates it', async () => {
      const s = await openStore('tickets-expiry');
      expect(await s.rotateTicketKeys(0, { generation: 1, key: Buffer.alloc(48, 9).toString('base64'), createdAt: 1 }, 150)).toBe(true);
      await waitFor(async () => (await s.ticketKeys()) === undefined, { what: 'the key to expire', timeoutMs: 3000 });
      expect(await s.rotateTicketKeys(0, { generation: 1, key: Buffer.alloc(48, 8).toString('base64'), createdAt: 2 }, 5_000)).toBe(true);
    });
  });
}

contract('memory', async (fleet) => new MemoryStore(sharedBackend, fleet));
const sharedBackend = new MemoryBackend();

let redis: TestRedis | undefined;
contract(
  'Redis',
  async (fleet) => {
    redis ??= await TestRedis.start();
    const s = new RedisStore(parseRedisUrl(redis.url), fleet);
    await s.ready();
    return s;
  },
  async () => redis?.stop(),
);

describe('RedisStore against values it cannot read', () => {
  let r: TestRedis;
  let store: RedisStore;
  const invalid: string[] = [];
  beforeAll(async () => {
    r = await TestRedis.start();
    store = new RedisStore(parseRedisUrl(r.url), 'bad', { onInvalid: (kind) => invalid.push(kind) });
    await store.ready();
  });
  afterAll(async () => {
    await store.close();
    await r.stop();
  });

  it('skips garbage in member, vote, ejection and message values, and reports it', async () => {
    const raw = new Redis(r.port, '127.0.0.1');
    await store.heartbeat(member('good'), 5_000);
    await raw.sadd('meridian:{bad}:members', 'garbled', 'wrong-shape');
    await raw.set('meridian:{bad}:member:garbled', '{not json');
    await raw.set('meridian:{bad}:member:wrong-shape', JSON.stringify({ id: 'wrong-shape', pid: 'x' }));
    await raw.set('meridian:{bad}:votes-version:p', '3');
    await raw.set('meridian:{bad}:votes:p', '[]');
    await raw.hset('meridian:{bad}:ejections', 'e', 'nope');
    // A key of the wrong length would make Node's setTicketKeys throw: unreadable, and replaceable.
    await raw.hset('meridian:{bad}:ticket-keys', 'generation', 'x', 'key', Buffer.alloc(32).toString('base64'), 'createdAt', '1');
    const got: FleetMessage[] = [];
    await store.subscribe((m) => got.push(m));
    await raw.publish('meridian:{bad}:events', '{"type":"unheard-of"}');
    await raw.publish('meridian:{bad}:events', '{"type":"table","version":"v9"}');
    expect((await store.members()).map((m) => m.id)).toEqual(['good']);
    expect(await store.votes(['p'], new Map())).toEqual(new Map());
    expect(await store.ejections(Date.now())).toEqual([]);
    expect(await store.ticketKeys()).toBeUndefined();
    await waitFor(() => got.length === 1, { what: 'the valid message', timeoutMs: 3000 });
    expect(got).toEqual([{ type: 'table', version: 'v9' }]);
    expect(invalid.sort()).toEqual(['ejection', 'member', 'member', 'message', 'ticket-keys', 'votes']);
    // The unreadable key counts as none: a proxy's first proposal replaces it.
    const good = { generation: 1, key: Buffer.alloc(48, 1).toString('base64'), createdAt: 5 };
    expect(await store.rotateTicketKeys(0, good, 5_000)).toBe(true);
    expect(await store.ticketKeys()).toEqual(good);
    raw.disconnect();
  });

  it('every store of many started at once receives the fleet\'s messages (subscribed before its ready check)', async () => {
    // A SUBSCRIBE issued while the connection is still being set up went out before ioredis's
    // INFO ready check; Redis refuses INFO in subscriber mode, ioredis reconnects, and the new
    // connection was not subscribed (ioredis issue 2037): subscribing 2-5 ms after creating the
    // store lost every subscription here.
    const heard: number[] = [];
    const many: RedisStore[] = [];
    try {
      for (const delay of [0, 1, 2, 3, 5, 8]) {
        const batch = [0, 1].map(() => new RedisStore(parseRedisUrl(r.url), 'many'));
        await new Promise((resolve) => setTimeout(resolve, delay));
        for (const s of batch) {
          const i = heard.push(0) - 1;
          await s.subscribe(() => heard[i]!++);
        }
        many.push(...batch);
      }
      await Promise.all(many.map((s) => s.ready()));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await many[0]!.publish({ type: 'table', version: 'hello' });
      await waitFor(() => heard.every((n) => n === 1), { what: `every store to hear the message (heard: ${heard.join(',')})`, timeoutMs: 3000 });
    } finally {
      await Promise.all(many.map((s) => s.close()));
    }
  });

  it('finds a subscription that stopped delivering, and makes it again', async () => {
    const lost: number[] = [];
    const s = new RedisStore(parseRedisUrl(r.url), 'watchdog', { onResubscribe: () => lost.push(Date.now()) });
    const heard: FleetMessage[] = [];
    try {
      await s.ready();
      await s.subscribe((m) => heard.push(m));
      // Lose it behind the store's back, as a Cluster resharding or the ready-check race did.
      await (s as unknown as { sub: Redis }).sub.unsubscribe();
      await waitFor(
        async () => {
          await s.publish({ type: 'table', version: 'again' });
          return heard.length > 0;
        },
        { what: 'messages heard again', timeoutMs: 10_000, intervalMs: 250 },
      );
      expect(lost.length).toBeGreaterThanOrEqual(1);
      expect(s.resubscriptions).toBe(lost.length);
    } finally {
      await s.close();
    }
  });

  it('fails fast while Redis is down, reports the change once, and reconnects when it is back', async () => {
    const changes: boolean[] = [];
    store.onConnectionChange((up) => changes.push(up));
    await r.kill();
    await waitFor(() => changes.includes(false), { what: 'down', timeoutMs: 3000 });
    const t0 = performance.now();
    await expect(store.tableVersion()).rejects.toThrow();
    expect(performance.now() - t0).toBeLessThan(200);
    await r.restart();
    const back = performance.now();
    await waitFor(() => changes.at(-1) === true, { what: 'reconnected', timeoutMs: 5000 });
    expect(performance.now() - back).toBeLessThan(1500);
    expect(changes).toEqual([false, true]);
    expect(await store.tableVersion()).toBeUndefined(); // restarted empty
  });
});

let cluster: Awaited<ReturnType<typeof startRedisCluster>> | undefined;
contract(
  'Redis Cluster',
  async (fleet) => {
    cluster ??= await startRedisCluster();
    const s = new RedisStore(parseRedisUrl(cluster.url), fleet);
    await s.ready(10_000);
    return s;
  },
  async () => cluster?.stop(),
);

/**
 * Binds `port` with a listener that takes connections and never answers (a dead host's silence,
 * not a refusal); undefined when something has taken the port already (then nothing can be done).
 */
function holdPort(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer(() => {});
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('RedisStore through Sentinel', () => {
  it('follows a failover to the promoted replica', async () => {
    const setup = await startSentinelSetup();
    const store = new RedisStore(parseRedisUrl(setup.url), 'sentinel', { maxReconnectDelayMs: 500 });
    let holder: Server | undefined;
    try {
      await store.ready();
      await store.publishTable({ version: 'before', body: '{}', sha256: 'x', publishedAt: 1, publisher: 't' });
      await waitFor(async () => (await setup.replica.cli('hget', 'meridian:{sentinel}:table', 'version')) === 'before', { what: 'replication' });
      await setup.master.kill();
      // Its port is held by a listener that never answers: another test's redis-server given the
      // freed port (as free ports go, under parallel suites) answered the Sentinel's PINGs as the
      // old master, and no failover came (seen on a loaded CI run: "last-ok-ping-reply 697").
      holder = await holdPort(setup.master.port);
      // Sentinel notices (1 s), promotes the replica; the store reconnects to it by itself.
      // A failover attempt that fails is retried after 2 × failover-timeout (6 s): on a loaded CI
      // machine the first can miss; the Sentinel's view goes into the error if none succeeds.
      await waitFor(async () => (await store.tableVersion().catch(() => undefined)) === 'before' && (await setup.replica.cli('role')).startsWith('master'), { what: 'failover', timeoutMs: 30_000, intervalMs: 200 }).catch(async (err: Error) => {
        const view = await setup.sentinelCli('sentinel', 'master', 'mymaster').catch((e: Error) => e.message);
        throw new Error(`${err.message}; the Sentinel's view: ${view.replace(/\s+/g, ' ')}`);
      });
      await store.publishTable({ version: 'after', body: '{}', sha256: 'x', publishedAt: 2, publisher: 't' });
      expect(await setup.replica.cli('hget', 'meridian:{sentinel}:table', 'version')).toBe('after');
    } finally {
      holder?.close();
      await store.close();
      await setup.stop();
    }
  }, 50_000);
});

describe('RedisStore with TLS and AUTH', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: ChildProcess;
  let port: number;
  const secret = 's3cret-pw';

  beforeAll(async () => {
    dir = await tempDir('meridian-tls-');
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir.path, 'key.pem'), '-out', join(dir.path, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
    port = await freePort();
    server = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', join(dir.path, 'cert.pem'), '--tls-key-file', join(dir.path, 'key.pem'), '--tls-ca-cert-file', join(dir.path, 'cert.pem'), '--tls-auth-clients', 'no', '--requirepass', secret, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitFor(() => new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    }), { what: 'TLS redis listening' });
  });
  afterAll(async () => {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGKILL');
    await exited;
    await dir.remove();
  });

  it('connects with rediss://, the password from the URL and the CA from the config', async () => {
    const store = new RedisStore(resolveRedisTarget({ url: `rediss://:${secret}@127.0.0.1:${port}`, tls: { caFile: join(dir.path, 'cert.pem') } }), 'tls');
    try {
      await store.ready();
      await store.publishTable({ version: 'v', body: '{}', sha256: 'x', publishedAt: 1, publisher: 't' });
      expect(await store.tableVersion()).toBe('v');
      expect(store.description).toBe(`rediss://:***@127.0.0.1:${port} (fleet tls)`);
    } finally {
      await store.close();
    }
  });

  it.each([
    ['a wrong password', () => ({ url: `rediss://:wrong@127.0.0.1:${port}`, tls: { caFile: join(dir.path, 'cert.pem') } }), /WRONGPASS|invalid username-password/],
    ['a server certificate nobody vouches for', () => `rediss://:${secret}@127.0.0.1:${port}`, /self[- ]signed|certificate/],
  ])('refuses %s with the reason', async (_case, config, reason) => {
    const store = new RedisStore(resolveRedisTarget(config()), 'tls');
    try {
      await expect(store.ready(2_000)).rejects.toThrow(reason);
    } finally {
      await store.close();
    }
  });
});
