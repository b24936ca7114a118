import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { forwardStyle, upstreamRequestHeaders } from '../../../src/proxy/headers.js';

describe('upstreamRequestHeaders(): what the origin is sent', () => {
  const h1 = forwardStyle('http', 'meridian');
  const h2 = forwardStyle('https', 'meridian', '2');
  const peer = '198.51.100.7';
  it.each<[string, IncomingHttpHeaders, { trusted?: boolean; host?: string; style?: typeof h1; upgrade?: boolean }, string[]]>([
    ['Host first, the client\'s fields in order, then X-Forwarded-* and Via', { 'user-agent': 'curl', host: 'shop.example', accept: '*/*' }, {}, ['host', 'shop.example', 'user-agent', 'curl', 'accept', '*/*', 'x-forwarded-for', peer, 'x-forwarded-proto', 'http', 'x-forwarded-host', 'shop.example', 'via', '1.1 meridian']],
    ['hop-by-hop, Connection-listed and Expect fields are not passed on', { host: 'a', connection: 'keep-alive, x-secret', 'keep-alive': '5', te: 'trailers', 'x-secret': 's', expect: '100-continue', 'proxy-authorization': 'Basic x', upgrade: 'websocket', 'x-kept': '1' }, {}, ['host', 'a', 'x-kept', '1', 'x-forwarded-for', peer, 'x-forwarded-proto', 'http', 'x-forwarded-host', 'a', 'via', '1.1 meridian']],
    ['an untrusted client\'s X-Forwarded-* and Via claims are replaced, not extended', { host: 'a', 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' }, {}, ['host', 'a', 'x-forwarded-for', peer, 'x-forwarded-proto', 'http', 'x-forwarded-host', 'a', 'via', '1.1 meridian']],
    ['an untrusted client\'s X-Forwarded-Host is dropped even when there is no Host to put there', { 'x-forwarded-host': 'evil.example' }, { host: undefined }, ['x-forwarded-for', peer, 'x-forwarded-proto', 'http', 'via', '1.1 meridian']],
    ['a trusted proxy\'s are extended or kept', { host: 'a', 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example', via: '1.1 lb' }, { trusted: true }, ['host', 'a', 'x-forwarded-for', `203.0.113.9, ${peer}`, 'x-forwarded-proto', 'https', 'x-forwarded-host', 'shop.example', 'via', '1.1 lb, 1.1 meridian']],
    ['the authority the request was routed by replaces the Host it came with', { host: 'SHOP.example:80' }, { host: 'shop.example' }, ['host', 'shop.example', 'x-forwarded-for', peer, 'x-forwarded-proto', 'http', 'x-forwarded-host', 'shop.example', 'via', '1.1 meridian']],
    ['an HTTP/2 request: pseudo-headers out, its authority as Host, Via says 2', { ':method': 'GET', ':path': '/', ':authority': 'shop.example', ':scheme': 'https', cookie: 'a=1; b=2' }, { host: 'shop.example', style: h2 }, ['host', 'shop.example', 'cookie', 'a=1; b=2', 'x-forwarded-for', peer, 'x-forwarded-proto', 'https', 'x-forwarded-host', 'shop.example', 'via', '2 meridian']],
    ['repeated fields one entry per value', { host: 'a', 'x-list': ['1', '2'] as unknown as string }, {}, ['host', 'a', 'x-list', '1', 'x-list', '2', 'x-forwarded-for', peer, 'x-forwarded-proto', 'http', 'x-forwarded-host', 'a', 'via', '1.1 meridian']],
    ['an upgrade keeps its Connection and Upgrade', { host: 'a', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k' }, { upgrade: true }, ['host', 'a', 'sec-websocket-key', 'k', 'connection', 'Upgrade', 'upgrade', 'websocket', 'x-forwarded-for', peer, 'x-forwarded-proto', 'http', 'x-forwarded-host', 'a', 'via', '1.1 meridian']],
  ])('%s', (_name, headers, o, expected) => {
    const host = 'host' in o ? o.host : headers.host;
    expect(upstreamRequestHeaders(headers, peer, o.trusted ?? false, o.style ?? h1, host, o.upgrade ?? false)).toEqual(expected);
  });
});
