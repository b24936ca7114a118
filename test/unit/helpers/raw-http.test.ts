// The strict HTTP/1.1 reader the adversarial suites judge by: it must frame what the standard
// frames, refuse what a sender must not send, and in lenient mode allow what a recipient may.
import { describe, expect, it } from 'vitest';
import { parseMessages, requestHeadsByStandard, requestsByStandard } from '../../helpers/raw-http.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('raw-http parser', () => {
  it('frames requests by Content-Length and chunked, pipelined, and keeps an unfinished one apart', () => {
    const p = parseMessages('request', b('POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloPOST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x="y"\r\nhello\r\n0\r\nT: 1\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\npart'));
    expect(p.messages.map((m) => [m.target, m.body.toString(), m.framing])).toEqual([
      ['/a', 'hello', 'length'],
      ['/b', 'hello', 'chunked'],
    ]);
    expect(p.messages[1]!.trailers).toEqual([['T', '1']]);
    expect([p.error, p.partial?.message.target, p.partial?.expected]).toEqual([undefined, '/c', 9]);
  });

  it('frames responses: 1xx and 204 without a body, HEAD answers without one, close-delimited at the close, 101 ends HTTP', () => {
    const bytes = b('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\nrest');
    const p = parseMessages('response', bytes, { methods: ['HEAD', 'GET', 'GET'], closed: true });
    expect(p.messages.map((m) => [m.status, m.body.toString()])).toEqual([
      [100, ''],
      [200, ''],
      [204, ''],
      [200, 'rest'],
    ]);
    expect(parseMessages('response', b('HTTP/1.1 200 OK\r\n\r\nrest'), { closed: false }).partial?.expected).toBe('close');
    expect(parseMessages('response', b('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw bytes')).tunnel?.toString()).toBe('raw bytes');
  });

  it.each([
    ['bare LF', 'GET / HTTP/1.1\nHost: h\n\n', /bare LF/],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n', /obs-fold/],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', /whitespace between/],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n', /NUL/],
    ['CL + TE', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /both/],
    ['two different CLs', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', /Content-Length/],
    ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n', /does not end in chunked/],
    ['an empty TE', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n', /Transfer-Encoding/],
    ['a bad chunk size', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n', /chunk size/],
    ['chunk data without CRLF', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n', /CRLF/],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: h\r\n\r\n', /HTTP\/1/],
    ['no version', 'GET /\r\nHost: h\r\n\r\n', /request line/],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n', /Host/],
  ])('refuses %s', (_name, text, why) => {
    const p = parseMessages('request', b(text));
    expect(p.messages).toEqual([]);
    expect(p.error).toMatch(why);
  });

  it('reads leniently what a recipient may accept, and no more', () => {
    const lenient = (t: string) => parseMessages('request', b(t), { lenient: true });
    expect(lenient('GET / HTTP/1.1\nHost: h\nX: a\r\n b\n\n').messages[0]!.headers).toEqual([
      ['Host', 'h'],
      ['X', 'a b'],
    ]);
    expect(lenient('\r\nGET  /  HTTP/1.1\r\nHost: h\r\nX: a\rY: b\r\n\r\n').messages[0]!.headers).toEqual([
      ['Host', 'h'],
      ['X', 'a Y: b'],
    ]);
    expect(lenient('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nok').messages[0]!.body.toString()).toBe('ok');
    // CL + TE: Transfer-Encoding frames it, and the reading stops there (the server must close).
    const clte = lenient('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n');
    expect([clte.messages.length, clte.closeAfter]).toEqual([1, true]);
    expect(lenient('GET / HTTP/1.1\r\nHost : h\r\n\r\n').error).toMatch(/whitespace/);
  });

  it('counts requests by the most generous reading, and heads a proxy may have passed on', () => {
    expect(requestsByStandard(b('GET /a HTTP/1.1\nHost: h\n\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n')).map((m) => m.target)).toEqual(['/a', '/b']);
    expect(requestHeadsByStandard(b('POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc'))).toBe(1);
    expect(requestHeadsByStandard(b('POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'))).toBe(1);
    expect(requestHeadsByStandard(b('GET /a HTTP/2.0\r\nHost: h\r\n\r\n'))).toBe(0);
  });
});
