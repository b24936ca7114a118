// Baseline: node:http in, undici Pool.dispatch out, a raw handler writing straight to res.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, originPort] = process.argv.slice(2).map(Number);
const pool = new Pool(`http://127.0.0.1:${originPort}`, { connections: 128 });
const server = createServer((req, res) => {
  pool.dispatch(
    { path: req.url, method: req.method, headers: req.headers },
    {
      onRequestStart() {},
      onResponseStart(_c, status, headers) {
        res.writeHead(status, headers);
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
        res.statusCode = 502;
        res.end();
      },
    },
  );
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => process.send?.('ready'));
