import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/common/log.js';
import { startController, type RunningController } from '../../../src/federation/controller/controller.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { RedisStore } from '../../../src/state/redis-store.js';
import { parseRedisUrl } from '../../../src/state/redis-target.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { CLI, startProxyProcess, type ProxyProcess } from '../../helpers/proxy-process.js';
import { TestRedis } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const run = promisify(execFile);

/** `meridian …` as a user runs it: stdout, stderr and the exit code. */
async function meridian(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, MERIDIAN_LOG_LEVEL: 'silent', REDIS_URL: '' } });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/**
 * The controller publishes the routing table into Redis; proxies with no table of their own
 * follow it. Three sandbox members in three regions, the sandbox emulating WAN latency, so each
 * proxy's probes measure real round trips from the range of the region it is in.
 */
describe('fleet: the controller\'s table through Redis, and the fleet seen from the CLI', () => {
  let redis: TestRedis;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let sb: Sandbox;
  let controller: RunningController;
  const proxies: ProxyProcess[] = [];
  let usBind: string;

  const proxy = async (id: string) => {
    const p = await startProxyProcess(dir.path, id, { region: 'us-central1', upstreamBind: usBind, healthCheck: { intervalMs: 500, timeoutMs: 1_000 } }, ['--redis', redis.url, '--fleet', 'ctl']);
    proxies.push(p);
    return p;
  };
  const servesSeed = async (p: ProxyProcess) => {
    const r = await fetch(p.url).catch(() => undefined);
    return r?.status === 200 && /You are being served from/.test(await r.text());
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    dir = await tempDir();
    sb = await startSandbox({
      kubeconfigPath: join(dir.path, 'kubeconfig'),
      clusters: 'gce-asia-east1-a,gce-europe-west1-b,gce-us-central1-a',
      wanLatency: true,
    });
    // Asia nearer to the U.S. than the static table says (150 ms): the proxies measure 30.
    sb.faults.setWanLatency('us-central1', 'asia-east1', 30);
    const usCIDR = sb.members.get('gce-us-central1-a')!.podCIDR; // 127.x.0.0/16
    usBind = usCIDR.replace(/\.0\.0\/16$/, '.255.250');
    const store = new RedisStore(parseRedisUrl(redis.url), 'ctl');
    controller = await startController({
      kubeconfigText: await readFile(sb.kubeconfigPath, 'utf8'),
      federationContext: 'federation-cluster',
      probeIntervalMs: 500,
      resyncMs: 2_000,
      store,
      logger: createLogger('controller-test', 'silent'),
    });
    const k = new Kubectl(pathKubectl(), sb.kubeconfigPath, join(dir.path, 'cache'));
    await k.ok(['--context', 'federation-cluster', 'create', '-f', 'examples/services/nginx.yaml', '-f', 'examples/ingress/ingress.yaml', '-f', 'examples/replicasets/nginx-rs.yaml']);
    const check = new RedisStore(parseRedisUrl(redis.url), 'ctl');
    await check.ready();
    await waitFor(async () => ((await check.readTable())?.body.match(/"cluster":/g) ?? []).length >= 3 && /"endpoints":\[\{/.test((await check.readTable())!.body), { what: 'the controller\'s table in Redis with endpoints', timeoutMs: 30_000 });
    await check.close();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await controller?.stop();
    await sb?.stop();
    await redis?.stop();
    await dir?.remove();
  });

  it('every proxy serves the controller\'s table with no file; a fourth one started late serves within one second', async () => {
    const first = await Promise.all(['f1', 'f2', 'f3'].map(proxy));
    for (const p of first) expect(await servesSeed(p)).toBe(true);
    const spawned = performance.now();
    const late = startProxyProcess(dir.path, 'f4', { region: 'us-central1', upstreamBind: usBind }, ['--redis', redis.url, '--fleet', 'ctl']);
    const port = (await late).port;
    proxies.push(await late);
    const listening = performance.now();
    const r = await fetch(`http://127.0.0.1:${port}/`);
    const served = performance.now();
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/You are being served from us-central1-a/);
    // It had the table before it listened: its first request is served, within a second of
    // the process being up. Start-up itself (~1 s quiet) only has to end: in the suite, beside
    // the browser and Prometheus tests, node's start-up alone once took 5.4 s.
    expect(served - listening).toBeLessThan(1_000);
    expect(listening - spawned).toBeLessThan(20_000);
  }, 30_000);

  it('`meridian fleet` shows the proxies, their table and sync, and per shard the fleet\'s verdict and rate against capacity', async () => {
    await waitFor(async () => (await Promise.all(proxies.map((p) => p.metric('meridian_fleet_proxies')))).every((n) => n === 4), { what: 'four proxies in sync' });
    await new Promise((r) => setTimeout(r, 1_100)); // each has written a heartbeat since
    const text = await meridian('fleet', '--redis', redis.url, '--fleet', 'ctl');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Fleet ctl at redis:\/\/127\.0\.0\.1:\d+ \(fleet ctl\): 4 proxies, table [0-9a-f]{12}, 3 probers per endpoint$/m);
    expect(text.stdout).toMatch(/^NAME\s+HOST\s+REGION\s+TABLE\s+SYNC LAG\s+PROBES\s+AGE$/m);
    for (const id of ['f1', 'f2', 'f3', 'f4']) expect(text.stdout).toMatch(new RegExp(`^${id}\\s+\\S+\\s+us-central1\\s+[0-9a-f]{12}\\s+\\d+\\.\\ds\\s+\\d+ \\(\\d+ voting\\)\\s+\\d+s$`, 'm'));
    // The seed's ReplicaSet of 9 over three members: 3 pods each.
    expect(text.stdout).toMatch(/^BACKEND\s+CLUSTER\s+REGION\s+HEALTHY\s+DOWN \(VOTES\)\s+EJECTED\s+RATE\/CAPACITY$/m);
    expect(text.stdout).toMatch(/^default\/nginx:80\s+gce-asia-east1-a\s+asia-east1\s+3\/3\s+-\s+-\s+[\d.]+\/unlimited$/m);
    expect(text.stdout).toMatch(/^Measured round trips: us-central1 → asia-east1 \d+ ms, us-central1 → europe-west1 \d+ ms$/m);
    const json = await meridian('fleet', '--redis', redis.url, '--fleet', 'ctl', '-o', 'json');
    const view = JSON.parse(json.stdout) as { proxies: { id: string }[]; shards: { cluster: string; healthy: number; endpoints: { probers: number }[] }[] };
    expect(view.proxies.map((p) => p.id)).toEqual(['f1', 'f2', 'f3', 'f4']);
    expect(view.shards.map((s) => s.cluster).sort()).toEqual(['gce-asia-east1-a', 'gce-europe-west1-b', 'gce-us-central1-a']);
    for (const s of view.shards) expect(s.endpoints.every((e) => e.probers === 3)).toBe(true);
  });

  it('ranks regions by the fleet\'s measured latency, and `meridian route --redis` says it did', async () => {
    // The proxies probe from the U.S. range: Asia answers after 30 ms, Europe after 100.
    await waitFor(async () => {
      const rtt = (await proxies[0]!.debug()).fleet?.measuredRttMs ?? {};
      return rtt['us-central1|asia-east1']! < 80 && rtt['us-central1|europe-west1']! > 80;
    }, { what: 'measured round trips', timeoutMs: 15_000 });
    const r = await meridian('route', '--redis', redis.url, '--fleet', 'ctl', '--region', 'us-central1', '--client-ip', '127.0.0.1', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const explained = JSON.parse(r.stdout) as { from: string; ranked: { region: string; rttSource: string; estimatedRttMs: number }[] };
    expect(explained.from).toMatch(/^fleet "ctl" \(table [0-9a-f]{12}, 4 proxies' health, load and latency\)$/);
    // The static table would put Europe (100 ms) before Asia (150 ms).
    expect(explained.ranked.map((x) => [x.region, x.rttSource])).toEqual([
      ['us-central1', 'same-region'],
      ['asia-east1', 'fleet'],
      ['europe-west1', 'fleet'],
    ]);
    expect(explained.ranked[1]!.estimatedRttMs).toBeLessThan(80);
  });

  it('rejects bad input with clear errors and stable codes', async () => {
    const badUrl = await meridian('fleet', '--redis', 'localhost:6379');
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/E_STORE_URL: Redis URL "localhost:6379": not a Redis URL/);
    const unknown = await meridian('fleet', '--redis', redis.url, '--fleet', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/E_FLEET_UNKNOWN: no fleet "nope".*\n\s+hint: fleets there: ctl/);
    const down = await meridian('fleet', '--redis', 'redis://127.0.0.1:1');
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/E_STORE_UNREACHABLE: cannot reach redis:\/\/127\.0\.0\.1:1/);
    const badFleet = await meridian('fleet', '--redis', redis.url, '--fleet', 'Not_A_Label');
    expect(badFleet.code).toBe(2);
    expect(badFleet.stderr).toMatch(/E_STORE_FLEET/);
  });

  it('republishes the table when Redis comes back empty, and the proxies rejoin', async () => {
    await redis.kill();
    await new Promise((r) => setTimeout(r, 500));
    await redis.restart();
    await waitFor(async () => (await redis.cli('hget', 'meridian:{ctl}:table', 'version')).length === 12 && (await redis.cli('scard', 'meridian:{ctl}:members')) === '4', { what: 'table and members back in Redis', timeoutMs: 5_000 });
    for (const p of proxies) expect(await servesSeed(p)).toBe(true);
  });
});
