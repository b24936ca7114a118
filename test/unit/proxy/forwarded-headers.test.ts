import { util } from 'undici';
import { describe, expect, it } from 'vitest';
import type { IncomingHttpHeaders } from 'node:http';
import { downstreamResponseHeaders, downstreamResponseHeadersFromRaw, forwardStyle, upstreamRequestHeaders } from '../../../src/proxy/headers.js';

const style = forwardStyle('https', 'meridian');
/** An origin's head as undici's parser hands it over: name, value, … as Buffers, names as sent. */
const raw = (...fields: string[]): Buffer[] => fields.map((f) => Buffer.from(f, 'latin1'));

describe('downstreamResponseHeadersFromRaw(): the client\'s headers straight from the fields read', () => {
  it.each<[string, Buffer[], Record<string, string | string[]>]>([
    ['a plain answer, names lower-cased', raw('Content-Type', 'text/plain', 'Content-Length', '200', 'Date', 'Tue, 01 Dec 2026 20:00:00 GMT'), { 'content-type': 'text/plain', 'content-length': '200', date: 'Tue, 01 Dec 2026 20:00:00 GMT', via: '1.1 meridian' }],
    ['hop-by-hop fields dropped', raw('Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Trailer', 'x', 'Proxy-Authenticate', 'Basic', 'X-Kept', '1'), { 'x-kept': '1', via: '1.1 meridian' }],
    ['what Connection names is dropped too, wherever it stands', raw('X-Secret', 's', 'Connection', 'close, X-Secret', 'X-Kept', '1'), { 'x-kept': '1', via: '1.1 meridian' }],
    ['Connection fields listed in two lines are joined', raw('Connection', 'x-a', 'X-A', '1', 'X-B', '2', 'connection', 'X-B'), { via: '1.1 meridian' }],
    ['Connection cannot take away the end-to-end fields it must not', raw('Connection', 'content-length, content-type', 'Content-Length', '3', 'Content-Type', 'a/b'), { 'content-length': '3', 'content-type': 'a/b', via: '1.1 meridian' }],
    ['repeated fields in order, as an array', raw('Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'SET-COOKIE', 'c=3'), { 'set-cookie': ['a=1', 'b=2', 'c=3'], via: '1.1 meridian' }],
    ['the origin\'s Via extended', raw('Via', '1.1 varnish', 'via', '1.0 squid'), { via: '1.1 varnish, 1.0 squid, 1.1 meridian' }],
    ['latin1 bytes kept as undici reads them', raw('X-Name', 'caf\u00e9'), { 'x-name': 'caf\u00e9', via: '1.1 meridian' }],
    ['a field named as an Object method becomes the object\'s own', raw('Constructor', 'c', 'toString', 't'), { constructor: 'c', tostring: 't', via: '1.1 meridian' }],
  ])('%s', (_name, fields, expected) => {
    const out = downstreamResponseHeadersFromRaw(fields, style);
    expect(out).toEqual(expected);
    expect(Object.keys(out)).toEqual(Object.keys(expected));
  });

  it('a field named __proto__ stays a field and leaves the prototype alone', () => {
    const out = downstreamResponseHeadersFromRaw(raw('__proto__', 'x', 'X-Kept', '1'), style);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toBe('x');
    expect(Object.keys(out)).toEqual(['__proto__', 'x-kept', 'via']);
  });

  it('gives what the parsed-object path gives (undici\'s parseHeaders, then downstreamResponseHeaders)', () => {
    const heads = [
      raw('Content-Type', 'text/html', 'Set-Cookie', 'a=1', 'Connection', 'X-Drop', 'X-Drop', 'y', 'Set-Cookie', 'b=2', 'Cache-Control', 'no-store'),
      raw('Content-Length', '0', 'Keep-Alive', 'timeout=5', 'Via', '1.1 a'),
      raw(),
    ];
    for (const fields of heads) expect(downstreamResponseHeadersFromRaw(fields, style)).toEqual(downstreamResponseHeaders(util.parseHeaders(fields), style));
  });
});

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
