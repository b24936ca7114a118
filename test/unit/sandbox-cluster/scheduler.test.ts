import { describe, expect, it } from 'vitest';
import { parseQuantity, podRequests, schedule } from '../../../src/sandbox/cluster/scheduler.js';

const nodes = [
  { name: 'n1', cpuMillis: 1000, memoryBytes: 2 ** 30, pods: 3 },
  { name: 'n2', cpuMillis: 1000, memoryBytes: 2 ** 30, pods: 3 },
];

describe('scheduler', () => {
  it.each([
    ['100m', true, 100],
    ['1', true, 1000],
    ['0.5', true, 500],
    ['128Mi', false, 128 * 2 ** 20],
    ['1G', false, 1e9],
    ['garbage', true, Number.NaN],
  ])('parses quantity %s', (q, milli, want) => {
    expect(parseQuantity(q, milli)).toEqual(want);
  });

  it('sums container requests, falling back to limits', () => {
    expect(
      podRequests([{ resources: { requests: { cpu: '250m' } } }, { resources: { limits: { cpu: '250m', memory: '64Mi' } } }]),
    ).toEqual({ cpuMillis: 500, memoryBytes: 64 * 2 ** 20 });
  });

  it('picks the node with the most free cpu', () => {
    const used = new Map([['n1', { cpuMillis: 600, memoryBytes: 0, pods: 1 }]]);
    expect(schedule({ cpuMillis: 300, memoryBytes: 0 }, nodes, used)).toEqual({ node: 'n2' });
  });

  it('explains an unschedulable pod like kube-scheduler', () => {
    const used = new Map([
      ['n1', { cpuMillis: 900, memoryBytes: 0, pods: 1 }],
      ['n2', { cpuMillis: 100, memoryBytes: 0, pods: 3 }],
    ]);
    expect(schedule({ cpuMillis: 500, memoryBytes: 0 }, nodes, used)).toEqual({
      unschedulable: '0/2 nodes are available: 1 Insufficient cpu, 1 Too many pods.',
    });
  });

  it('says so when there are no nodes', () => {
    expect(schedule({ cpuMillis: 0, memoryBytes: 0 }, [], new Map())).toEqual({ unschedulable: 'no nodes available to schedule pods' });
  });
});
