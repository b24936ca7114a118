import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenError } from '../common/errors.js';

export interface AdminHandlers {
  metrics(): Promise<{ contentType: string; body: string }>;
  ready(): boolean;
  table(): unknown;
  /** The status page and its documents (`/ui…`, `/status…`; see status-page.ts): true when it answered. */
  page?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/** The admin port: /metrics, /healthz, /readyz (503 while draining), /debug/table, and the status page. */
export async function startAdmin(host: string, port: number, h: AdminHandlers): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (h.page?.(req, res)) return;
    if (path === '/metrics') {
      h.metrics().then(
        (m) => {
          res.writeHead(200, { 'content-type': m.contentType });
          res.end(m.body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${String(err)}\n`);
        },
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else if (path === '/readyz') {
      const ready = h.ready();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ready ? 'ready\n' : 'not ready (draining or no table)\n');
    } else if (path === '/debug/table') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(h.table(), null, 2)}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, 'the admin port', host, port, 'admin: in the config (--proxy-admin for the demo)')));
    server.listen(port, host, () => resolve());
  });
  return { server, address: server.address() as AddressInfo };
}
