import { X509Certificate, createHash } from 'node:crypto';
import { readFile, stat, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type RunningController } from '../../../src/federation/controller/controller.js';
import { KubeRest } from '../../../src/kube/rest.js';
import { startSandbox, type Sandbox } from '../../../src/sandbox/sandbox.js';
import { RedisStore } from '../../../src/state/redis-store.js';
import { parseRedisUrl } from '../../../src/state/redis-target.js';
import { startProxyProcess, type ProxyProcess } from '../../helpers/proxy-process.js';
import { freePort, TestRedis } from '../../helpers/redis.js';
import { TestCA, type CertFiles } from '../../helpers/tls-certs.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';
import { httpsGet, sClient, servedName } from './setup.js';

interface Pair {
  cert: string;
  key: string;
  fingerprint: string;
}

/** The fingerprint of the certificate a new TLS connection asking for `servername` gets; undefined when the handshake fails. */
function servedFingerprint(port: number, servername: string, ca: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['http/1.1'] });
    socket.setTimeout(3_000, () => socket.destroy());
    socket.once('secureConnect', () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.once('error', () => resolve(undefined));
    socket.once('close', () => resolve(undefined));
  });
}

/**
 * A federated Ingress's spec.tls reaches proxies that hold no Kubernetes credentials: the
 * controller (sandbox federation, one member) publishes the Secret's certificate to Redis and to
 * a file beside its table; one proxy follows the fleet's store, one reads the file. Both start
 * with no certificate at all.
 */
describe('TLS certificates from the federation, through Redis and through the controller\'s file', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let redis: TestRedis;
  let sb: Sandbox;
  let fed: KubeRest;
  let controller: RunningController;
  let controllerLogs = '';
  let startTheController: (extra?: { defaultCertificate?: string }) => Promise<void>;
  let ca: TestCA;
  /** The test CA's certificate (PEM), which clients verify the proxies' certificates with. */
  let caPem: string;
  const pairs: Record<'v1' | 'v2' | 'expired' | 'mismatched' | 'fallback', Pair> = {} as never;
  let fleetProxy: ProxyProcess;
  let fileProxy: ProxyProcess;
  const tlsPorts = new Map<ProxyProcess, number>();
  const plainPorts = new Map<ProxyProcess, number>();
  const proxies = () => [fleetProxy, fileProxy];

  const tlsSecret = (pair: Pair, name = 'web-tls') => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'default' },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(pair.cert).toString('base64'), 'tls.key': Buffer.from(pair.key).toString('base64') },
  });
  const putSecret = (pair: Pair) => fed.call('PUT', '/api/v1/namespaces/default/secrets/web-tls', { body: tlsSecret(pair) });
  const served = (p: ProxyProcess) => servedFingerprint(tlsPorts.get(p)!, 'a.test', caPem);
  const events = async (reason: string) =>
    ((await fed.get<{ items: { reason: string; message: string; type: string; involvedObject: { kind: string; name: string } }[] }>('/api/v1/namespaces/default/events')).items).filter((e) => e.reason === reason && e.involvedObject.kind === 'Ingress' && e.involvedObject.name === 'web');
  const startProxy = async (id: string, config: Record<string, unknown>, args: string[] = []) => {
    const [port, tlsPort] = [await freePort(), await freePort()];
    const p = await startProxyProcess(dir.path, id, { listen: [{ host: '127.0.0.1', port }, { host: '127.0.0.1', port: tlsPort, tls: true }], region: 'us-central1', healthCheck: { intervalMs: 500, timeoutMs: 500 }, ...config }, args);
    tlsPorts.set(p, tlsPort);
    plainPorts.set(p, port);
    return p;
  };

  beforeAll(async () => {
    dir = await tempDir();
    redis = await TestRedis.start();
    ca = await TestCA.create(dir.path);
    caPem = await readFile(ca.ca, 'utf8');
    const read = async (f: CertFiles): Promise<Pair> => {
      const cert = await readFile(f.cert, 'utf8');
      return { cert, key: await readFile(f.key, 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256 };
    };
    const [v1, v2, expired, other, fallback] = await Promise.all([
      ca.issue('v1', { names: ['a.test'] }),
      ca.issue('v2', { names: ['a.test'], key: 'rsa' }),
      ca.issue('expired', { names: ['a.test'], start: '20200101000000Z', end: '20200201000000Z' }),
      ca.issue('other', { names: ['other.test'] }),
      ca.issue('fallback', { names: ['fallback.test'] }),
    ]);
    Object.assign(pairs, { v1: await read(v1), v2: await read(v2), expired: await read(expired), fallback: await read(fallback) });
    pairs.mismatched = { ...pairs.v1, key: (await read(other)).key };

    sb = await startSandbox({ kubeconfigPath: join(dir.path, 'kubeconfig'), clusters: 'gce-us-central1-a' });
    const kubeconfigText = await readFile(sb.kubeconfigPath, 'utf8');
    fed = await KubeRest.fromKubeconfigText(kubeconfigText, 'federation-cluster');
    startTheController = async (extra = {}) => {
      controller = await startController({
        ...extra,
        kubeconfigText,
        federationContext: 'federation-cluster',
        probeIntervalMs: 500,
        resyncMs: 2_000,
        tableOut: join(dir.path, 'table.json'),
        store: new RedisStore(parseRedisUrl(redis.url), 'fc'),
        logger: pino({ level: 'info' }, { write: (line: string) => void (controllerLogs += line) }),
      });
      await controller.leading;
    };
    await startTheController();
    // The Ingress names its Secret before the Secret exists.
    const labels = { app: 'web' };
    await fed.call('POST', '/api/v1/namespaces/default/services', { body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 80 }] } } });
    await fed.call('POST', '/apis/apps/v1/namespaces/default/replicasets', {
      body: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] } } } },
    });
    await fed.call('POST', '/apis/networking.k8s.io/v1/namespaces/default/ingresses', {
      body: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web' }, spec: { tls: [{ hosts: ['a.test'], secretName: 'web-tls' }], defaultBackend: { service: { name: 'web', port: { number: 80 } } } } },
    });
    await waitFor(async () => /"endpoints":\s*\[\s*\{/.test(await readFile(join(dir.path, 'table.json'), 'utf8').catch(() => '')), { what: 'the controller\'s table with the pod', timeoutMs: 30_000 });
    // One after the other: ports picked free at once could be picked twice.
    fleetProxy = await startProxy('fleet', { tls: {} }, ['--redis', redis.url, '--fleet', 'fc']);
    fileProxy = await startProxy('file', { tableFile: join(dir.path, 'table.json'), tls: { certificatesFile: join(dir.path, 'certificates.json'), pollIntervalMs: 500 } });
    await waitFor(async () => (await Promise.all(proxies().map((p) => fetch(`http://127.0.0.1:${plainPorts.get(p)}/`).then((r) => r.status)))).every((s) => s === 200), { what: 'both proxies routing to the pod' });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(proxies().map((p) => p?.stop()));
    await controller?.stop();
    await fed?.close();
    await sb?.stop();
    await redis?.stop();
    await dir?.remove();
  });

  it('starts with no certificate (handshakes fail, counted; the Ingress gets TLSSecretNotFound), and serves the Secret as soon as it exists', async () => {
    for (const p of proxies()) expect(await served(p)).toBeUndefined();
    for (const p of proxies()) expect(await p.metric('meridian_proxy_tls_handshake_errors_total{reason="no-certificate"}')).toBeGreaterThanOrEqual(1);
    const missing = await waitFor(() => events('TLSSecretNotFound').then((e) => e[0]), { what: 'the TLSSecretNotFound Event' });
    expect(missing).toMatchObject({ type: 'Warning' });
    // Told once, not at every rebuild since (one a second at least while the proxies started).
    expect(await events('TLSSecretNotFound')).toHaveLength(1);
    expect(missing.message).toMatch(/^E_TLS_SECRET_NOT_FOUND: Secret default\/web-tls, named in spec\.tls, does not exist/);

    await fed.call('POST', '/api/v1/namespaces/default/secrets', { body: tlsSecret(pairs.v1) });
    for (const p of proxies()) await waitFor(async () => (await served(p)) === pairs.v1.fingerprint, { what: `proxy ${p.id} serving the Secret`, timeoutMs: 10_000 });
    for (const p of proxies()) {
      const r = await httpsGet(tlsPorts.get(p)!, 'a.test', caPem);
      expect(r.status).toBe(200);
      expect(r.body).toMatch(/You are being served from/);
    }
    // Published to the store (checked, keyed) and to a file only its owner can read.
    const mode = (await stat(join(dir.path, 'certificates.json'))).mode & 0o777;
    expect(mode.toString(8)).toBe('600');
    expect(controllerLogs).toMatch(/TLS certificates published/);
  }, 30_000);

  it('applies a replaced Secret to new connections within seconds; a request loop meanwhile sees no failure', async () => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const loops = proxies().map(async (p) => {
      while (!stop) {
        try {
          const r = await httpsGet(tlsPorts.get(p)!, 'a.test', caPem);
          if (r.status === 200) ok++;
          else failures.push(`${p.id}: ${r.status}`);
        } catch (err) {
          failures.push(`${p.id}: ${String(err)}`);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 200));
    const replaced = Date.now();
    await putSecret(pairs.v2);
    try {
      for (const p of proxies()) await waitFor(async () => (await served(p)) === pairs.v2.fingerprint, { what: `proxy ${p.id} serving the new certificate`, timeoutMs: 10_000 });
      expect(Date.now() - replaced).toBeLessThan(5_000);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(10);
  }, 30_000);

  it.each([
    ['expired', 'E_TLS_CERT_EXPIRED'],
    ['mismatched', 'E_TLS_KEY_MISMATCH'],
  ] as const)('keeps serving the last good certificate when the Secret turns %s, and says so on the Ingress and in the controller\'s metrics', async (which, code) => {
    await putSecret(pairs[which]);
    const rejected = await waitFor(() => events('TLSCertificateRejected').then((e) => e.find((x) => x.message.startsWith(code))), { what: `the ${code} Event` });
    expect(rejected.message).toMatch(/the proxies keep serving the certificate last taken from it/);
    const metrics = await (await fetch(`${controller.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^meridian_controller_tls_certificate_problems\{reason="TLSCertificateRejected"\} 1$/m);
    // What the controller hands the proxies still holds the last good certificate.
    const file = JSON.parse(await readFile(join(dir.path, 'certificates.json'), 'utf8')) as { certificates: { secret: string; cert: string }[] };
    expect(file.certificates).toEqual([expect.objectContaining({ secret: 'default/web-tls', cert: pairs.v2.cert })]);
    for (const p of proxies()) expect(await served(p)).toBe(pairs.v2.fingerprint);
  });

  it('a proxy checks each certificate again: a bad one in the store or the file keeps the last good one, counted', async () => {
    // As another controller version, or a clock far ahead of the controller's, would hand it.
    const bundle = JSON.stringify({ version: 'bad-1', certificates: [{ secret: 'default/web-tls', ingresses: ['default/web'], hosts: ['a.test'], cert: pairs.expired.cert, key: pairs.expired.key }] });
    const store = new RedisStore(parseRedisUrl(redis.url), 'fc');
    await store.ready();
    await store.publishCertificates({ version: 'bad-1', body: bundle, sha256: createHash('sha256').update(bundle).digest('hex'), publishedAt: Date.now(), publisher: 'test' });
    await writeFile(join(dir.path, 'bad.json'), bundle, { mode: 0o600 });
    await rename(join(dir.path, 'bad.json'), join(dir.path, 'certificates.json'));
    for (const p of proxies()) await waitFor(async () => (await p.metric('meridian_proxy_tls_certificate_errors_total{reason="expired"}')) === 1, { what: `proxy ${p.id} counting the expired certificate` });
    for (const p of proxies()) expect(await served(p)).toBe(pairs.v2.fingerprint);
    // The controller notices the store no longer holds its version, and puts it back.
    await waitFor(async () => ((await store.certificatesVersion()) ?? 'bad-1') !== 'bad-1', { what: 'the controller\'s certificates back in the store' });
    // A body that is not the one its checksum was made of is never applied.
    const altered = bundle.replace('"hosts":["a.test"]', '"hosts":["b.test"]');
    expect(altered).not.toBe(bundle);
    await store.publishCertificates({ version: 'altered-1', body: altered, sha256: createHash('sha256').update(bundle).digest('hex'), publishedAt: Date.now(), publisher: 'test' });
    await waitFor(() => /"version":"altered-1","code":"E_CERTIFICATES_INVALID".*do not match their checksum/.test(fleetProxy.logs()), { what: 'the altered certificates rejected' });
    expect(await served(fleetProxy)).toBe(pairs.v2.fingerprint);
    await waitFor(async () => ((await store.certificatesVersion()) ?? 'altered-1') !== 'altered-1', { what: 'the controller\'s certificates back in the store again' });
    await store.close();
  });

  it('a controller that starts (restart, new leader) while the Secret is bad keeps publishing the last good certificate', async () => {
    await putSecret(pairs.mismatched); // as the tests before left it, made sure of
    await controller.stop();
    const restartedAt = controllerLogs.length;
    await startTheController();
    await waitFor(() => controllerLogs.slice(restartedAt).includes('TLS certificates published'), { what: 'the new controller publishing' });
    const file = JSON.parse(await readFile(join(dir.path, 'certificates.json'), 'utf8')) as { certificates: { cert: string }[] };
    expect(file.certificates.map((c) => c.cert)).toEqual([pairs.v2.cert]);
    for (const p of proxies()) expect(await served(p)).toBe(pairs.v2.fingerprint);
  });

  it('a controller with --default-certificate publishes that Secret, named by no Ingress: proxies with no certificate of their own serve it to clients sending no SNI', async () => {
    const noSni = async (p: ProxyProcess) => servedName((await sClient(tlsPorts.get(p)!, ['-noservername', '-showcerts'])).out);
    for (const p of proxies()) expect(await noSni(p)).toBeUndefined();
    await controller.stop();
    const restartedAt = controllerLogs.length;
    // Named before it exists: told in the log (no Ingress to put an Event on) and counted.
    await startTheController({ defaultCertificate: 'default/fallback-tls' });
    const told = await waitFor(() => controllerLogs.slice(restartedAt).split('\n').find((l) => l.includes('"code":"E_TLS_SECRET_NOT_FOUND"')), { what: 'the missing default Secret told' });
    expect(told).toMatch(/Secret default\/fallback-tls, named by --default-certificate, does not exist in the federation.*no Ingress to record an Event on/);
    await waitFor(async () => /^meridian_controller_tls_certificate_problems\{reason="TLSSecretNotFound"\} 1$/m.test(await (await fetch(`${controller.metricsUrl}/metrics`)).text()), { what: 'the missing default Secret counted' });
    for (const p of proxies()) expect(await noSni(p)).toBeUndefined();

    await fed.call('POST', '/api/v1/namespaces/default/secrets', { body: tlsSecret(pairs.fallback, 'fallback-tls') });
    for (const p of proxies()) await waitFor(async () => (await noSni(p)) === 'fallback.test', { what: `proxy ${p.id} serving the default certificate without SNI`, timeoutMs: 10_000 });
    for (const p of proxies()) {
      expect(servedName((await sClient(tlsPorts.get(p)!, ['-servername unknown.test', '-showcerts'])).out)).toBe('fallback.test');
      expect(await served(p)).toBe(pairs.v2.fingerprint); // a.test keeps its own
    }
    const file = JSON.parse(await readFile(join(dir.path, 'certificates.json'), 'utf8')) as { defaultSecret?: string; certificates: { secret: string; ingresses: string[] }[] };
    expect(file.defaultSecret).toBe('default/fallback-tls');
    expect(file.certificates).toContainEqual(expect.objectContaining({ secret: 'default/fallback-tls', ingresses: [] }));
    await waitFor(async () => /^meridian_controller_tls_certificate_problems\{reason="TLSSecretNotFound"\} 0$/m.test(await (await fetch(`${controller.metricsUrl}/metrics`)).text()), { what: 'the default Secret\'s problem settled' });
  }, 30_000);

  it('never logs a private key: not the controller, not the proxies', () => {
    const keyLines = Object.values(pairs).flatMap((p) => p.key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')));
    expect(keyLines.length).toBeGreaterThan(5);
    // The Secret's own form too: base64 of the whole PEM.
    const secretForms = Object.values(pairs).map((p) => Buffer.from(p.key).toString('base64').slice(0, 40));
    for (const logs of [controllerLogs, fleetProxy.logs(), fileProxy.logs()]) {
      expect(logs).not.toMatch(/PRIVATE KEY/);
      for (const line of [...keyLines, ...secretForms]) expect(logs.includes(line)).toBe(false);
    }
    // What they did log: the Secret, its names and fingerprint.
    expect(fleetProxy.logs()).toMatch(/TLS certificate from the federation rotated/);
    expect(fileProxy.logs()).toMatch(/"secret":"default\/web-tls"/);
  });
});
