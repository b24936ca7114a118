// A floor for bench/tls.js --floors, NOT a proxy: node:http2's core API in, and out a hand-written
// HTTP/1.1 client that parses only what bench/servers/origin.js answers (a status line, headers
// with Content-Length, a body; no chunked coding, no validation, no errors handled). What a Node
// HTTP/2 proxy would cost if its upstream client cost almost nothing: the part of the gap to
// nginx that is undici's, beside bare-undici-h2-core.js.
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { connect } from 'node:net';

const [port, originPort] = process.argv.slice(2, 4).map(Number);
const [certFile, keyFile] = process.argv.slice(4, 6);
const HEAD_END = Buffer.from('\r\n\r\n');
const idle = [];

function connection() {
  const socket = connect(originPort, '127.0.0.1');
  socket.setNoDelay(true);
  const c = { socket, stream: null, pending: null };
  socket.on('data', (data) => {
    const buf = c.pending ? Buffer.concat([c.pending, data]) : data;
    const headEnd = buf.indexOf(HEAD_END);
    const length = headEnd < 0 ? -1 : Number(/content-length: *(\d+)/i.exec(buf.latin1Slice(0, headEnd))?.[1] ?? 0);
    if (headEnd < 0 || buf.length < headEnd + 4 + length) {
      c.pending = buf;
      return;
    }
    c.pending = null;
    const stream = c.stream;
    c.stream = null;
    idle.push(c);
    if (stream.destroyed || stream.closed) return; // reset by the loader at its deadline
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': length });
    stream.end(buf.subarray(headEnd + 4, headEnd + 4 + length));
  });
  return c;
}

const server = createSecureServer({ allowHTTP1: true, cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' });
server.on('stream', (stream, h) => {
  const c = idle.pop() ?? connection();
  c.stream = stream;
  c.socket.write(`GET ${h[':path']} HTTP/1.1\r\nhost: ${h[':authority']}\r\nuser-agent: ${h['user-agent']}\r\n\r\n`, 'latin1');
});
server.listen(port, '127.0.0.1', () => process.send?.('ready'));
