/**
 * Header and request-line syntax on raw sockets: obs-fold, bare LF and CR, NUL and other control
 * characters, whitespace before the colon, empty names, sizes, method/target/version tokens, Host.
 * Each probe (bench/lib/security-probes.js) is judged like the smuggling ones, and a forwarded
 * request must carry the client's fields as the client sent them (by a reading the standard
 * allows): no field the proxy read differently, none dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../../src/proxy/main.js';
import { probesOf } from '../../../bench/lib/security-probes.js';
import { RawOrigin } from '../../helpers/raw-origin.js';
import { printOutcomes, type ProbeOutcome, proxyInFront, runProbe, stopProxy } from './harness.js';

const outcomes: ProbeOutcome[] = [];
let origin: RawOrigin;
let proxy: RunningProxy;
let port: number;

beforeAll(async () => {
  origin = await RawOrigin.start();
  ({ proxy, port } = await proxyInFront(origin));
});

afterAll(async () => {
  printOutcomes('header syntax', outcomes);
  await stopProxy(proxy);
  await origin?.close();
});

describe('header syntax: refused, or forwarded as the client sent it', () => {
  for (const p of probesOf('header-syntax')) {
    it(`${p.name}`, async () => {
      const o = await runProbe(port, origin, p);
      outcomes.push(o);
      expect(o.violations, `${p.name}: ${o.summary}\nsent ${JSON.stringify(p.request.slice(0, 300))}\ngot ${JSON.stringify(o.client.bytes.toString('latin1').slice(0, 300))}`).toEqual([]);
    });
  }
});
