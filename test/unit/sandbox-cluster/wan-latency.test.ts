import { describe, expect, it } from 'vitest';
import { greatCircleKm, REGION_LOCATIONS, rttFromDistanceMs } from '../../../src/routing/geo.js';
import { WanLatency } from '../../../src/sandbox/cluster/wan-latency.js';

const MEMBERS = [
  { region: 'asia-east1', podCIDR: '127.16.0.0/16' },
  { region: 'us-central1', podCIDR: '127.17.0.0/16' },
  { region: 'europe-west1', podCIDR: '127.18.0.0/16' },
  { region: 'southamerica-east1', podCIDR: '127.19.0.0/16' },
  { region: 'mars-north1', podCIDR: '127.20.0.0/16' },
  // A narrower range inside a wider one: the longest prefix decides.
  { region: 'us-central1', podCIDR: '127.32.0.0/12' },
  { region: 'europe-west1', podCIDR: '127.33.7.0/24' },
];

const asiaToSaoPaulo = rttFromDistanceMs(greatCircleKm(REGION_LOCATIONS.get('asia-east1')!, REGION_LOCATIONS.get('southamerica-east1')!));

describe('WanLatency', () => {
  it.each([
    ['127.16.0.1', 'asia-east1'],
    ['127.17.255.250', 'us-central1'],
    ['::ffff:127.18.3.4', 'europe-west1'],
    ['127.33.1.1', 'us-central1'],
    ['127.33.7.9', 'europe-west1'],
    ['127.0.0.1', undefined],
    ['10.0.0.1', undefined],
    ['::1', undefined],
    [undefined, undefined],
  ])('puts client address %s in region %s', (address, want) => {
    expect(new WanLatency(MEMBERS).regionOf(address)).toBe(want);
  });

  it.each([
    ['asia-east1', 'us-central1', 150, 'the measured table'],
    ['us-central1', 'asia-east1', 150, 'the measured table, either way'],
    ['asia-east1', 'europe-west1', 255, 'the measured table'],
    ['asia-east1', 'southamerica-east1', asiaToSaoPaulo, 'great-circle distance'],
    ['asia-east1', 'asia-east1', 0, 'one region'],
    ['asia-east1', 'mars-north1', 0, 'no location: not delayed'],
    ['asia-east1', 'nowhere', 0, 'not a member region'],
  ])('%s → %s takes %s ms (%s)', (from, to, want) => {
    expect(new WanLatency(MEMBERS).rttMs(from, to)).toBeCloseTo(want, 6);
  });

  it('gives a pod the delay of clients from other regions only', () => {
    const pod = new WanLatency(MEMBERS).forPod('asia-east1');
    expect(pod.clientRegion('127.16.255.250')).toBeUndefined();
    expect(pod.clientRegion('127.0.0.1')).toBeUndefined();
    expect(pod.clientRegion('127.17.255.250')).toBe('us-central1');
    expect(pod.delayMs('us-central1')).toBe(150);
  });

  it('overrides a pair both ways until reset, and the pods see it at once', () => {
    const wan = new WanLatency(MEMBERS);
    const pod = wan.forPod('europe-west1');
    wan.setRtt('asia-east1', 'europe-west1', 30);
    wan.setRtt('europe-west1', 'asia-east1', 20);
    expect(pod.delayMs('asia-east1')).toBe(20);
    expect(wan.rttMs('asia-east1', 'europe-west1')).toBe(20);
    expect(wan.rttMs('asia-east1', 'us-central1')).toBe(150);
    expect(wan.reset()).toBe(1);
    expect(pod.delayMs('asia-east1')).toBe(255);
    expect(wan.reset()).toBe(0);
  });

  it.each([
    ['asia-east1', 'nowhere', 10, /no member cluster is in region "nowhere"/],
    ['asia-east1', 'asia-east1', 10, /two different regions/],
    ['asia-east1', 'us-central1', -1, /≥ 0/],
    ['asia-east1', 'us-central1', Number.NaN, /≥ 0/],
    ['asia-east1', 'us-central1', Number.POSITIVE_INFINITY, /≥ 0/],
  ])('refuses %s,%s %s ms', (a, b, ms, error) => {
    const wan = new WanLatency(MEMBERS);
    expect(() => wan.setRtt(a, b, ms)).toThrow(error);
    expect(wan.rttMs('asia-east1', 'us-central1')).toBe(150);
  });
});
