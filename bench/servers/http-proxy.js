// Baseline: node-http-proxy with a keep-alive agent.
import { createServer, Agent } from 'node:http';
import httpProxy from 'http-proxy';

const [port, originPort] = process.argv.slice(2).map(Number);
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${originPort}`, agent: new Agent({ keepAlive: true, maxSockets: 128 }) });
proxy.on('error', (_e, _req, res) => {
  res.statusCode = 502;
  res.end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => process.send?.('ready'));
