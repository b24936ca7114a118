import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GeoLocator, locationOf } from '../../src/routing/geoip.js';

/** The embedded DB-IP Lite City database, with real records. */
describe('GeoIP', () => {
  let geo: GeoLocator;
  beforeAll(async () => {
    geo = await GeoLocator.open({ overrides: [['10.20.0.0/16', { lat: 1, lon: 2 }]], fallback: { lat: 41.26, lon: -95.86 } });
  });

  it.each([
    ['8.8.8.8', 'North America', (l: { lat: number; lon: number }) => l.lat > 25 && l.lat < 50 && l.lon < -60],
    ['81.2.69.142', 'Europe', (l: { lat: number; lon: number }) => l.lat > 45 && l.lat < 60 && l.lon > -10 && l.lon < 20],
    ['1.1.1.1', 'Oceania', (l: { lat: number; lon: number }) => l.lat < -10 && l.lon > 110],
    ['200.160.2.3', 'South America', (l: { lat: number; lon: number }) => l.lat < 0 && l.lon < -30 && l.lon > -80],
    ['41.203.18.1', 'Africa', (l: { lat: number; lon: number }) => l.lat < 0 && l.lon > 10 && l.lon < 40],
  ])('%s is in %s', (ip, _continent, check) => {
    const loc = geo.lookup(ip)!;
    expect(check(loc), JSON.stringify(loc)).toBe(true);
  });

  it('answers private and loopback addresses from overrides, then the proxy\'s own place', () => {
    expect(geo.lookup('10.20.1.1')).toEqual({ lat: 1, lon: 2 });
    expect(geo.lookup('127.0.0.1')).toEqual({ lat: 41.26, lon: -95.86 });
    expect(geo.lookup('::1')).toEqual({ lat: 41.26, lon: -95.86 });
  });

  it('reads both record shapes', () => {
    expect(locationOf({ latitude: 1, longitude: 2 } as never)).toEqual({ lat: 1, lon: 2 });
    expect(locationOf({ location: { latitude: 3, longitude: 4 } } as never)).toEqual({ lat: 3, lon: 4 });
    expect(locationOf({ country: { iso_code: 'JP' } } as never)).toEqual({ lat: 36.2, lon: 138.3 });
    expect(locationOf(null)).toBeUndefined();
  });
});

describe('meridian route', () => {
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(process.cwd(), 'dist', 'cli', 'main.js'), 'route', ...args]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });

  it.each([
    ['202.12.29.205', 'asia-east1'], // Brisbane: Asia is nearest of the three
    ['81.2.69.142', 'europe-west1'], // London
    ['8.8.8.8', 'us-central1'], // Mountain View
  ])('sends %s to %s, with the ranking', async (ip, region) => {
    const r = await run(['--config', 'examples/proxy/static.yaml', '--client-ip', ip, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ranked: { region: string }[]; choice: { cluster: string; reason: string } };
    expect(out.ranked[0]!.region).toBe(region);
    expect(out.choice.cluster.includes(region)).toBe(true);
  });

  it('prefers the client\'s own cluster for an in-cluster address', async () => {
    const r = await run(['--config', 'examples/proxy/static.yaml', '--client-ip', '127.20.0.9', '-o', 'json']);
    const out = JSON.parse(r.stdout) as { client: { sourceCluster: string }; choice: { cluster: string; reason: string } };
    expect(out.client.sourceCluster).toBe('gce-europe-west1-c');
    expect(out.choice).toMatchObject({ cluster: 'gce-europe-west1-c', reason: 'in-cluster' });
  });

  it('prints a table by default: the ranking with RTTs and their source, then the choice', async () => {
    const r = await run(['--config', 'examples/proxy/static.yaml', '--client-ip', '133.11.0.1']);
    expect(r.code, r.stderr).toBe(0);
    // Tokyo's cell is GCP's Tokyo region, which the measured table knows (not Azure's japaneast,
    // a few km nearer, which it does not): Asia, then the U.S. (130 ms) before Europe (220 ms).
    expect(r.stdout).toMatch(/^Client 133\.11\.0\.1, at 35\.69,139\.77: nearest region asia-northeast1\. Backend default\/nginx:80, from the table of examples\/proxy\/static\.yaml/);
    expect(r.stdout).toMatch(/^RANK\s+CLUSTER\s+REGION\s+RTT\s+RTT FROM\s+HEALTHY\s+CAPACITY\s+REASON$/m);
    expect(r.stdout).toMatch(/^1\s+gce-asia-east1-\w\s+asia-east1\s+45 ms\s+table\s+1\/1\s+100\/s\s+has spare capacity$/m);
    expect(r.stdout).toMatch(/^4\s+gce-us-central1-\w\s+us-central1\s+130 ms\s+table\s/m);
    expect(r.stdout).toMatch(/^7\s+gce-europe-west1-\w\s+europe-west1\s+220 ms\s+table\s/m);
    expect(r.stdout).toMatch(/^Choice: gce-asia-east1-\w 127\.\d+\.\d+\.\d+:\d+ \(nearest-with-capacity\)$/m);
  });

  it('rejects bad input with stable codes', async () => {
    expect((await run(['--config', 'examples/proxy/static.yaml', '--client-ip', '1.1.1.1', '-o', 'yaml'])).stderr).toContain('E_CLI_ARG');
    expect((await run(['--config', 'examples/proxy/static.yaml', '--client-ip', 'nope'])).stderr).toContain('E_CLI_ARG');
    expect((await run(['--config', 'package.json', '--client-ip', '1.1.1.1'])).stderr).toContain('E_CONFIG_INVALID');
  });
});
