import { describe, expect, it } from 'vitest';
import { parseClusterSpec, podAddress, regionAndZoneFromName, SEED_CLUSTERS } from '../../../src/sandbox/cluster/topology.js';

describe('cluster topology', () => {
  it.each([
    ['gce-asia-east1-a', { region: 'asia-east1', zone: 'asia-east1-a' }],
    ['gce-us-central1-c', { region: 'us-central1', zone: 'us-central1-c' }],
    ['aws-us-east1-b', { region: 'us-east1', zone: 'us-east1-b' }],
    ['europe-west1-d', { region: 'europe-west1', zone: 'europe-west1-d' }],
    ['nonsense', undefined],
  ])('derives region and zone from %s', (name, want) => {
    expect(regionAndZoneFromName(name)).toEqual(want);
  });

  it('defaults to the seed nine, each with its own pod range', () => {
    const members = parseClusterSpec(undefined);
    expect(members.map((m) => m.name)).toEqual([...SEED_CLUSTERS]);
    expect(new Set(members.map((m) => m.podCIDR)).size).toBe(9);
    expect(members[0]).toMatchObject({ region: 'asia-east1', zone: 'asia-east1-a', podCIDR: '127.16.0.0/16' });
  });

  it('spreads a count over the three seed regions', () => {
    const members = parseClusterSpec('100');
    expect(members).toHaveLength(100);
    expect(new Set(members.map((m) => m.name)).size).toBe(100);
    expect(members.filter((m) => m.region === 'europe-west1')).toHaveLength(33);
  });

  it('accepts explicit name=region/zone entries', () => {
    expect(parseClusterSpec('edge-1=us-east1/us-east1-b, gce-europe-west1-c')).toMatchObject([
      { name: 'edge-1', region: 'us-east1', zone: 'us-east1-b' },
      { name: 'gce-europe-west1-c', region: 'europe-west1', zone: 'europe-west1-c' },
    ]);
  });

  it.each([
    ['Bad_Name=r/z', /DNS-1035/],
    ['a=r/z,a=r/z', /listed twice/],
    ['x=region-only', /name=region\/zone/],
    ['unnamed', /cannot derive region/],
    ['0', /between 1 and/],
  ])('rejects %s with a clear error', (spec, message) => {
    expect(() => parseClusterSpec(spec)).toThrow(message);
  });

  it.each([
    [1, '127.16.0.1'],
    [254, '127.16.0.254'],
    [255, '127.16.1.1'],
  ])('pod address %i of 127.16.0.0/16 is %s', (n, ip) => {
    expect(podAddress('127.16.0.0/16', n)).toBe(ip);
  });
});
