// A floor for bench/tls.js --floors, NOT a proxy: node:http2's core API answering the origin's
// 200-byte page itself, no upstream at all — what TLS, HTTP/2 and Node's event loop cost per
// request before any proxying.
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';

const [port] = process.argv.slice(2, 3).map(Number);
const [certFile, keyFile] = process.argv.slice(4, 6);
const body = Buffer.alloc(200, 'x');
const server = createSecureServer({ allowHTTP1: true, cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' });
server.on('stream', (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': body.length });
  stream.end(body);
});
server.listen(port, '127.0.0.1', () => process.send?.('ready'));
