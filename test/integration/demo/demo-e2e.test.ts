import { request } from 'node:http';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IN_CLUSTER_CLIENT, WORLD_CLIENTS } from '../../../src/cli/walkthrough.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { sandboxFault, startDemo, type DemoProcess } from '../../helpers/demo-process.js';
import { freePort } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

/** One GET of the VIP, as a client at `xff` (or from `localAddress`): the zone that served it. */
function ask(vip: string, opts: { xff?: string; localAddress?: string } = {}): Promise<{ status: number; zone?: string }> {
  const [host, port] = vip.split(':');
  return new Promise((resolve) => {
    const req = request({ host, port: Number(port), path: '/', agent: false, headers: opts.xff ? { 'x-forwarded-for': opts.xff } : {}, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, zone: /served from ([\w-]+)/.exec(text)?.[1] }));
    });
    req.on('error', () => resolve({ status: 0 }));
    req.end();
  });
}

/**
 * `npm start` as a new user meets it: `meridian demo` as a child process, checked with real
 * kubectl and real HTTP — the seed walkthrough of the Kubernetes 1.4 blog post, end to end.
 */
describe('meridian demo, end to end', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let demo: DemoProcess | undefined;
  let vip = '';
  let readyAt = 0;
  let k: Kubectl;
  const fed = (...args: string[]) => k.ok(['--context', 'federation-cluster', ...args]);
  const fault = (...args: string[]) => sandboxFault(join(dir.path, 'kubeconfig'), ...args);

  beforeAll(async () => {
    dir = await tempDir();
    vip = `127.0.0.1:${await freePort()}`;
    demo = await startDemo(['--kubeconfig', join(dir.path, 'kubeconfig'), '--vip', vip, '--proxy-admin', `127.0.0.1:${await freePort()}`, '--controller-metrics', '127.0.0.1:0']);
    readyAt = performance.now();
    k = new Kubectl(pathKubectl(), join(dir.path, 'kubeconfig'), join(dir.path, 'cache'));
  }, 120_000);

  afterAll(async () => {
    await demo?.stop();
    await dir?.remove();
  });

  it('serves the seed\'s site the moment it says ready', async () => {
    const r = await ask(vip);
    expect(performance.now() - readyAt).toBeLessThan(1_000);
    expect(r.status).toBe(200);
    expect(r.zone).toMatch(/^us-central1-[abc]$/); // the proxy's own region, for a client of no known place
    expect(demo!.output()).toContain(`export KUBECONFIG=${join(dir.path, 'kubeconfig')}`);
  });

  it('has what the blog post created: 9 Ready clusters, one replica in each, one Ingress address everywhere', async () => {
    expect(((await fed('get', 'clusters')).match(/\sReady\s/g) ?? []).length).toBe(9);
    const members = (await fed('get', 'clusters', '-o', 'jsonpath={.items[*].metadata.name}')).trim().split(/\s+/);
    expect(members).toHaveLength(9);
    const addresses = new Set<string>();
    for (const c of members) {
      expect(await k.ok(['--context', c, 'get', 'rs'])).toMatch(/^nginx\s+1\s+1\s+1\s/m);
      addresses.add((await k.ok(['--context', c, 'get', 'ingress', 'nginx', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])).trim());
    }
    expect([...addresses]).toEqual([vip.split(':')[0]]);
  });

  it('serves clients around the world from their regions, and an in-cluster client from its own cluster', async () => {
    for (const c of WORLD_CLIENTS) {
      const r = await ask(vip, { xff: c.ip });
      expect([c.city, r.status, r.zone?.replace(/-[a-z]$/, '')]).toEqual([c.city, 200, c.region]);
    }
    expect((await ask(vip, { localAddress: IN_CLUSTER_CLIENT })).zone).toBe('asia-east1-b');
  });

  it('Asia dies under load: Tokyo is served from the U.S. with zero failed requests, and back in Asia within 5 s of its return', async () => {
    const tokyo = WORLD_CLIENTS[0].ip;
    const [host, port] = vip.split(':');
    const run = new Promise<autocannon.Result>((resolve, reject) => {
      autocannon({ url: `http://${host}:${port}/`, connections: 10, duration: 6, headers: { 'x-forwarded-for': tokyo } }, (err, r) => (err ? reject(err) : resolve(r)));
    });
    await new Promise((r) => setTimeout(r, 1_500));
    await fault('--scope', 'region', 'pods-down', 'asia-east1');
    const during = await ask(vip, { xff: tokyo });
    const result = await run;
    expect(result.errors).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result.requests.total).toBeGreaterThan(1_000);
    expect([during.status, during.zone?.replace(/-[a-z]$/, '')]).toEqual([200, 'us-central1']);

    await fault('--scope', 'region', 'pods-up', 'asia-east1');
    const back = performance.now();
    await waitFor(async () => (await ask(vip, { xff: tokyo })).zone?.startsWith('asia-east1'), { what: 'Tokyo served from Asia again', timeoutMs: 10_000, intervalMs: 50 });
    expect(performance.now() - back).toBeLessThan(5_000);
  }, 30_000);
});
