// Baseline for bench/tls.js's HTTP/2 row: node:http2's core API (a 'stream' handler,
// stream.respond(); no compat Http2ServerRequest/Response objects) in, undici Pool.dispatch out.
// Beside bare-undici-tls.js (the compat API) it shows what the compat layer costs per request.
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { Pool } from 'undici';

const [port, originPort] = process.argv.slice(2, 4).map(Number);
const [certFile, keyFile] = process.argv.slice(4, 6);
const pool = new Pool(`http://127.0.0.1:${originPort}`, { connections: 128 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);
const server = createSecureServer({ allowHTTP1: true, cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' });
server.on('stream', (stream, h) => {
  const headers = {};
  for (const k in h) if (k.charCodeAt(0) !== 58 && !HOP.has(k)) headers[k] = h[k];
  headers.host = h[':authority'];
  pool.dispatch(
    { path: h[':path'], method: h[':method'], headers },
    {
      onRequestStart() {},
      onResponseStart(_c, status, rh) {
        const out = { ':status': status };
        for (const k in rh) if (!HOP.has(k)) out[k] = rh[k];
        stream.respond(out);
      },
      onResponseData(c, chunk) {
        if (!stream.write(chunk)) {
          c.pause();
          stream.once('drain', () => c.resume());
        }
      },
      onResponseEnd() {
        stream.end();
      },
      onResponseError() {
        if (!stream.headersSent && !stream.destroyed) stream.respond({ ':status': 502 });
        stream.end();
      },
    },
  );
});
server.listen(port, '127.0.0.1', () => process.send?.('ready'));
