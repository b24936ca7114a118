// Baseline for bench/tls.js: Node's own HTTPS (node:http2 secure server with allowHTTP1, as
// Meridian's TLS listeners) in, undici Pool.dispatch out, a raw handler writing straight to res.
// What Node's TLS, HTTP/1.1 and HTTP/2 stacks cost by themselves.
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { Pool } from 'undici';

const [port, originPort] = process.argv.slice(2, 4).map(Number);
const [certFile, keyFile] = process.argv.slice(4, 6);
const pool = new Pool(`http://127.0.0.1:${originPort}`, { connections: 128 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);
const server = createSecureServer({ allowHTTP1: true, cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' }, (req, res) => {
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (k.charCodeAt(0) !== 58 && !HOP.has(k)) headers[k] = v;
  pool.dispatch(
    { path: req.url, method: req.method, headers },
    {
      onRequestStart() {},
      onResponseStart(_c, status, h) {
        const out = {};
        for (const [k, v] of Object.entries(h)) if (!HOP.has(k)) out[k] = v;
        res.writeHead(status, out);
      },
      onResponseData(c, chunk) {
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError() {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      },
    },
  );
});
Object.assign(server, { keepAliveTimeout: 60_000 });
server.listen(port, '127.0.0.1', () => process.send?.('ready'));
