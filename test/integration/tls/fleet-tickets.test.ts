import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/state/redis-store.js';
import { parseRedisUrl } from '../../../src/state/redis-target.js';
import { startProxyProcess, type ProxyProcess } from '../../helpers/proxy-process.js';
import { freePort, TestRedis } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { execFileP, makeCerts, origin, sClient, tableFor, type Certs, type Origin } from './setup.js';

/**
 * `openssl s_client` making a new session, saved to `file`. TLS 1.3 tickets come after the
 * handshake: the connection stays open until s_client has written one (5 s at most), not for a
 * guessed while (300 ms was too short beside a benchmark on this machine).
 */
async function newSession(port: number, args: string[], file: string): Promise<string> {
  const hold = `i=0; while [ ! -s ${file} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; echo`;
  const { stdout } = await execFileP('sh', ['-c', `(${hold}) | openssl s_client -connect 127.0.0.1:${port} ${args.join(' ')} -sess_out ${file} 2>&1`], { timeout: 10_000 });
  return stdout;
}

/**
 * Two real `meridian proxy` processes with TLS listeners sharing one real redis-server (the
 * test's own): a session a client got from one resumes on the other, for the default
 * certificate's name and for another SNI name, over TLS 1.2 and 1.3, and across a rotation.
 */
describe('session-ticket keys shared by the fleet', () => {
  let redis: TestRedis;
  let store: RedisStore;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let certs: Certs;
  let app: Origin;
  const proxies: { p: ProxyProcess; tlsPort: number }[] = [];
  const generation = async (i: number) => (await proxies[i]!.p.metric('meridian_proxy_tls_ticket_key_generation')) ?? -1;
  const bothAt = async (g: number) => (await generation(0)) === g && (await generation(1)) === g;

  beforeAll(async () => {
    dir = await tempDir('meridian-tickets-');
    [redis, certs, app] = await Promise.all([TestRedis.start(), makeCerts(dir.path), origin('app')]);
    store = new RedisStore(parseRedisUrl(redis.url), 'tickets');
    await store.ready();
    const start = async (id: string) => {
      const [port, tlsPort] = [await freePort(), await freePort()];
      const p = await startProxyProcess(dir.path, id, {
        listen: [
          { host: '127.0.0.1', port },
          { host: '127.0.0.1', port: tlsPort, tls: true },
        ],
        store: { redis: redis.url, fleet: 'tickets' },
        // a.test (ECDSA) is the default certificate; b.test (RSA) is chosen by SNI.
        tls: { certificates: [certs.a, certs.b].map((c) => ({ certFile: c.cert, keyFile: c.key })) },
        table: tableFor(app),
        healthCheck: { intervalMs: 60_000, timeoutMs: 500 },
      });
      return { p, tlsPort };
    };
    proxies.push(...(await Promise.all([start('tls-a'), start('tls-b')])));
    await waitFor(() => bothAt(1), { what: 'both proxies on the fleet\'s first key', timeoutMs: 10_000 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(proxies.map(({ p }) => p.stop()));
    await store?.close();
    await redis?.stop();
    await app?.close();
    await dir?.remove();
  });

  /** A new session from proxy `from` (its ticket saved to `file`); whether `to` resumes it. */
  const session = async (from: number, name: string, version: string, file: string) => {
    const first = await newSession(proxies[from]!.tlsPort, [`-servername ${name}`, version], file);
    expect(first).toMatch(/New, TLSv1\.[23]/);
  };
  const resumedOn = async (to: number, name: string, version: string, file: string) => {
    const again = await sClient(proxies[to]!.tlsPort, [`-servername ${name}`, version, '-sess_in', file]);
    return /Reused, TLSv1\.[23]/.test(again.out) ? 'Reused' : /New, TLSv1\.[23]/.test(again.out) ? 'New' : again.out;
  };
  const cases = [
    ['a.test', '-tls1_2'],
    ['a.test', '-tls1_3'],
    ['b.test', '-tls1_2'],
    ['b.test', '-tls1_3'],
  ] as const;

  it('a session from one proxy resumes on the other: default certificate and SNI name, TLS 1.2 and 1.3; a rotation moves both within a second', async () => {
    const files = cases.map(([name, version]) => `${dir.path}/before-${name}${version}.pem`);
    await Promise.all(cases.map(([name, version], i) => session(0, name, version, files[i]!)));
    expect(await Promise.all(cases.map(([name, version], i) => resumedOn(1, name, version, files[i]!)))).toEqual(cases.map(() => 'Reused'));

    // An operator (or a proxy of another host) rotates to generation 2 and backdates it: each
    // proxy hears the announcement, finds the key a period old and proposes generation 3 at once;
    // one proposal wins and both use it.
    const t0 = performance.now();
    expect(await store.rotateTicketKeys(1, { generation: 2, key: randomBytes(48).toString('base64'), createdAt: Date.now() - 13 * 3600_000 }, 60_000)).toBe(true);
    await waitFor(() => bothAt(3), { what: 'both proxies on generation 3', timeoutMs: 5_000, intervalMs: 50 });
    expect(performance.now() - t0).toBeLessThan(1_500);
    const rotatedLines = proxies.flatMap(({ p }) => p.logs().split('\n')).filter((l) => l.includes('session-ticket key rotated for the fleet') && l.includes('"generation":3'));
    expect(rotatedLines).toHaveLength(1);

    // Node holds one key: a ticket sealed with the old one now gets a full handshake…
    expect(await resumedOn(1, 'a.test', '-tls1_3', files[1]!)).toBe('New');
    // …and sessions under the new one resume across the fleet again, both ways.
    const after = cases.map(([name, version]) => `${dir.path}/after-${name}${version}.pem`);
    await Promise.all(cases.map(([name, version], i) => session(1, name, version, after[i]!)));
    expect(await Promise.all(cases.map(([name, version], i) => resumedOn(0, name, version, after[i]!)))).toEqual(cases.map(() => 'Reused'));
  }, 30_000);

  it('never shows the key: not in the logs, the metrics or the status page', async () => {
    const key = (await redis.cli('hget', 'meridian:{tickets}:ticket-keys', 'key')).trim();
    expect(Buffer.from(key, 'base64')).toHaveLength(48);
    const forms = [key, Buffer.from(key, 'base64').toString('hex'), Buffer.from(key, 'base64').toString('base64url')];
    for (const { p } of proxies) {
      // The page itself, with the fleet on it (a proxy reads the fleet's members once a second).
      let status = '';
      await waitFor(async () => (status = await (await fetch(`http://127.0.0.1:${p.adminPort}/status`)).text()).includes('tls-a') && status.includes('tls-b'), { what: 'both proxies on the status page' });
      for (const text of [p.logs(), await p.metrics(), status]) for (const f of forms) expect(text).not.toContain(f);
    }
  });
});

describe('session-ticket keys shared by one host\'s --workers (through the primary, no Redis)', () => {
  // node:cluster hands every worker the first one's ticket keys when they listen, so workers
  // share keys until the first rotation; each worker rotating its own (as before the fleet's
  // key) split them for good. The fleet's rotation keeps them one key.
  it('a session from one worker resumes on the other after rotations', async () => {
    const dir = await tempDir('meridian-tickets-workers-');
    const [certs, app] = await Promise.all([makeCerts(dir.path), origin('app')]);
    const tlsPort = await freePort();
    const p = await startProxyProcess(
      dir.path,
      'workers',
      {
        listen: [{ host: '127.0.0.1', port: tlsPort, tls: true }],
        tls: { certificates: [certs.a, certs.b].map((c) => ({ certFile: c.cert, keyFile: c.key })), ticketKeyRotationSeconds: 2 },
        table: tableFor(app),
        healthCheck: { intervalMs: 60_000, timeoutMs: 500 },
      },
      ['--workers', '2'],
    );
    try {
      // The lowest generation over the workers: both have switched. Start just after a rotation
      // (to generation 2 at least), so the check below has the period to itself.
      const generation = async () => (await p.metric('meridian_proxy_tls_ticket_key_generation')) ?? -1;
      await waitFor(async () => (await generation()) >= 1, { what: 'both workers on a key of the fleet', timeoutMs: 10_000, intervalMs: 50 });
      const first = await generation();
      await waitFor(async () => (await generation()) > first, { what: 'a rotation', timeoutMs: 10_000, intervalMs: 50 });
      const file = `${dir.path}/workers.pem`;
      expect(await newSession(tlsPort, ['-servername b.test', '-tls1_3'], file)).toMatch(/New, TLSv1\.3/);
      // The primary hands connections to its workers in turn: these land on both.
      const again = await Promise.all([0, 1, 2, 3].map(() => sClient(tlsPort, ['-servername b.test', '-tls1_3', '-sess_in', file])));
      expect(again.map((r) => /Reused, TLSv1\.3/.test(r.out))).toEqual([true, true, true, true]);
      expect(await generation()).toBe(first + 1);
    } finally {
      await p.stop();
      await app.close();
      await dir.remove();
    }
  }, 30_000);
});
