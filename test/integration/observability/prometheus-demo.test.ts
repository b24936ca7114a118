import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RULES_FILE } from '../../../src/cli/observe.js';
import { IN_CLUSTER_CLIENT, WORLD_CLIENTS } from '../../../src/cli/walkthrough.js';
import { dashboardExprs, metricNames, ruleExprs, withoutThresholds, type GrafanaDashboard } from '../../helpers/promql.js';
import { sandboxFault, startDemo, type DemoProcess } from '../../helpers/demo-process.js';
import { CLI } from '../../helpers/proxy-process.js';
import { demoPorts } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * `meridian demo --observe` for real: the demo with two proxies in a fleet, a real Prometheus it
 * starts scraping them every second with the alert rules loaded, real traffic from around the
 * world through both proxies, a cluster's pods killed under it. Then every query of the Grafana
 * dashboard and every alert expression runs through Prometheus's HTTP API and must find data:
 * a metric renamed in the code, or misspelt in a query, cannot hide.
 */

interface PromResult {
  status: string;
  error?: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

/** One GET of a VIP as a client at `xff` (or from `localAddress`); resolves with the status. */
function ask(port: number, opts: { xff?: string; localAddress?: string }): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: opts.xff ? { 'x-forwarded-for': opts.xff } : {}, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** The process listening for Prometheus on `port`: its PID and its command line (from /proc). */
function prometheusProcess(port: number): { pid: number; args: string[] } | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (args.includes(`--web.listen-address=127.0.0.1:${port}`)) return { pid: Number(entry), args };
  }
  return undefined;
}

describe('meridian demo --observe', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let demo: DemoProcess | undefined;
  let vip = 0;
  let prometheus = '';
  const query = async (q: string): Promise<PromResult> => (await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(q)}`)).json() as Promise<PromResult>;
  const fault = (...args: string[]) => sandboxFault(join(dir.path, 'kubeconfig'), ...args);

  beforeAll(async () => {
    dir = await tempDir();
    const ports = await demoPorts(2);
    vip = ports.vip;
    const { vipTls, admin } = ports;
    demo = await startDemo(['--observe', '--proxies', '2', '--kubeconfig', join(dir.path, 'kubeconfig'), '--vip', `127.0.0.1:${vip}`, '--vip-tls', `127.0.0.1:${vipTls}`, '--proxy-admin', `127.0.0.1:${admin}`, '--controller-metrics', '127.0.0.1:0']);
    prometheus = /^Prometheus: (http:\/\/127\.0\.0\.1:\d+)/m.exec(demo.output())?.[1] ?? '';
    if (!prometheus) throw new Error(`the demo printed no Prometheus URL: ${demo.output()}`);
  }, 120_000);

  afterAll(async () => {
    await demo?.stop();
    await dir?.remove();
  });

  it('runs Prometheus on loopback with the alert rules, scraping both proxies and the controller', async () => {
    const rules = (await (await fetch(`${prometheus}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual(ruleExprs(RULES_FILE).map((r) => r.alert).sort());
    await waitFor(
      async () => {
        const targets = (await (await fetch(`${prometheus}/api/v1/targets`)).json()) as { data: { activeTargets: { labels: { job: string }; health: string }[] } };
        const up = targets.data.activeTargets.filter((t) => t.health === 'up').map((t) => t.labels.job).sort();
        return up.join() === 'meridian-controller,meridian-proxy,meridian-proxy';
      },
      { what: 'three targets up', timeoutMs: 10_000 },
    );
    expect(prometheusProcess(Number(new URL(prometheus).port))).toBeDefined();
  });

  it('finds data for every query of the dashboard and every alert, after traffic from around the world and a cluster lost under it', async () => {
    // Clients of four continents and a pod inside gce-asia-east1-b, through both proxies, ~60 req/s.
    let sending = true;
    const clients = [...WORLD_CLIENTS.map((c) => ({ xff: c.ip })), { localAddress: IN_CLUSTER_CLIENT }];
    const statuses: number[] = [];
    const traffic = (async () => {
      for (let i = 0; sending; i++) {
        statuses.push(...(await Promise.all(clients.map((c, k) => ask(vip + ((i + k) % 2), c)))));
        await new Promise((r) => setTimeout(r, 80));
      }
    })();
    // Tokyo's nearest clusters lose a zone's pods for a while: refused connections, retries, a shard down.
    await new Promise((r) => setTimeout(r, 3_000));
    await fault('--scope', 'zone', 'pods-down', 'asia-east1-a');
    await waitFor(async () => ((await query('sum(meridian_proxy_upstream_errors_total)')).data.result.length > 0 ? true : undefined), { what: 'upstream errors scraped', timeoutMs: 15_000, intervalMs: 250 });
    await fault('--scope', 'zone', 'pods-up', 'asia-east1-a');
    // Enough scrapes of it all for every rate over a minute.
    await new Promise((r) => setTimeout(r, 4_000));
    sending = false;
    await traffic;
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(200);
    // Failover as promised: nobody saw an error while a zone went away.
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    const dashboard = JSON.parse(readFileSync('deploy/grafana/meridian.json', 'utf8')) as GrafanaDashboard;
    const checks = [
      ...dashboardExprs(dashboard, { __rate_interval: '1m', __range: '5m', backend: '.*' }).map((e) => ({ ...e, run: e.expr })),
      // An alert is rightly empty while all is well: its selection, without the threshold, is not.
      ...ruleExprs(RULES_FILE).map((r) => ({ ...r, run: withoutThresholds(r.expr) })),
    ];
    const names = new Set(checks.flatMap((c) => metricNames(c.run)));
    const missing: string[] = [];
    for (const name of names) {
      const r = await query(`group({__name__="${name}"})`);
      if (r.status !== 'success' || r.data.result.length === 0) missing.push(`metric ${name}: no data`);
    }
    for (const c of checks) {
      const r = await query(c.run);
      if (r.status !== 'success') missing.push(`${c.where}: ${r.error} in ${c.run}`);
      else if (r.data.result.length === 0) missing.push(`${c.where}: no data for ${c.run}`);
    }
    expect(missing).toEqual([]);

    // Everything the demo created has reached every member: nothing waits (a change that can never
    // land, like a system object's, would make this grow for ever and page MeridianPropagationStuck).
    const pending = await query('max(meridian_controller_pending_change_age_seconds)');
    expect(Number(pending.data.result[0]?.value[1])).toBeLessThan(5);

    // And the flows say where the world went: clients near Asian, European and American regions
    // to the demo's region on their continent.
    const flows = await query('sum by (client_region, region) (meridian_proxy_flow_requests_total) > 0');
    const served = flows.data.result.map((s) => `${s.metric.client_region}→${s.metric.region}`);
    expect(served.some((f) => /^asia-[a-z]+\d→asia-east1$/.test(f)), served.join(' ')).toBe(true);
    expect(served.some((f) => /^europe-[a-z]+\d→europe-west1$/.test(f)), served.join(' ')).toBe(true);
    expect(served.some((f) => /^(us|northamerica|southamerica)-[a-z]+\d→us-central1$/.test(f)), served.join(' ')).toBe(true);
  }, 60_000);

  it('stops its Prometheus with the demo, by PID, and removes its data', async () => {
    const port = Number(new URL(prometheus).port);
    const running = prometheusProcess(port)!;
    const tsdb = running.args.find((a) => a.startsWith('--storage.tsdb.path='))!.split('=')[1]!;
    expect(existsSync(tsdb)).toBe(true);
    await demo!.stop();
    await waitFor(() => prometheusProcess(port) === undefined, { what: 'prometheus gone', timeoutMs: 10_000 });
    expect(existsSync(tsdb)).toBe(false);
    await expect(fetch(`${prometheus}/-/ready`)).rejects.toThrow();
  }, 30_000);
});

describe('meridian demo --observe without Prometheus installed', () => {
  it('says so, with what to do, and goes on', async () => {
    const dir = await tempDir();
    const empty = await tempDir();
    const { vip, vipTls, admin } = await demoPorts(1);
    const demo = spawn(process.execPath, [CLI, 'demo', '--observe', '--empty', '--kubeconfig', join(dir.path, 'kubeconfig'), '--vip', `127.0.0.1:${vip}`, '--vip-tls', `127.0.0.1:${vipTls}`, '--proxy-admin', `127.0.0.1:${admin}`, '--controller-metrics', '127.0.0.1:0'], {
      env: { ...process.env, PATH: empty.path, MERIDIAN_LOG_LEVEL: 'silent' },
    });
    let out = '';
    let err = '';
    demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
    demo.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await waitFor(() => /^ready$/m.test(out) || demo.exitCode !== null, { what: 'the demo ready', timeoutMs: 60_000 });
      expect(demo.exitCode, err).toBeNull();
      expect(err).toContain('meridian: demo --observe: E_PROMETHEUS_MISSING: prometheus is not installed');
      expect(err).toContain('hint: install it (Debian: apt-get install prometheus)');
      expect(out).not.toContain('Prometheus:');
      expect((await fetch(`http://127.0.0.1:${vip}/`)).headers.get('x-meridian-error')).toBe('E_NO_ROUTE');
    } finally {
      if (demo.exitCode === null) {
        const exited = new Promise((r) => demo.once('exit', r));
        demo.kill('SIGINT');
        await exited;
      }
      await dir.remove();
      await empty.remove();
    }
  }, 90_000);
});
