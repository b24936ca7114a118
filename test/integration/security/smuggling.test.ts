/**
 * Request smuggling on raw sockets: CL.TE, TE.CL, TE.TE obfuscations, Content-Length forms, chunk
 * sizes, bodies longer or shorter than declared, requests pipelined behind an attempt. Each probe
 * (bench/lib/security-probes.js) is judged by what reached a raw origin against what the client's
 * bytes are by the standard: never more requests, never the hidden one, never a request the client
 * did not send as sent; and the client gets a refusal or a close where the standard wants one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../../src/proxy/main.js';
import { probesOf, request } from '../../../bench/lib/security-probes.js';
import { exchange, RawConnection } from '../../helpers/raw-http.js';
import { okReply, RawOrigin } from '../../helpers/raw-origin.js';
import { printOutcomes, type ProbeOutcome, proxyInFront, runProbe, stopProxy } from './harness.js';

const outcomes: ProbeOutcome[] = [];
let origin: RawOrigin;
let proxy: RunningProxy;
let port: number;

beforeAll(async () => {
  origin = await RawOrigin.start({
    script: (req) =>
      req.target === '/stream'
        ? // A response that takes a while: head and first chunk now, the rest 300 ms later.
          { raw: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx-origin-target: /stream\r\n\r\n5\r\nfirst\r\n', { waitMs: 300 }, '6\r\nsecond\r\n0\r\n\r\n'] }
        : okReply(req),
  });
  ({ proxy, port } = await proxyInFront(origin));
});

afterAll(async () => {
  printOutcomes('smuggling', outcomes);
  await stopProxy(proxy);
  await origin?.close();
});

/**
 * Probes that reproduce a numbered defect of issue 11 (they failed before its fix, e328861): each
 * had a request the origin served answered with the proxy's own 400 for a bad request pipelined
 * after it (defect 6: that 400 was written at once, ahead of the answers still to come).
 */
const ISSUE_11: Record<string, number> = {
  'body-longer-garbage': 6,
  'body-shorter-swallows-next': 6,
  'pipelined-behind-cl-te': 6,
  'pipelined-behind-bad-chunk': 6,
};

describe('request smuggling: the origin never sees more, or other, requests than the client sent', () => {
  for (const p of probesOf('smuggling')) {
    const defect = ISSUE_11[p.name];
    it(`${p.name}${defect ? ` (issue 11 defect ${defect})` : ''}`, async () => {
      const o = await runProbe(port, origin, p);
      outcomes.push(o);
      expect(o.violations, `${p.name}: ${o.summary}\nsent ${JSON.stringify(p.request.slice(0, 400))}\ngot ${JSON.stringify(o.client.bytes.toString('latin1').slice(0, 400))}`).toEqual([]);
    });
  }

  // Issue 11, defect 6: the proxy's 400 for a bad pipelined request went out at once, while the
  // response before it was still streaming: inside its body.
  it('a bad request pipelined behind a streaming response is answered after that response, not inside it (issue 11 defect 6)', async () => {
    const c = await RawConnection.open(port);
    try {
      await c.write(request('GET', '/stream'));
      expect(await c.waitBytes(1, 3000)).toBe(true); // the response has begun
      await c.write(request('POST', '/bad', ['Transfer-Encoding: chunked'], 'zz\r\n\r\n'));
      const first = await c.next(3000);
      expect([first.status, first.body.toString()]).toEqual([200, 'firstsecond']);
      // Then a refusal, or just the close.
      const closedAfterMs = await c.waitClosed(3000);
      const rest = c.parsed();
      expect(rest.error, JSON.stringify(c.received.toString('latin1'))).toBeUndefined();
      expect(closedAfterMs !== undefined || rest.messages.length === 2).toBe(true);
      if (rest.messages.length === 2) expect(rest.messages[1]!.status).toBeGreaterThanOrEqual(400);
    } finally {
      c.destroy();
    }
  });

  it('leaves no connection behind after a malformed chunked body: the proxy still drains', async () => {
    const own = await proxyInFront(origin);
    try {
      const bad = await exchange(own.port, request('POST', '/a', ['Transfer-Encoding: chunked'], 'zz\r\nhello\r\n0\r\n\r\n'), { idleMs: 300 });
      expect(bad.responses[0]?.status).toBe(400);
      // The client is gone (exchange closed it): nothing is in flight, and drain() has 500 ms.
      expect(await stopProxy(own.proxy, 3000), 'drain() had not finished 3 s after the client left: its connection is still held').toBe(true);
    } finally {
      void stopProxy(own.proxy, 0);
    }
  });
});
