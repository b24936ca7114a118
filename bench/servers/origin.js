// The origin every proxy in bench/proxy.js forwards to: a 200-byte page, keep-alive.
import { createServer } from 'node:http';

const body = Buffer.alloc(200, 'x');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'));
