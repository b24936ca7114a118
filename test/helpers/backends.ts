import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a named backend served, and when (performance.now()). */
export interface Served {
  at: number;
  by: string;
}

/** Real HTTP backends, one per [name, host], answering their name and logging each request into `served`. */
export function namedBackends(specs: [name: string, host: string][], served: Served[]): Promise<Server[]> {
  return Promise.all(
    specs.map(async ([name, host]) => {
      const s = createServer((_req, res) => {
        served.push({ at: performance.now(), by: name });
        res.end(name);
      });
      await new Promise<void>((r) => s.listen(0, host, () => r()));
      return s;
    }),
  );
}

/** A listening server as a routing-table endpoint. */
export function endpointOf(s: Server): { address: string; port: number } {
  const a = s.address() as AddressInfo;
  return { address: a.address, port: a.port };
}
