import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTPS_HOST, WORLD_CLIENTS } from '../../../src/cli/walkthrough.js';
import { SEED_CLUSTERS } from '../../../src/sandbox/cluster/topology.js';
import type { StatusDocument } from '../../../src/proxy/status.js';
import { startDemo, type DemoProcess } from '../../helpers/demo-process.js';
import { Kubectl, pathKubectl } from '../../helpers/kubectl.js';
import { freePort } from '../../helpers/redis.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

/** Debian's chromium (.ci/run installs it); nothing here downloads a browser. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/**
 * Where the screenshot goes: the test's temporary folder, so a test run leaves the checkout clean;
 * `MERIDIAN_SCREENSHOT=docs/status-page.png` refreshes the picture the README shows.
 */
const SCREENSHOT_TO = process.env.MERIDIAN_SCREENSHOT;
const TOKYO = WORLD_CLIENTS.find((c) => c.city === 'Tokyo')!.ip;
/** The status page's colour for a cluster that is down (ui/style.css, --down). */
const RED = 'rgb(229, 72, 77)';
const GREEN = 'rgb(63, 185, 80)';
const run = promisify(execFile);

/**
 * The status page in a real browser against the seed walkthrough: `meridian demo` (the sandbox's
 * nine clusters, the controller, a proxy) with clients around the world sending requests, the
 * page opened in headless Chromium, and a zone taken down through the sandbox's fault API.
 */
describe('the status page at /ui, in a browser, against the demo', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let demo: DemoProcess | undefined;
  let vip = '';
  let admin = '';
  let server: BrowserServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const problems: string[] = [];
  let traffic: Promise<void> | undefined;
  let stopTraffic = false;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });

  /** One GET of the VIP as a client at `xff`. */
  const ask = (xff: string) =>
    new Promise<void>((resolve) => {
      const [host, port] = vip.split(':');
      const req = request({ host, port: Number(port), path: '/', agent, headers: { 'x-forwarded-for': xff } }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', () => resolve());
      req.end();
    });

  /** The sandbox's fault API (what `meridian sandbox fault` calls). */
  const fault = async (path: string) => {
    const { controlUrl } = JSON.parse(await readFile(join(dir.path, 'kubeconfig.sandbox.json'), 'utf8')) as { controlUrl: string };
    const res = await fetch(`${controlUrl}${path}`, { method: 'POST' });
    expect(res.status, await res.text()).toBe(200);
  };

  /** The map's cluster markers as the browser draws them (page code as text: the tests compile without the DOM's types). */
  const clusterStates = () =>
    page.evaluate<{ name: string; state: string; fill: string; cx: number; cy: number }[]>(
      "[...document.querySelectorAll('#map circle.cluster')].map((e) => ({ name: e.dataset.cluster, state: e.dataset.state, fill: getComputedStyle(e).fill, cx: Number(e.getAttribute('cx')), cy: Number(e.getAttribute('cy')) }))",
    );
  const count = (selector: string) => page.evaluate<number>(`document.querySelectorAll(${JSON.stringify(selector)}).length`);

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium), or set CHROMIUM_PATH`);
    dir = await tempDir();
    vip = `127.0.0.1:${await freePort()}`;
    admin = `127.0.0.1:${await freePort()}`;
    demo = await startDemo(['--kubeconfig', join(dir.path, 'kubeconfig'), '--vip', vip, '--vip-tls', `127.0.0.1:${await freePort()}`, '--proxy-admin', admin, '--controller-metrics', '127.0.0.1:0'], { intervalMs: 50 });

    // Clients around the world, ~40 requests a second in all, until the tests end (2 min at most).
    const deadline = Date.now() + 120_000;
    traffic = (async () => {
      while (!stopTraffic && Date.now() < deadline) {
        await Promise.all(WORLD_CLIENTS.map((c) => ask(c.ip)));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    server = await chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
    browser = await chromium.connect(server.wsEndpoint());
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    // A CSP violation, a failed load or a script error is a console error.
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('request', (r) => {
      if (!r.url().startsWith(`http://${admin}/`)) problems.push(`request to another origin: ${r.url()}`);
    });
    const res = await page.goto(`http://${admin}/ui`);
    expect(res?.status()).toBe(200);
    expect(page.url()).toBe(`http://${admin}/ui/`);
  }, 150_000);

  afterAll(async () => {
    stopTraffic = true;
    await traffic;
    agent.destroy();
    await browser?.close().catch(() => {});
    const pid = server?.process().pid;
    await server?.close().catch(() => {});
    // The browser is ours: make sure it is gone, by its pid.
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already exited
      }
    }
    await demo?.stop();
    await dir?.remove();
  });

  it('draws the nine clusters of the seed on the world map, every one up, each region where it is', async () => {
    await waitFor(async () => (await clusterStates()).length === 9 && (await clusterStates()).every((c) => c.state === 'up'), { what: '9 clusters up on the map', timeoutMs: 15_000, intervalMs: 100 });
    const clusters = await clusterStates();
    expect(clusters.map((c) => c.name).sort()).toEqual([...SEED_CLUSTERS].sort());
    for (const c of clusters) expect(c.fill).toBe(GREEN);
    const x = (region: string) => clusters.filter((c) => c.name!.includes(region)).reduce((s, c) => s + c.cx, 0) / 3;
    const y = (region: string) => clusters.filter((c) => c.name!.includes(region)).reduce((s, c) => s + c.cy, 0) / 3;
    expect(x('us-central1')).toBeLessThan(x('europe-west1')); // west to east
    expect(x('europe-west1')).toBeLessThan(x('asia-east1'));
    expect(y('europe-west1')).toBeLessThan(y('asia-east1')); // Belgium is north of Taiwan
    expect(await count('#clusters tbody tr')).toBe(9);
    expect(await page.textContent('#live')).toMatch(/^live/);
  });

  it('shows the last minute\'s flows from the clients\' regions to the clusters that served them', async () => {
    await waitFor(async () => (await count('#map path.flow')) >= 3, { what: 'flows on the map', timeoutMs: 10_000, intervalMs: 100 });
    const arcs = await page.evaluate<string[]>("[...document.querySelectorAll('#map path.flow')].map((e) => `${e.dataset.from}>${e.dataset.to}`)");
    expect(arcs.some((a) => /^asia-northeast1>gce-asia-east1-[abc]$/.test(a))).toBe(true); // Tokyo → Taiwan
    expect(arcs.some((a) => /^europe-west\d>gce-europe-west1-[abc]$/.test(a))).toBe(true); // London → Belgium
    const doc = (await (await fetch(`http://${admin}/status`)).json()) as StatusDocument;
    const tokyo = doc.flows.flows.filter((f) => f.from === 'asia-northeast1');
    expect(tokyo.length).toBeGreaterThan(0);
    expect(tokyo.every((f) => f.to.startsWith('gce-asia-east1-'))).toBe(true);
    expect(await count('#shards tbody tr')).toBe(9);
    expect(await page.textContent('#fleet tbody')).toContain('(this one)');
    expect(await count('#chart canvas')).toBeGreaterThan(0);
  });

  it('turns a zone red within a few seconds of its pods going down', async () => {
    await fault('/faults/zones/asia-east1-a/pods?down=true');
    const downAt = performance.now();
    await waitFor(async () => (await clusterStates()).find((c) => c.name === 'gce-asia-east1-a')?.fill === RED, { what: 'gce-asia-east1-a red on the map', timeoutMs: 15_000, intervalMs: 50 });
    const seconds = (performance.now() - downAt) / 1000;
    expect(seconds).toBeLessThan(5);
    const states = Object.fromEntries((await clusterStates()).map((c) => [c.name, c.state]));
    expect(states['gce-asia-east1-a']).toBe('down');
    expect(Object.values(states).filter((s) => s === 'up')).toHaveLength(8);
    expect(await page.getAttribute('#clusters tr[data-cluster="gce-asia-east1-a"]', 'data-state')).toBe('down');
  });

  it('routes a Tokyo address in the route box: asia-east1, around the zone that is down', async () => {
    await page.fill('#route-ip', TOKYO);
    await page.click('#route-form button[type=submit]');
    await page.waitForSelector('#route-result[data-choice]');
    const choice = await page.getAttribute('#route-result', 'data-choice');
    expect(choice).toMatch(/^gce-asia-east1-[bc]$/);
    const text = (await page.textContent('#route-result'))!;
    expect(text).toContain(`Client ${TOKYO}`);
    expect(text).toContain('nearest region asia-northeast1');
    expect(text).toContain('no healthy endpoint'); // the ranking says why not gce-asia-east1-a
    expect(await count('#route-result tbody tr')).toBe(9);
    expect(await count('#map .route-line')).toBe(1);
    expect(await page.getAttribute(`#map circle.cluster[data-cluster="${choice}"]`, 'class')).toContain('chosen');

    // The picture the README shows: the map with its flows, the zone down, Tokyo's route.
    await page.waitForTimeout(1_200); // one more poll, so the chart has drawn its latest second
    const screenshot = SCREENSHOT_TO ? join(process.cwd(), SCREENSHOT_TO) : join(dir.path, 'status-page.png');
    await mkdir(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    expect(existsSync(screenshot)).toBe(true);
  });

  it('shows the HTTPS listener\'s certificates: none and strict SNI at first, then the Secret an Ingress names, its near expiry marked', async () => {
    // The demo's proxy has a TLS listener and takes the federation's certificates; none yet, and no default.
    await page.waitForSelector('#tls-panel:not([hidden])');
    expect(await page.isVisible('#tls-strict')).toBe(true);
    expect(await page.textContent('#tls-strict')).toBe('strict SNI: clients sending no name or an unknown one get no certificate');
    expect(await page.textContent('#tls tbody')).toContain('No certificate yet');

    // A certificate with 5 days left, as a TLS Secret a federated Ingress names (the walkthrough's steps).
    const cert = join(dir.path, 'nginx-soon.pem');
    const key = join(dir.path, 'nginx-soon.key');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-days', '5', '-subj', `/CN=${HTTPS_HOST}`, '-addext', `subjectAltName=DNS:${HTTPS_HOST}`, '-keyout', key, '-out', cert]);
    const kubectl = new Kubectl(pathKubectl(), join(dir.path, 'kubeconfig'), join(dir.path, 'kubectl-cache'));
    await kubectl.ok(['--context=federation-cluster', 'create', 'secret', 'tls', 'nginx-tls', '--cert', cert, '--key', key]);
    await kubectl.ok(['--context=federation-cluster', 'patch', 'ingress', 'nginx', '--type', 'merge', '-p', JSON.stringify({ spec: { tls: [{ hosts: [HTTPS_HOST], secretName: 'nginx-tls' }] } })]);
    await page.waitForSelector('#tls tbody tr[data-source="secret"]', { timeout: 15_000 });

    const rows = await page.evaluate<{ cells: string[]; soon: boolean; color: string }[]>(
      "[...document.querySelectorAll('#tls tbody tr')].map((r) => ({ cells: [...r.cells].map((c) => c.textContent), soon: r.classList.contains('expires-soon'), color: getComputedStyle(r.querySelector('td.expiry')).color }))",
    );
    expect(rows).toHaveLength(1);
    const [names, source, keyType, , daysLeft, fingerprint, isDefault] = rows[0]!.cells;
    expect([names, source, keyType, isDefault]).toEqual([HTTPS_HOST, 'Secret default/nginx-tls (Ingress default/nginx)', 'ECDSA', '–']);
    expect(daysLeft).toMatch(/^4 · renew$/);
    expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect([rows[0]!.soon, rows[0]!.color]).toEqual([true, RED]);
    // Still no default: the Secret serves its own name only.
    expect(await page.isVisible('#tls-strict')).toBe(true);
    expect(await page.textContent('#tls-panel')).not.toContain('PRIVATE KEY');
  }, 30_000);

  it('turns the zone green again when it comes back, and ran without an error, a CSP violation or a request elsewhere', async () => {
    await fault('/faults/zones/asia-east1-a/pods?down=false');
    await waitFor(async () => (await clusterStates()).every((c) => c.state === 'up'), { what: 'every cluster up again', timeoutMs: 20_000, intervalMs: 100 });
    expect(problems).toEqual([]);
  }, 30_000);
});
