import { describe, expect, it } from 'vitest';
import { buildRoutingTable, HEALTH_CHECK_PATH_ANNOTATION, MAX_RATE_ANNOTATION } from '../../../src/ingress-sync/build-table.js';
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
});
