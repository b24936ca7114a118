import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { prometheusConfig, RULES_FILE } from '../../../src/cli/observe.js';
import { allPanels, dashboardExprs, metricNames, ruleExprs, type GrafanaDashboard } from '../../helpers/promql.js';
import { tempDir } from '../../helpers/tmp.js';
import { parseObjects, render, kustomize, type K8sObject } from '../deploy/kustomize.js';

const run = promisify(execFile);
const PROM = 'deploy/prometheus';

/** promtool's verdict: its exit status and what it said. */
async function promtool(args: string[], cwd = process.cwd()): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd });
    return { ok: true, out: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

/**
 * Every metric name Meridian exports, read from the sources (prom-client's `name:` and the
 * request metrics registered by name), with a histogram's _bucket/_sum/_count and the
 * process metrics prom-client adds under each prefix.
 */
function exportedNames(): Set<string> {
  const names = new Set<string>(['up']);
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  for (const file of walk('src')) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/'((?:meridian)_[a-z0-9_]+)'/g)) {
      const n = m[1]!;
      for (const suffix of ['', '_bucket', '_sum', '_count']) names.add(n + suffix);
    }
  }
  return names;
}

describe('deploy/prometheus', () => {
  it('promtool accepts the alert rules', async () => {
    const r = await promtool(['check', 'rules', `${PROM}/meridian.rules.yml`]);
    expect(r.ok, r.out).toBe(true);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it("passes every alert's unit tests (promtool test rules)", async () => {
    const r = await promtool(['test', 'rules', 'meridian.rules.test.yml'], PROM);
    expect(r.ok, r.out).toBe(true);
    expect(r.out).toMatch(/SUCCESS/);
  });

  it('has a unit test in which each alert fires, and one in which it stays quiet', () => {
    const tests = parse(readFileSync(`${PROM}/meridian.rules.test.yml`, 'utf8')) as { rule_files: string[]; tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] };
    expect(tests.rule_files).toEqual(['meridian.rules.yml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of ruleExprs(`${PROM}/meridian.rules.yml`)) {
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} fires in a test`).toBe(true);
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} stays quiet in a test`).toBe(true);
    }
  });

  it('gives every alert a severity (page or warning), a summary and a description', () => {
    const doc = parse(readFileSync(`${PROM}/meridian.rules.yml`, 'utf8')) as { groups: { rules: { alert: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[] };
    for (const r of doc.groups.flatMap((g) => g.rules)) {
      expect(['page', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
    }
  });

  it('uses only metric names Meridian exports', () => {
    const known = exportedNames();
    for (const { where, expr } of ruleExprs(`${PROM}/meridian.rules.yml`)) for (const n of metricNames(expr)) expect(known.has(n), `${where}: ${n}`).toBe(true);
  });

  it('promtool accepts demo.yml (and the rules it loads)', async () => {
    const r = await promtool(['check', 'config', `${PROM}/demo.yml`]);
    expect(r.ok, r.out).toBe(true);
    expect(r.out).toMatch(/SUCCESS: 1 rule files found/);
  });

  it('promtool accepts prometheus.yml (and the rules it loads), its Kubernetes discovery checked apart', async () => {
    // Debian builds Prometheus without Kubernetes service discovery, so its promtool refuses
    // kubernetes_sd_configs outright: that block is checked here, the rest by promtool with a
    // static target in its place.
    const config = parse(readFileSync(`${PROM}/prometheus.yml`, 'utf8')) as { rule_files: string[]; scrape_configs: Record<string, unknown>[] };
    for (const job of config.scrape_configs) {
      expect(job.kubernetes_sd_configs, String(job.job_name)).toEqual([{ role: 'endpoints', namespaces: { names: ['federation-system'] } }]);
      delete job.kubernetes_sd_configs;
      job.static_configs = [{ targets: ['127.0.0.1:9901'] }];
    }
    config.rule_files = config.rule_files.map((f) => join(process.cwd(), PROM, f));
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, 'prometheus.yml'), stringify(config));
      const r = await promtool(['check', 'config', join(dir.path, 'prometheus.yml')]);
      expect(r.ok, r.out).toBe(true);
      expect(r.out).toMatch(/SUCCESS: 1 rule files found/);
    } finally {
      await dir.remove();
    }
  });

  it("promtool accepts the config `meridian demo --observe` writes", async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, 'prometheus.yml'), prometheusConfig({ proxies: ['127.0.0.1:9901', '127.0.0.1:9902'], controllers: ['127.0.0.1:9900'] }, { scrapeInterval: '1s', rulesFile: RULES_FILE }));
      const r = await promtool(['check', 'config', join(dir.path, 'prometheus.yml')]);
      expect(r.ok, r.out).toBe(true);
    } finally {
      await dir.remove();
    }
  });

  it("scrapes, in Kubernetes, the Services deploy/ creates, by their port names, in every overlay", async () => {
    const config = parse(readFileSync(`${PROM}/prometheus.yml`, 'utf8')) as { scrape_configs: { job_name: string; relabel_configs: { source_labels?: string[]; regex?: string; action?: string }[] }[] };
    const keeps = config.scrape_configs.map((j) => {
      const keep = j.relabel_configs.find((r) => r.action === 'keep')!;
      expect(keep.source_labels).toEqual(['__meta_kubernetes_service_name', '__meta_kubernetes_endpoint_port_name']);
      const [service, port] = keep.regex!.split(';');
      return { job: j.job_name, service: service!, port: port! };
    });
    expect(keeps.map((k) => k.job)).toEqual(['meridian-proxy', 'meridian-controller']);
    for (const dir of ['deploy/base', 'deploy/overlays/daemonset', 'deploy/overlays/try-it'] as const) {
      const objects = (await render(dir)).objects;
      for (const k of keeps) {
        const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === k.service);
        expect(svc, `${dir}: Service ${k.service}`).toBeDefined();
        expect((svc!.spec as { ports: { name: string }[] }).ports.map((p) => p.name), `${dir}: ${k.service}`).toContain(k.port);
      }
    }
  }, 60_000);
});

describe('deploy/prometheus-operator', () => {
  let objects: K8sObject[];
  let base: K8sObject[];
  beforeAll(async () => {
    objects = parseObjects(await kustomize('deploy/prometheus-operator'));
    base = (await render('deploy/base')).objects;
  }, 60_000);

  it('holds two ServiceMonitors and a PrometheusRule in federation-system, and nothing else (apart from deploy/base, which applies without the operator)', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['PrometheusRule/meridian', 'ServiceMonitor/meridian-controller', 'ServiceMonitor/meridian-proxy']);
    for (const o of objects) expect(o.metadata.namespace).toBe('federation-system');
    expect(base.some((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toBe(false);
  });

  it("selects deploy/base's metrics Services by label and port name, under the jobs the alerts know", () => {
    for (const [monitor, job] of [['meridian-proxy', 'meridian-proxy'], ['meridian-controller', 'meridian-controller']] as const) {
      const sm = objects.find((o) => o.kind === 'ServiceMonitor' && o.metadata.name === monitor)!;
      const spec = sm.spec as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string; relabelings: { targetLabel: string; replacement: string }[] }[] };
      const selected = base.filter((o) => o.kind === 'Service' && Object.entries(spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v));
      const withPort = selected.filter((s) => (s.spec as { ports: { name: string }[] }).ports.some((p) => p.name === spec.endpoints[0]!.port));
      expect(withPort.map((s) => s.metadata.name), monitor).toEqual([monitor === 'meridian-proxy' ? 'meridian-proxy-admin' : 'meridian-controller-metrics']);
      expect(spec.endpoints[0]!.path).toBe('/metrics');
      expect(spec.endpoints[0]!.relabelings).toContainEqual({ targetLabel: 'job', replacement: job });
    }
  });

  it('carries exactly the groups of deploy/prometheus/meridian.rules.yml', () => {
    const rule = objects.find((o) => o.kind === 'PrometheusRule')!;
    expect((rule.spec as { groups: unknown }).groups).toEqual((parse(readFileSync(`${PROM}/meridian.rules.yml`, 'utf8')) as { groups: unknown }).groups);
  });
});

describe('deploy/grafana/meridian.json', () => {
  const dashboard = JSON.parse(readFileSync('deploy/grafana/meridian.json', 'utf8')) as GrafanaDashboard & { uid: string; id: unknown; __inputs?: unknown };

  it('imports as is: the Prometheus data source is a variable every panel and query uses, nothing names a data source of some installation', () => {
    expect(dashboard.id).toBeNull();
    expect(dashboard.uid).toBe('meridian');
    const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(ds).toMatchObject({ name: 'datasource', query: 'prometheus' });
    for (const p of allPanels(dashboard).filter((x) => x.type !== 'row')) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets ?? []) expect(t.datasource, `${p.title} ${t.refId}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) expect(v.datasource?.uid).toBe('${datasource}');
  });

  it('lays its panels out on the 24-column grid, each with a unique id', () => {
    const ids = allPanels(dashboard).map((p) => (p as unknown as { id: number }).id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of allPanels(dashboard)) {
      const g = (p as unknown as { gridPos: { x: number; w: number } }).gridPos;
      expect(g.x + g.w, p.title).toBeLessThanOrEqual(24);
    }
  });

  it('queries only metric names Meridian exports', () => {
    const known = exportedNames();
    const exprs = dashboardExprs(dashboard, { __rate_interval: '1m', __range: '5m', backend: '.*' });
    expect(exprs.length).toBeGreaterThan(30);
    for (const { where, expr } of exprs) {
      expect(metricNames(expr).length, `${where} selects something`).toBeGreaterThan(0);
      for (const n of metricNames(expr)) expect(known.has(n), `${where}: ${n}`).toBe(true);
    }
  });

  it('shows what an operator of a global load balancer asks of it', () => {
    const all = dashboardExprs(dashboard, { __rate_interval: '1m', __range: '5m', backend: '.*' })
      .map((e) => e.expr)
      .join('\n');
    for (const needed of [
      'meridian_proxy_flow_requests_total', // where does the world go
      'meridian_proxy_added_latency_seconds_bucket',
      'meridian_proxy_spillover_total',
      'meridian_proxy_panic_total',
      'meridian_proxy_shard_healthy_endpoints',
      'meridian_proxy_shard_fleet_down_endpoints',
      'meridian_store_sync_lag_seconds',
      'meridian_controller_cluster_state',
      'meridian_controller_propagation_seconds_bucket',
      'meridian_controller_queue_depth',
      'meridian_controller_drift_repairs_total',
      'meridian_controller_object_problems',
    ]) {
      expect(all, needed).toContain(needed);
    }
  });
});
