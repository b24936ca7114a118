import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/common/log.js';
import { parseProxyConfig } from '../../../src/proxy/config.js';
import { startProxyWith, type RunningProxy } from '../../../src/proxy/main.js';
import { freePort } from '../../helpers/redis.js';

/**
 * A request whose connection fails never left: it may try shard after shard until one answers.
 * When a whole region dies, its clusters are all tried before the next region — the client still
 * gets its answer, whatever the method.
 */
describe('retries after failed connects', () => {
  let us: Server;
  const proxies: RunningProxy[] = [];

  beforeAll(async () => {
    us = createServer((_req, res) => res.end('us'));
    await new Promise<void>((r) => us.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.drain()));
    await new Promise<void>((r) => us.close(() => r()));
  });

  async function proxy(retry: Record<string, number>): Promise<number> {
    // Three Asian clusters whose pods are gone (nothing listens), one in the U.S.
    const dead = await Promise.all([1, 2, 3].map(() => freePort()));
    const table = {
      version: 'r',
      defaultBackend: 'web',
      backends: {
        web: {
          shards: [
            ...dead.map((port, i) => ({ cluster: `asia-${i}`, region: 'asia-east1', endpoints: [{ address: '127.0.0.1', port }] })),
            { cluster: 'us-a', region: 'us-central1', endpoints: [{ address: '127.0.0.1', port: (us.address() as AddressInfo).port }] },
          ],
        },
      },
    };
    const config = parseProxyConfig({ listen: [{ host: '127.0.0.1', port: 0 }], admin: { host: '127.0.0.1', port: 0 }, region: 'asia-east1', table, retry, healthCheck: { intervalMs: 60_000 } });
    const p = await startProxyWith(config, table, { configPath: '/nonexistent', logger: createLogger('retry-test', 'silent'), watchTable: false });
    proxies.push(p);
    return p.addresses[0]!.port;
  }

  it.each(['GET', 'POST'])('a %s from Asia with every Asian cluster gone is answered from the U.S.', async (method) => {
    const port = await proxy({});
    const r = await fetch(`http://127.0.0.1:${port}/`, { method });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('us');
  });

  it('stops at retry.connectAttempts', async () => {
    const port = await proxy({ connectAttempts: 1 });
    const r = await fetch(`http://127.0.0.1:${port}/`);
    expect(r.status).toBe(503);
    expect(r.headers.get('x-meridian-error')).toBe('E_NO_BACKEND');
  });
});
