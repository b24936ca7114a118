import { describe, expect, it } from 'vitest';
import { ALLOW_HTTP_ANNOTATION, buildRoutingTable, HEALTH_CHECK_PATH_ANNOTATION, HSTS_ANNOTATION, MAX_RATE_ANNOTATION, SSL_REDIRECT_ANNOTATION } from '../../../src/ingress-sync/build-table.js';
import { buildSnapshot } from '../../../src/routing/snapshot.js';

const svc = (ns: string, name: string, ports: { name?: string; port: number }[]) => ({ metadata: { name, namespace: ns }, spec: { ports } });
const ep = (ns: string, name: string, ips: string[], ports: { name?: string; port: number }[]) => ({ metadata: { name, namespace: ns }, subsets: [{ addresses: ips.map((ip) => ({ ip })), ports }] });
const clusters = [
  { name: 'a', region: 'asia-east1', zones: ['asia-east1-a'], clientCIDRs: ['127.16.0.0/16'] },
  { name: 'b', region: 'us-central1', zones: ['us-central1-b'], clientCIDRs: ['127.17.0.0/16'] },
];

describe('routing table from Ingresses and member endpoints', () => {
  it('builds the seed: a default backend with a shard per cluster that runs the Service', () => {
    const table = buildRoutingTable({
      version: 'v',
      ingresses: [{ metadata: { name: 'nginx', namespace: 'default', annotations: { [MAX_RATE_ANNOTATION]: '50' } }, spec: { defaultBackend: { service: { name: 'nginx', port: { number: 80 } } } } }],
      clusters,
      services: new Map([
        ['a', new Map([['default/nginx', svc('default', 'nginx', [{ name: 'http', port: 80 }])]])],
        ['b', new Map([['default/nginx', svc('default', 'nginx', [{ name: 'http', port: 80 }])]])],
      ]),
      endpoints: new Map([
        ['a', new Map([['default/nginx', ep('default', 'nginx', ['127.16.0.2', '127.16.0.1'], [{ name: 'http', port: 80 }])]])],
        ['b', new Map()],
      ]),
    });
    expect(table.defaultBackend).toBe('default/nginx:80');
    expect(table.backends['default/nginx:80']!.shards).toEqual([
      {
        cluster: 'a',
        region: 'asia-east1',
        zone: 'asia-east1-a',
        endpoints: [
          { address: '127.16.0.1', port: 80 },
          { address: '127.16.0.2', port: 80 },
        ],
        maxRatePerEndpoint: 50,
        capacityScaler: 1,
      },
    ]);
    expect(table.clusters.b).toEqual({ region: 'us-central1', clientCIDRs: ['127.17.0.0/16'] });
    expect(() => buildSnapshot(table)).not.toThrow();
  });

  it('maps host/path rules and named ports to the ports pods really serve', () => {
    const table = buildRoutingTable({
      version: 'v',
      ingresses: [
        {
          metadata: { name: 'shop', namespace: 'prod' },
          spec: { rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/api', pathType: 'Prefix', backend: { service: { name: 'api', port: { name: 'web' } } } }] } }] },
        },
      ],
      clusters,
      services: new Map([['a', new Map([['prod/api', svc('prod', 'api', [{ name: 'web', port: 8080 }, { name: 'admin', port: 9090 }])]])]]),
      endpoints: new Map([['a', new Map([['prod/api', ep('prod', 'api', ['127.16.0.9'], [{ name: 'admin', port: 39090 }, { name: 'web', port: 38080 }])]])]]),
    });
    expect(table.routes).toEqual([{ host: 'shop.example.com', path: '/api', pathType: 'Prefix', backend: 'prod/api:web' }]);
    expect(table.backends['prod/api:web']!.shards[0]!.endpoints).toEqual([{ address: '127.16.0.9', port: 38080 }]);
  });

  describe('the path the proxies probe', () => {
    const selected = (ns: string, name: string, selector: Record<string, string>, ports: { name?: string; port: number; targetPort?: number | string }[]) => ({ metadata: { name, namespace: ns }, spec: { selector, ports } });
    const workload = (ns: string, labels: Record<string, string>, containers: unknown[]) => ({ metadata: { name: 'w', namespace: ns }, spec: { template: { metadata: { labels }, spec: { containers } } } });
    const build = (annotations: Record<string, string>, workloads: unknown[], targetPort: number | string = 8080) =>
      buildRoutingTable({
        version: 'v',
        ingresses: [{ metadata: { name: 'i', namespace: 'prod', annotations }, spec: { defaultBackend: { service: { name: 'api', port: { number: 80 } } } } }],
        clusters,
        services: new Map([['a', new Map([['prod/api', selected('prod', 'api', { app: 'api' }, [{ port: 80, targetPort }])]])]]),
        endpoints: new Map([['a', new Map([['prod/api', ep('prod', 'api', ['127.16.0.9'], [{ port: 8080 }])]])]]),
        workloads: workloads as never,
      }).backends['prod/api:80']!.healthCheckPath;
    const probed = (path: string, port?: number | string) => ({ name: 'api', ports: [{ name: 'http', containerPort: 8080 }], readinessProbe: { httpGet: { path, ...(port !== undefined ? { port } : {}) } } });

    it.each([
      ['the readiness probe of the selected pods, on the served port', {}, [workload('prod', { app: 'api', tier: 'x' }, [probed('/ready', 8080)])], 8080, '/ready'],
      ['a named probe port and a named target port', {}, [workload('prod', { app: 'api' }, [probed('/ready', 'http')])], 'http', '/ready'],
      ['the annotation over the probe', { [HEALTH_CHECK_PATH_ANNOTATION]: '/healthz' }, [workload('prod', { app: 'api' }, [probed('/ready')])], 8080, '/healthz'],
      ['nothing for a probe on another port', {}, [workload('prod', { app: 'api' }, [probed('/ready', 9090)])], 8080, undefined],
      ['nothing for pods the Service does not select', {}, [workload('prod', { app: 'other' }, [probed('/ready')])], 8080, undefined],
      ['nothing for a workload in another namespace', {}, [workload('dev', { app: 'api' }, [probed('/ready')])], 8080, undefined],
      ['nothing for an annotation that is not a path', { [HEALTH_CHECK_PATH_ANNOTATION]: 'healthz' }, [], 8080, undefined],
    ])('%s', (_case, annotations, workloads, targetPort, expected) => {
      expect(build(annotations, workloads, targetPort)).toBe(expected);
    });
  });

  describe('HTTPS policy from annotations', () => {
    const ingress = (name: string, annotations: Record<string, string>, host: string) => ({
      metadata: { name, namespace: 'prod', annotations },
      spec: { defaultBackend: { service: { name: name, port: { number: 80 } } }, rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } }] } }] },
    });
    const build = (ingresses: unknown[]) => {
      const problems: string[] = [];
      const table = buildRoutingTable({ version: 'v', ingresses: ingresses as never, clusters, services: new Map(), endpoints: new Map(), onProblem: (p) => problems.push(`${p.ingress} ${p.annotation}: ${p.message}`) });
      return { table, problems };
    };

    it('puts ssl-redirect, hsts and allow-http on the Ingress\'s routes and, for the Ingress that gives it, the default backend', () => {
      const { table, problems } = build([
        ingress('a', { [SSL_REDIRECT_ANNOTATION]: 'true', [HSTS_ANNOTATION]: 'max-age=31536000; includeSubDomains; preload' }, 'a.test'),
        ingress('b', { [HSTS_ANNOTATION]: 'max-age=600' }, 'b.test'),
        // allow-http "false" says no plain HTTP at all: it wins over a redirect.
        ingress('c', { [ALLOW_HTTP_ANNOTATION]: 'false', [SSL_REDIRECT_ANNOTATION]: 'true' }, 'c.test'),
        ingress('d', { [SSL_REDIRECT_ANNOTATION]: 'false', [ALLOW_HTTP_ANNOTATION]: 'true' }, 'd.test'),
      ]);
      expect(problems).toEqual([]);
      expect(table.routes.map((r) => [r.host, r.https])).toEqual([
        ['a.test', { plainHttp: 'redirect', hsts: 'max-age=31536000; includeSubDomains; preload' }],
        ['b.test', { plainHttp: 'serve', hsts: 'max-age=600' }],
        ['c.test', { plainHttp: 'refuse' }],
        ['d.test', undefined],
      ]);
      expect(table.defaultBackend).toBe('prod/a:80');
      expect(table.defaultHttps).toEqual({ plainHttp: 'redirect', hsts: 'max-age=31536000; includeSubDomains; preload' });
      const snap = buildSnapshot(table);
      expect(snap.routes.find((r) => r.host === 'a.test')).toMatchObject({ plainHttp: 'redirect', hsts: 'max-age=31536000; includeSubDomains; preload' });
    });

    it.each([
      [{ [HSTS_ANNOTATION]: 'includeSubDomains' }, 'prod/a meridian.dev/hsts: E_INGRESS_ANNOTATION_INVALID: meridian.dev/hsts: not a Strict-Transport-Security value (max-age is required (e.g. "max-age=31536000; includeSubDomains")); ignored, no Strict-Transport-Security header is sent. Write e.g. "max-age=31536000; includeSubDomains"'],
      [{ [HSTS_ANNOTATION]: 'max-age=1\r\nx: y' }, 'prod/a meridian.dev/hsts: E_INGRESS_ANNOTATION_INVALID: meridian.dev/hsts: not a Strict-Transport-Security value (only visible ASCII, spaces and tabs are allowed); ignored, no Strict-Transport-Security header is sent. Write e.g. "max-age=31536000; includeSubDomains"'],
      [{ [SSL_REDIRECT_ANNOTATION]: 'yes' }, 'prod/a meridian.dev/ssl-redirect: E_INGRESS_ANNOTATION_INVALID: meridian.dev/ssl-redirect: "yes" is not "true" or "false"; ignored, plain HTTP is not redirected. Write "true" or "false" (quoted in YAML), in lower case'],
      [{ [ALLOW_HTTP_ANNOTATION]: 'False' }, 'prod/a kubernetes.io/ingress.allow-http: E_INGRESS_ANNOTATION_INVALID: kubernetes.io/ingress.allow-http: "False" is not "true" or "false"; ignored, plain HTTP is served. Write "true" or "false" (quoted in YAML), in lower case'],
      // A value is quoted as JSON and cut short: it goes into Events and logs as it is.
      [{ [SSL_REDIRECT_ANNOTATION]: `y\n${'e'.repeat(80)}` }, `prod/a meridian.dev/ssl-redirect: E_INGRESS_ANNOTATION_INVALID: meridian.dev/ssl-redirect: "y\\n${'e'.repeat(62)}…" is not "true" or "false"; ignored, plain HTTP is not redirected. Write "true" or "false" (quoted in YAML), in lower case`],
    ])('ignores a malformed annotation %j and reports it', (annotations, problem) => {
      const { table, problems } = build([ingress('a', annotations, 'a.test')]);
      expect(problems).toEqual([problem]);
      expect(table.routes[0]!.https).toBeUndefined();
      expect(table.defaultHttps).toBeUndefined();
      expect(() => buildSnapshot(table)).not.toThrow();
    });

    it.each([
      [MAX_RATE_ANNOTATION, 'fast', '"fast" is not a positive number of requests per second; ignored, its endpoints get no rate limit. Write a number above 0, e.g. "100"'],
      [MAX_RATE_ANNOTATION, '0', '"0" is not a positive number of requests per second; ignored, its endpoints get no rate limit. Write a number above 0, e.g. "100"'],
      [MAX_RATE_ANNOTATION, ' ', '" " is not a positive number of requests per second; ignored, its endpoints get no rate limit. Write a number above 0, e.g. "100"'],
      [HEALTH_CHECK_PATH_ANNOTATION, 'healthz', '"healthz" is not a path (it must start with "/"); ignored, its backends are probed on their pods\' readiness probe path, else "/". Write the path to probe, e.g. "/healthz"'],
    ])('reports a malformed %s %j, which the backend goes without', (annotation, value, problem) => {
      const { table, problems } = build([ingress('a', { [annotation]: value }, 'a.test')]);
      expect(problems).toEqual([`prod/a ${annotation}: E_INGRESS_ANNOTATION_INVALID: ${annotation}: ${problem}`]);
      expect(table.backends['prod/a:80']).toEqual({ shards: [] });
    });
  });
});
