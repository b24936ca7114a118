// Baseline: fastify + @fastify/reply-from.
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';

const [port, originPort] = process.argv.slice(2).map(Number);
const app = Fastify({ logger: false });
await app.register(replyFrom, { base: `http://127.0.0.1:${originPort}` });
app.all('/*', (req, reply) => reply.from(req.url));
await app.listen({ port, host: '127.0.0.1' });
process.send?.('ready');
