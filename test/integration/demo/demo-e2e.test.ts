import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTPS_HOST, IN_CLUSTER_CLIENT, WORLD_CLIENTS } from '../../../src/cli/walkthrough.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { sandboxFault, startDemo, type DemoProcess } from '../../helpers/demo-process.js';
import { freePort } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A command line as a user pastes it into a shell at the repo's root: its exit and its output. */
function shell(command: string, env: NodeJS.ProcessEnv): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}` }));
  });
}

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
  let tlsPort = 0;
  let readyAt = 0;
  let k: Kubectl;
  const fed = (...args: string[]) => k.ok(['--context', 'federation-cluster', ...args]);
  const fault = (...args: string[]) => sandboxFault(join(dir.path, 'kubeconfig'), ...args);

  beforeAll(async () => {
    dir = await tempDir();
    vip = `127.0.0.1:${await freePort()}`;
    tlsPort = await freePort();
    demo = await startDemo(['--kubeconfig', join(dir.path, 'kubeconfig'), '--vip', vip, '--vip-tls', `127.0.0.1:${tlsPort}`, '--proxy-admin', `127.0.0.1:${await freePort()}`, '--controller-metrics', '127.0.0.1:0']);
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

  // Last: it leaves the Ingress with spec.tls (the steps above do not care) and plain HTTP served again.
  it('HTTPS as the walkthrough prints it: openssl, a TLS Secret and spec.tls with kubectl, curl over HTTP/1.1 and HTTP/2, then the ssl-redirect annotation', async () => {
    const section = /^HTTPS on .*\n((?: {2}.*\n)+)/m.exec(demo!.output())?.[1];
    expect(section, demo!.output()).toBeDefined();
    // A step is a line indented by two; deeper lines continue it (the shell joins `\` + newline).
    const steps = section!.split(/\n(?= {2}\S)/).map((s) => s.trim()).filter(Boolean);
    const commandOf = (step: string) => step.replace(/\s+# .*$/, '');
    // As printed, but with kubectl's discovery cache in the test's folder rather than ~/.kube.
    const env = { KUBECONFIG: join(dir.path, 'kubeconfig') };
    const runStep = (step: string) => shell(step.replace(/^kubectl /, `kubectl --cache-dir ${join(dir.path, 'cache')} `), env);
    const once = async (step: string) => {
      const r = await runStep(step);
      expect(r.ok, `${step}\n${r.out}`).toBe(true);
    };
    // The certificate and the annotation reach the proxy within seconds, as the walkthrough says.
    const until = (check: (out: string) => boolean) => async (step: string) => {
      let last = '';
      await waitFor(async () => {
        const r = await runStep(step);
        last = r.out;
        return r.ok && check(r.out);
      }, { what: step, timeoutMs: 10_000, intervalMs: 100 }).catch((err: Error) => {
        throw new Error(`${err.message}; its last output:\n${last}`);
      });
    };
    const expected: [RegExp, (step: string) => Promise<void>][] = [
      [/^openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 .*-days 30 .*subjectAltName=DNS:nginx\.example\.com /s, once],
      [/^kubectl --context=federation-cluster create secret tls nginx-tls /, once],
      [/^kubectl --context=federation-cluster patch ingress nginx /, once],
      [/^curl --cacert /, until((out) => /You are being served from us-central1-[abc]/.test(out))],
      [/^curl -sI --http2 /, until((out) => /^HTTP\/2 200/.test(out))],
      [/^kubectl .* meridian\.dev\/ssl-redirect=true$/, once],
      [new RegExp(`^curl -sI -H 'Host: ${HTTPS_HOST}' http://${vip}/$`), until((out) => /^HTTP\/1\.1 308 /.test(out) && out.includes(`location: https://${HTTPS_HOST}:${tlsPort}/\r\n`))],
      [/^kubectl .* meridian\.dev\/ssl-redirect-$/, once],
    ];
    expect(steps.map(commandOf).map((c, i) => expected[i]?.[0].test(c) ?? c), section).toEqual(expected.map(() => true));
    for (const [i, step] of steps.entries()) await expected[i]![1](step);
    await waitFor(async () => (await ask(vip)).status === 200, { what: 'plain HTTP served again', timeoutMs: 10_000, intervalMs: 100 });
  }, 60_000);
});
