/**
 * Hostile origins: answers with Content-Length and Transfer-Encoding, conflicting lengths,
 * garbage for a status line, bodies cut short, 1xx before the final answer, a 101 nobody asked
 * for, header overflow, answers that never end or never come, connections closed or reset
 * before answering. The client gets a well-formed response, or the proxy's own 502/504 with
 * x-meridian-error, or — once bytes of the answer were sent — a cut connection; never a response
 * that looks complete when the origin's was not. And the proxy goes on serving: after each probe
 * a plain request on a new connection gets its own answer, never bytes of the hostile one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../../src/proxy/main.js';
import { probesOf } from '../../../bench/lib/security-probes.js';
import { RawOrigin } from '../../helpers/raw-origin.js';
import { hostileScript, printOutcomes, type ProbeOutcome, proxyInFront, runProbe, stillServes, stopProxy } from './harness.js';

/** Probes that reproduce a numbered defect of issue 11 (they failed before its fix, e328861). */
const ISSUE_11: Record<string, number> = {
  '100-continue-unsolicited': 8,
};

const probes = probesOf('hostile-origin');
const outcomes: ProbeOutcome[] = [];
let origin: RawOrigin;
let proxy: RunningProxy;
let port: number;

beforeAll(async () => {
  origin = await RawOrigin.start({ script: hostileScript(probes) });
  // Short upstream timeouts: an answer that never comes, or never ends, is ended within a second.
  ({ proxy, port } = await proxyInFront(origin, { upstreamHeadersTimeoutMs: 1000, upstreamBodyTimeoutMs: 1000 }));
});

afterAll(async () => {
  printOutcomes('hostile origin', outcomes);
  await stopProxy(proxy);
  await origin?.close();
});

describe('hostile origins: a well-formed answer, a 502/504 of the proxy\'s own, or a cut; and the proxy serves on', () => {
  for (const p of probes) {
    const defect = ISSUE_11[p.name];
    it(`${p.name}${defect ? ` (issue 11 defect ${defect})` : ''}`, async () => {
      const o = await runProbe(port, origin, p);
      outcomes.push(o);
      const after = await stillServes(port, p.name);
      expect([...o.violations, ...(after ? [after] : [])], `${p.name}: ${o.summary}\norigin sent ${JSON.stringify((p.origin ?? []).join('').slice(0, 200))}\nclient got ${JSON.stringify(o.client.bytes.toString('latin1').slice(0, 400))}`).toEqual([]);
    });
  }
});
