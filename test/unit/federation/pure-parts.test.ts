import { describe, expect, it } from 'vitest';
import { estimateCapacity } from '../../../src/federation/capacity.js';
import { leaseDecision } from '../../../src/federation/controller/leader.js';
import { clusterMatches, parseClusterSelector } from '../../../src/federation/cluster-selector.js';
import { FEDERATED_KINDS } from '../../../src/federation/kinds.js';
import { nextConditions, serverAddressFor, stateOf, staysReady, topologyFromNodes } from '../../../src/federation/registry/health.js';
import { desiredMemberObject, MANAGED_BY_LABEL, needsUpdate } from '../../../src/federation/sync/desired.js';
import { aggregateLoadBalancer, aggregateReplicaStatus, ingressStatus } from '../../../src/federation/sync/status.js';

const kind = (k: string) => FEDERATED_KINDS.find((x) => x.kind === k)!;
const NOW = Date.parse('2026-01-01T00:01:00Z');
const pending = (since: string) => ({ metadata: {}, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: since }] } });

describe('capacity estimate', () => {
  it.each([
    ['nothing stuck', 3, [{ metadata: {}, status: { phase: 'Running' } }], {}],
    ['stuck past the threshold', 5, [pending('2026-01-01T00:00:00Z'), pending('2026-01-01T00:00:00Z')], { capacity: 3 }],
    ['young pending pod: re-check later', 5, [pending('2026-01-01T00:00:30Z')], { recheckInMs: 30_000 }],
    ['more stuck than replicas', 1, [pending('2026-01-01T00:00:00Z'), pending('2026-01-01T00:00:00Z')], { capacity: 0 }],
  ])('%s', (_name, replicas, pods, want) => {
    expect(estimateCapacity(replicas, pods, NOW, 60_000)).toEqual(want);
  });
});

describe('cluster selector annotation', () => {
  const labels = { location: 'europe', tier: '2' };
  it.each([
    ['[{"key":"location","operator":"in","values":["europe","asia"]}]', true],
    ['[{"key":"location","operator":"notin","values":["europe"]}]', false],
    ['[{"key":"location","operator":"exists"}]', true],
    ['[{"key":"gpu","operator":"!"}]', true],
    ['[{"key":"tier","operator":"gt","values":["1"]}]', true],
    ['[{"key":"tier","operator":"lt","values":["1"]}]', false],
    ['', true],
  ])('%s → %s', (value, want) => {
    const s = parseClusterSelector(value);
    if (!s.ok) throw new Error(s.error);
    expect(clusterMatches(s.requirements, labels)).toBe(want);
  });
  it.each([
    ['{', /not valid JSON/],
    ['{"key":"a"}', /JSON list/],
    ['[{"key":"a","operator":"near"}]', /operator "near"/],
  ])('rejects %s', (value, message) => {
    const s = parseClusterSelector(value);
    expect(s.ok).toBe(false);
    if (!s.ok) expect(s.error).toMatch(message);
  });
});

describe('cluster health and topology', () => {
  it('moves transition times only on a flip', () => {
    const first = nextConditions(undefined, { result: 'ok', detail: '' }, 't1');
    expect(first.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: 't1' });
    const again = nextConditions(first, { result: 'ok', detail: '' }, 't2');
    expect(again.find((c) => c.type === 'Ready')).toMatchObject({ lastProbeTime: 't2', lastTransitionTime: 't1' });
    const down = nextConditions(again, { result: 'unreachable', detail: 'connect ECONNREFUSED' }, 't3');
    expect(down.find((c) => c.type === 'Offline')).toMatchObject({ status: 'True', reason: 'ClusterNotReachable', message: 'connect ECONNREFUSED', lastTransitionTime: 't3' });
  });
  it.each([
    ['ok', 'Ready'],
    ['unhealthy', 'NotReady'],
    ['unreachable', 'Offline'],
  ] as const)('%s → %s', (result, state) => {
    expect(stateOf({ result, detail: '' })).toBe(state);
  });
  it.each([
    // previous, probe, failures in a row, threshold → stays Ready
    ['Ready', 'unreachable', 1, 3, true],
    ['Ready', 'unhealthy', 2, 3, true],
    ['Ready', 'unreachable', 3, 3, false],
    ['Ready', 'unreachable', 1, 1, false],
    ['Ready', 'ok', 0, 3, false], // not held: it is Ready on its own
    ['Offline', 'unreachable', 1, 3, false],
    ['NotReady', 'unhealthy', 1, 3, false],
    [undefined, 'unreachable', 1, 3, false],
  ] as const)('a %s member, probe %s, %i failures in a row, threshold %i: stays Ready %s', (previous, result, failures, threshold, held) => {
    expect(staysReady(previous, { result, detail: '' }, failures, threshold)).toBe(held);
  });
  it('reads region and zones from current and deprecated node labels', () => {
    expect(
      topologyFromNodes([
        { metadata: { labels: { 'topology.kubernetes.io/region': 'r', 'topology.kubernetes.io/zone': 'r-b' } } },
        { metadata: { labels: { 'failure-domain.beta.kubernetes.io/zone': 'r-a' } } },
      ]),
    ).toEqual({ region: 'r', zones: ['r-a', 'r-b'] });
  });
  it.each([
    ['10.1.2.3', 'https://inside'],
    ['192.168.0.1', 'https://public'],
    ['10.9.9.9', 'https://ten'],
  ])('longest-prefix server address for %s', (ip, want) => {
    const entries = [
      { clientCIDR: '0.0.0.0/0', serverAddress: 'https://public' },
      { clientCIDR: '10.0.0.0/8', serverAddress: 'https://ten' },
      { clientCIDR: '10.1.0.0/16', serverAddress: 'https://inside' },
    ];
    expect(serverAddressFor(entries, ip)).toBe(want);
  });
});

describe('member copies', () => {
  const fedSvc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'nginx', namespace: 'default', uid: 'u', resourceVersion: '5', labels: { app: 'nginx' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'x' } },
    spec: { type: 'LoadBalancer', selector: { app: 'nginx' }, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }], clusterIP: undefined },
    status: { loadBalancer: {} },
  };
  it('copies labels, annotations and payload, marks it managed, keeps what the member allocated', () => {
    const member = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'nginx', namespace: 'default', labels: { app: 'nginx', [MANAGED_BY_LABEL]: 'meridian' }, annotations: { note: 'x' } }, spec: { type: 'LoadBalancer', selector: { app: 'nginx' }, clusterIP: '10.96.0.9', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80, nodePort: 30001 }], sessionAffinity: 'None' } };
    const desired = desiredMemberObject(kind('Service'), fedSvc, member);
    expect(desired.metadata).toEqual({ name: 'nginx', namespace: 'default', labels: { app: 'nginx', [MANAGED_BY_LABEL]: 'meridian' }, annotations: { note: 'x' } });
    expect((desired.spec as { clusterIP: string }).clusterIP).toBe('10.96.0.9');
    expect(needsUpdate(kind('Service'), desired, member)).toBe(false);
    expect(needsUpdate(kind('Service'), desired, { ...member, spec: { ...member.spec, selector: { app: 'other' } } })).toBe(true);
    expect(needsUpdate(kind('Service'), desired, { ...member, metadata: { ...member.metadata, labels: { app: 'nginx' } } })).toBe(true);
  });
  it('sets planned replicas on scheduled kinds', () => {
    const rs = { metadata: { name: 'nginx', namespace: 'default' }, spec: { replicas: 9, template: {} } };
    expect((desiredMemberObject(kind('ReplicaSet'), rs, undefined, 1).spec as { replicas: number }).replicas).toBe(1);
  });
  it('compares Secrets on data and type', () => {
    const fedSecret = { metadata: { name: 's', namespace: 'default' }, data: { a: 'MQ==' }, type: 'Opaque' };
    const desired = desiredMemberObject(kind('Secret'), fedSecret, undefined);
    expect(needsUpdate(kind('Secret'), desired, { ...desired })).toBe(false);
    expect(needsUpdate(kind('Secret'), desired, { ...desired, data: { a: 'Mg==' } })).toBe(true);
  });
});

describe('status aggregation', () => {
  it('sums replica counts and keeps the federation generation', () => {
    const m = (r: number, ready: number) => ({ metadata: { name: 'x' }, status: { replicas: r, readyReplicas: ready, availableReplicas: ready } });
    expect(aggregateReplicaStatus({ metadata: { name: 'x', generation: 3 } }, [m(1, 1), m(2, 1), { metadata: { name: 'x' } }])).toEqual({
      replicas: 3,
      readyReplicas: 2,
      availableReplicas: 2,
      observedGeneration: 3,
    });
  });
  it('unions load balancer addresses, sorted and de-duplicated', () => {
    const m = (...ips: string[]) => ({ metadata: { name: 'x' }, status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } });
    expect(aggregateLoadBalancer([m('203.0.113.10'), m('203.0.113.2', '203.0.113.10'), { metadata: { name: 'x' } }])).toEqual({ ingress: [{ ip: '203.0.113.2' }, { ip: '203.0.113.10' }] });
    expect(aggregateLoadBalancer([])).toEqual({});
  });
  it('writes the VIP as the Ingress address', () => {
    expect(ingressStatus('130.211.40.186')).toEqual({ loadBalancer: { ingress: [{ ip: '130.211.40.186' }] } });
    expect(ingressStatus(undefined)).toEqual({ loadBalancer: {} });
  });
});

describe('leader lease decision', () => {
  const at = Date.parse('2026-01-01T00:00:10Z');
  it.each([
    ['no lease', undefined, 'acquire'],
    ['released lease', { holderIdentity: '' }, 'acquire'],
    ['mine', { holderIdentity: 'me', renewTime: '2026-01-01T00:00:09Z', leaseDurationSeconds: 15 }, 'renew'],
    ['fresh, someone else', { holderIdentity: 'other', renewTime: '2026-01-01T00:00:00Z', leaseDurationSeconds: 15 }, 'wait'],
    ['expired, someone else', { holderIdentity: 'other', renewTime: '2026-01-01T00:00:00Z', leaseDurationSeconds: 5 }, 'acquire'],
  ] as const)('%s → %s', (_n, spec, want) => {
    expect(leaseDecision(spec, 'me', at)).toBe(want);
  });
});
