// Raw HTTP/1.1 probes of a proxy's parsing, shared by the adversarial tests
// (test/integration/security/) and the differential harness (bench/security-diff.js). Each probe
// says what its bytes are by the standard's reading (RFC 9110/9112), so that any proxy's
// behaviour can be judged against it whatever status code it chooses:
//
//   request     the bytes a client sends on one connection (latin1)
//   allowed     the request targets an origin may see, in order, by any reading the standard allows
//               (strict or with its recipient tolerances): seeing more, or others, is smuggling
//   neverForward  strings that no acceptable reading puts in a forwarded request: seen at the
//               origin, they prove the proxy framed the client's bytes differently
//   answer      what the client must get:
//                 'reject'          no 2xx for the offending request (4xx/5xx, or a close)
//                 'reject-or-close' a 4xx/5xx first, or the connection closed after at most the
//                                   answers to `allowed` (RFC 9112 §6.1: after a request with both
//                                   Content-Length and Transfer-Encoding the server must close)
//                 'serve'           2xx for every allowed request, in order
//                 'any'             nothing required beyond the origin's side
//                 [codes]           one of these statuses
//   served      how many requests before the offending one are valid (for 'reject')
//               (whatever the probe, once an answer says Connection: close, no request after the
//               one it answers may reach the origin: RFC 9112 §9.6)
//   forwardBody the body a forwarded request must carry (the tests compare every field and body)
//   origin      (hostile-origin probes) the origin's raw answer: strings and { waitMs } pauses
//   then        what the origin does after it: 'keep' | 'end' | 'reset' | 'hang'
//   cut         the origin's answer is incomplete: the client must not get it as a complete response
//   body        the content the client must get when the proxy passes the answer on

const HOST = 'app.test';

/** A request: request line, `Host: app.test` (unless `host` is false), the given raw field lines, the body. */
export function request(method, target, lines = [], body = '', { host = true, version = 'HTTP/1.1' } = {}) {
  const fields = [...(host ? [`Host: ${HOST}`] : []), ...lines];
  return `${method} ${target} ${version}\r\n${fields.map((l) => `${l}\r\n`).join('')}\r\n${body}`;
}

/** The request a smuggling attempt hides: a proxy that frames the attack wrongly forwards it. */
export const SMUGGLED = request('GET', '/smuggled', ['X-Smuggled: yes']);

const chunk = (data) => `${Buffer.byteLength(data, 'latin1').toString(16)}\r\n${data}\r\n`;
const LAST = '0\r\n\r\n';
/** CL.TE shape: by Transfer-Encoding the body ends at the last chunk and SMUGGLED follows; by Content-Length SMUGGLED is body. */
const clte = (teLines, target = '/a') => request('POST', target, [`Content-Length: ${LAST.length + SMUGGLED.length}`, ...teLines], LAST + SMUGGLED);

/** @type {import('./security-probes.js').Probe[]} */
export const PROBES = [
  // ---- smuggling: CL.TE, TE.CL, TE.TE, Content-Length, chunk sizes, bodies vs. declared lengths
  { theme: 'smuggling', name: 'cl-te', request: clte(['Transfer-Encoding: chunked']), allowed: ['/a'], neverForward: ['/smuggled'], answer: 'reject-or-close' },
  {
    theme: 'smuggling',
    name: 'te-cl',
    // By Transfer-Encoding SMUGGLED is chunk data; a reader by Content-Length: 4 takes it for the next request.
    request: request('POST', '/a', ['Content-Length: 4', 'Transfer-Encoding: chunked'], chunk(SMUGGLED) + LAST),
    allowed: ['/a'],
    answer: 'reject-or-close',
  },
  { theme: 'smuggling', name: 'te-xchunked', request: clte(['Transfer-Encoding: xchunked']), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'te-value-leading-whitespace', request: clte(['Transfer-Encoding: \t chunked']), allowed: ['/a'], neverForward: ['/smuggled'], answer: 'reject-or-close' },
  {
    theme: 'smuggling',
    name: 'te-line-leading-space',
    // " Transfer-Encoding: chunked" continues X-Pad (obs-fold): no Transfer-Encoding at all, or a 400.
    request: request('POST', '/a', [`Content-Length: ${LAST.length + SMUGGLED.length}`, 'X-Pad: x', ' Transfer-Encoding: chunked'], LAST + SMUGGLED),
    allowed: ['/a'],
    answer: 'any',
  },
  { theme: 'smuggling', name: 'te-chunked-identity', request: clte(['Transfer-Encoding: chunked, identity']), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'te-space-before-colon', request: clte(['Transfer-Encoding : chunked']), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'te-duplicate-lines', request: clte(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked']), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'te-chunked-then-identity-lines', request: request('POST', '/a', ['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], LAST + SMUGGLED), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'te-obs-fold', request: clte(['Transfer-Encoding:', ' chunked']), allowed: ['/a'], neverForward: ['/smuggled'], answer: 'reject-or-close' },
  { theme: 'smuggling', name: 'te-uppercase-with-cl', request: clte(['Transfer-Encoding: CHUNKED']), allowed: ['/a'], neverForward: ['/smuggled'], answer: 'reject-or-close' },
  {
    theme: 'smuggling',
    name: 'te-gzip-chunked',
    // Valid framing; the gzip coding must survive (or the request be refused, 501): dropping it
    // hands the origin gzip bytes as if they were the content.
    request: request('POST', '/a', ['Transfer-Encoding: gzip, chunked'], chunk('hello') + LAST),
    allowed: ['/a'],
    answer: 'any',
    keepCoding: 'gzip',
  },
  // An empty Transfer-Encoding is a list of no codings: chunked is not the last, so 400 (RFC 9112 §6.3).
  { theme: 'smuggling', name: 'te-empty', request: request('POST', '/a', ['Transfer-Encoding: '], chunk('hello') + LAST), allowed: [], answer: 'reject' },
  { theme: 'smuggling', name: 'te-empty-with-cl', request: request('POST', '/a', ['Transfer-Encoding: ', 'Content-Length: 5'], 'hello'), allowed: [], answer: 'reject' },
  // A refusal that closes the connection ends it: a request behind it never reaches the origin
  // (RFC 9112 §9.6: no further requests are processed after "close").
  { theme: 'smuggling', name: 'te-empty-then-pipelined', request: request('GET', '/a', ['Transfer-Encoding: ']) + SMUGGLED, allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'te-gzip-chunked-then-pipelined', request: request('POST', '/a', ['Transfer-Encoding: gzip, chunked'], chunk('hello') + LAST) + SMUGGLED, allowed: ['/a', '/smuggled'], answer: 'any' },
  { theme: 'smuggling', name: 'te-chunked-pipelined (control)', request: request('POST', '/a', ['Transfer-Encoding: chunked'], chunk('hello') + LAST) + request('GET', '/b'), allowed: ['/a', '/b'], answer: 'serve' },
  { theme: 'smuggling', name: 'cl-duplicate-same', request: request('POST', '/a', ['Content-Length: 5', 'Content-Length: 5'], 'hello'), allowed: ['/a'], answer: 'any' },
  { theme: 'smuggling', name: 'cl-duplicate-different', request: request('POST', '/a', ['Content-Length: 5', `Content-Length: ${5 + SMUGGLED.length}`], 'hello' + SMUGGLED), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'cl-list-same', request: request('POST', '/a', ['Content-Length: 5, 5'], 'hello'), allowed: ['/a'], answer: 'any' },
  { theme: 'smuggling', name: 'cl-list-different', request: request('POST', '/a', [`Content-Length: 5, ${5 + SMUGGLED.length}`], 'hello' + SMUGGLED), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'cl-plus-sign', request: request('POST', '/a', [`Content-Length: +${SMUGGLED.length}`], SMUGGLED), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'cl-negative', request: request('POST', '/a', ['Content-Length: -1'], SMUGGLED), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'cl-hex', request: request('POST', '/a', [`Content-Length: 0x${SMUGGLED.length.toString(16)}`], SMUGGLED), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'cl-inner-space', request: request('POST', '/a', [`Content-Length: ${String(SMUGGLED.length).split('').join(' ')}`], SMUGGLED), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'cl-decimal-point', request: request('POST', '/a', [`Content-Length: ${SMUGGLED.length}.0`], SMUGGLED), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'cl-empty', request: request('POST', '/a', ['Content-Length: '], SMUGGLED), allowed: [], neverForward: ['/smuggled'], answer: 'reject' },
  { theme: 'smuggling', name: 'cl-ows-and-leading-zeros (control)', request: request('POST', '/a', ['Content-Length:   005  '], 'hello'), allowed: ['/a'], answer: 'serve' },
  {
    theme: 'smuggling',
    name: 'chunk-size-overflow',
    // 2^64: a parser that wraps reads a last chunk and then SMUGGLED as the next request. By the
    // standard SMUGGLED is the start of a 2^64-byte chunk: a proxy refuses it (a limit) or waits.
    request: request('POST', '/a', ['Transfer-Encoding: chunked'], `10000000000000000\r\n\r\n${SMUGGLED}`),
    allowed: [],
    answer: 'any',
  },
  { theme: 'smuggling', name: 'chunk-size-negative', request: request('POST', '/a', ['Transfer-Encoding: chunked'], `-5\r\nhello\r\n${LAST}`), allowed: [], answer: 'reject' },
  { theme: 'smuggling', name: 'chunk-size-non-hex', request: request('POST', '/a', ['Transfer-Encoding: chunked'], `zz\r\nhello\r\n${LAST}`), allowed: [], answer: 'reject' },
  { theme: 'smuggling', name: 'chunk-size-0x-prefix', request: request('POST', '/a', ['Transfer-Encoding: chunked'], `0x5\r\nhello\r\n${LAST}`), allowed: [], answer: 'reject' },
  { theme: 'smuggling', name: 'chunk-data-longer-than-size', request: request('POST', '/a', ['Transfer-Encoding: chunked'], `5\r\nhello world\r\n${LAST}`), allowed: [], answer: 'reject' },
  {
    theme: 'smuggling',
    name: 'chunk-missing-crlf-after-data',
    // A parser that skips two bytes after the data without looking reads SMUGGLED's "GE" as the CRLF.
    request: request('POST', '/a', ['Transfer-Encoding: chunked'], `5\r\nhello${SMUGGLED}`),
    allowed: [],
    neverForward: ['/smuggled'],
    answer: 'reject',
  },
  { theme: 'smuggling', name: 'chunk-extension-long', request: request('POST', '/a', ['Transfer-Encoding: chunked'], `5;${'a'.repeat(20_000)}\r\nhello\r\n${LAST}`), allowed: ['/a'], answer: 'any' },
  { theme: 'smuggling', name: 'chunk-extension-bare-lf', request: request('POST', '/a', ['Transfer-Encoding: chunked'], `5;x\nhello\r\n${LAST}`), allowed: ['/a'], answer: 'any' },
  { theme: 'smuggling', name: 'chunk-extension-quoted (control)', request: request('POST', '/a', ['Transfer-Encoding: chunked'], `5;name="va;lue"\r\nhello\r\n${LAST}`), allowed: ['/a'], answer: 'serve' },
  { theme: 'smuggling', name: 'chunk-size-bare-lf', request: request('POST', '/a', ['Transfer-Encoding: chunked'], `5\nhello\r\n${LAST}`), allowed: ['/a'], answer: 'any' },
  { theme: 'smuggling', name: 'body-longer-is-next-request (control)', request: request('POST', '/a', ['Content-Length: 5'], 'hello') + request('GET', '/b'), allowed: ['/a', '/b'], answer: 'serve' },
  { theme: 'smuggling', name: 'body-longer-garbage', request: request('POST', '/a', ['Content-Length: 5'], 'helloXXXX\r\n\r\n'), allowed: ['/a'], served: 1, answer: 'reject' },
  {
    theme: 'smuggling',
    name: 'body-shorter-swallows-next',
    // Content-Length 20 takes "hello" and the first 15 bytes of the GET: /b is body, not a request.
    request: request('POST', '/a', ['Content-Length: 20'], 'hello') + request('GET', '/b'),
    allowed: ['/a'],
    served: 1,
    answer: 'reject',
  },
  { theme: 'smuggling', name: 'body-shorter-never-completed', request: request('POST', '/a', ['Content-Length: 20'], 'hello'), allowed: [], answer: 'any' },
  {
    theme: 'smuggling',
    name: 'pipelined-behind-cl-te',
    request: request('GET', '/a') + clte(['Transfer-Encoding: chunked'], '/b') + request('GET', '/c'),
    allowed: ['/a', '/b'],
    neverForward: ['/smuggled', '/c'],
    served: 1,
    answer: 'reject-or-close',
  },
  { theme: 'smuggling', name: 'pipelined-behind-bad-chunk', request: request('GET', '/a') + request('POST', '/b', ['Transfer-Encoding: chunked'], `zz\r\n${LAST}`) + request('GET', '/c'), allowed: ['/a'], neverForward: ['/c'], served: 1, answer: 'reject' },

  // ---- header syntax: folding, line ends, control characters, names, sizes, request line
  { theme: 'header-syntax', name: 'obs-fold', request: request('GET', '/a', ['X-Fold: one', ' two']), allowed: ['/a'], answer: 'any' },
  { theme: 'header-syntax', name: 'obs-fold-first-line', request: `GET /a HTTP/1.1\r\n X-Fold: one\r\nHost: ${HOST}\r\n\r\n`, allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'bare-lf-everywhere', request: `GET /a HTTP/1.1\nHost: ${HOST}\nX-A: 1\n\n`, allowed: ['/a'], answer: 'any' },
  { theme: 'header-syntax', name: 'bare-lf-inside-field-section', request: `GET /a HTTP/1.1\r\nHost: ${HOST}\r\nX-A: 1\nX-B: 2\r\n\r\n`, allowed: ['/a'], answer: 'any' },
  { theme: 'header-syntax', name: 'bare-cr-in-value', request: request('GET', '/a', ['X-A: a\rX-B: b']), allowed: ['/a'], absentHeaders: ['x-b'], answer: 'any' },
  { theme: 'header-syntax', name: 'bare-cr-line-end', request: `GET /a HTTP/1.1\r\nHost: ${HOST}\rX-B: b\r\n\r\n`, allowed: ['/a'], absentHeaders: ['x-b'], answer: 'any' },
  { theme: 'header-syntax', name: 'nul-in-value', request: request('GET', '/a', ['X-A: a\0b']), allowed: ['/a'], answer: 'any' },
  { theme: 'header-syntax', name: 'nul-in-name', request: request('GET', '/a', ['X-\0A: 1']), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'ctl-0x01-in-value', request: request('GET', '/a', ['X-A: a\x01b']), allowed: ['/a'], answer: 'any' },
  { theme: 'header-syntax', name: 'del-in-value', request: request('GET', '/a', ['X-A: a\x7fb']), allowed: ['/a'], answer: 'any' },
  { theme: 'header-syntax', name: 'ctl-in-name', request: request('GET', '/a', ['X-\x01A: 1']), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'space-before-colon', request: request('GET', '/a', ['X-A : 1']), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'tab-before-colon', request: request('GET', '/a', ['X-A\t: 1']), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'host-space-before-colon', request: request('GET', '/a', ['Host : evil.test'], '', { host: true }), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'empty-name', request: request('GET', '/a', [': v']), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'no-colon', request: request('GET', '/a', ['X-A 1']), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'space-inside-name', request: request('GET', '/a', ['X A: 1']), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'long-header-value', request: request('GET', '/a', [`X-Long: ${'v'.repeat(20_000)}`]), allowed: [], answer: [431] },
  { theme: 'header-syntax', name: 'long-request-line', request: request('GET', `/a?${'q'.repeat(20_000)}`), allowed: [], answer: [414, 431] },
  {
    theme: 'header-syntax',
    name: 'many-headers-framing-last',
    // 2,100 small fields (10 KB, under a 16 KB header limit) with Content-Length after them: all of
    // them forwarded and the body with them, or the request refused.
    request: request('POST', '/a', [...Array.from({ length: 2100 }, (_, i) => `X-${i}: 1`), 'Content-Length: 5'], 'hello'),
    allowed: ['/a'],
    forwardBody: 'hello',
    answer: 'any',
  },
  { theme: 'header-syntax', name: 'method-invalid-char', request: request('G@T', '/a'), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'method-nul', request: request('GE\0T', '/a'), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'target-space', request: request('GET', '/a b'), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'target-ctl', request: request('GET', '/a\x01b'), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'target-absolute-form', request: request('GET', `http://${HOST}/a`), allowed: ['/a', `http://${HOST}/a`], originForm: true, answer: 'any' },
  { theme: 'header-syntax', name: 'target-absolute-form-other-host', request: request('GET', 'http://other.test/a'), allowed: [], answer: 'any' },
  // No version at all (HTTP/0.9's simple request, here with fields after it), or no SP before it.
  { theme: 'header-syntax', name: 'request-line-no-version', request: `GET /a\r\nHost: ${HOST}\r\n\r\n`, allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'request-line-no-space-before-version', request: `GET /aHTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'version-http-2.0', request: request('GET', '/a', [], '', { version: 'HTTP/2.0' }), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'version-http-0.9', request: request('GET', '/a', [], '', { version: 'HTTP/0.9' }), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'version-lowercase', request: request('GET', '/a', [], '', { version: 'http/1.1' }), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'version-two-digits', request: request('GET', '/a', [], '', { version: 'HTTP/11' }), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'two-host-headers', request: request('GET', '/a', ['Host: evil.test']), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'two-host-headers-then-pipelined', request: request('GET', '/a', ['Host: evil.test']) + SMUGGLED, allowed: ['/smuggled'], answer: 'reject' },
  { theme: 'header-syntax', name: 'target-encoded-slash-then-pipelined', request: request('GET', '/a%2fb') + SMUGGLED, allowed: ['/a%2fb', '/smuggled'], answer: 'any' },
  { theme: 'header-syntax', name: 'no-host-http-1.1', request: request('GET', '/a', [], '', { host: false }), allowed: [], answer: 'reject' },
  { theme: 'header-syntax', name: 'leading-empty-lines', request: `\r\n\r\n${request('GET', '/a')}`, allowed: ['/a'], answer: 'any' },

  // ---- hostile origins: what the origin answers to GET /h/<name>
  ...[
    ['cl-and-te', ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'], { body: 'hello' }],
    ['cl-duplicate-different', ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!']],
    ['cl-duplicate-same', ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'], { body: 'hello' }],
    ['cl-invalid', ['HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello']],
    ['garbage-status-line', ['FOO BAR\r\n\r\nhello'], { then: 'end' }],
    ['status-code-four-digits', ['HTTP/1.1 2000 OK\r\nContent-Length: 5\r\n\r\nhello']],
    ['http-0.9-body-only', ['hello\n'], { then: 'end' }],
    ['truncated-content-length', ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-this'], { then: 'end', cut: true }],
    ['truncated-chunked-mid-chunk', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello'], { then: 'end', cut: true }],
    ['truncated-chunked-before-last', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'], { then: 'end', cut: true }],
    ['truncated-reset-mid-body', ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-this'], { then: 'reset', cut: true }],
    ['close-delimited (control)', ['HTTP/1.1 200 OK\r\n\r\nuntil-close'], { then: 'end', body: 'until-close' }],
    ['bad-chunk-size', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'], { cut: true }],
    ['100-continue-unsolicited', ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'], { body: 'hello', mustPass: true }],
    ['103-early-hints', ['HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'], { body: 'hello', mustPass: true }],
    ['101-without-upgrade', ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: Upgrade\r\n\r\nTUNNEL-BYTES'], { then: 'end' }],
    ['header-overflow', [`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(70_000)}\r\nContent-Length: 5\r\n\r\nhello`]],
    ['obs-fold-header', ['HTTP/1.1 200 OK\r\nX-Fold: one\r\n two\r\nContent-Length: 5\r\n\r\nhello'], { body: 'hello' }],
    ['space-before-colon', ['HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello'], { then: 'end' }],
    ['nul-in-header', ['HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 5\r\n\r\nhello'], { body: 'hello' }],
    ['bare-lf-head', ['HTTP/1.1 200 OK\nContent-Length: 5\n\nhello'], { body: 'hello' }],
    ['extra-response-after-body', ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL'], { body: 'hello' }],
    ['body-on-204', ['HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nEVIL']],
    ['never-ends', ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstarted'], { then: 'hang', cut: true }],
    ['never-answers', [], { then: 'hang' }],
    ['closes-before-answering', [], { then: 'end' }],
    ['resets-before-answering', [], { then: 'reset' }],
  ].map(([name, origin, o = {}]) => ({
    theme: 'hostile-origin',
    name,
    request: request('GET', hostilePath(name)),
    allowed: [hostilePath(name)],
    origin,
    then: o.then ?? 'keep',
    ...(o.cut ? { cut: true } : {}),
    ...(o.body ? { body: o.body } : {}),
    ...(o.mustPass ? { mustPass: true } : {}),
    answer: 'any',
  })),
];

/** Where a hostile-origin probe's request goes: the origin answers this path with the probe's bytes. */
export function hostilePath(name) {
  return `/h/${name.replace(/[^A-Za-z0-9.-]+/g, '-')}`;
}

/** The probes of one theme. */
export function probesOf(theme) {
  return PROBES.filter((p) => p.theme === theme);
}
