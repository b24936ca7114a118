import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** What a simulated container answers: the seed's nginx page naming the zone that served it. */
export interface PodIdentity {
  pod: string;
  namespace: string;
  cluster: string;
  zone: string;
}

export interface ServedPort {
  containerPort: number;
  /** The port actually bound: the container port, or a free high port when that needs privilege. */
  hostPort: number;
}

/** The emulated WAN as one pod sees it (WanLatency.forPod). */
export interface ClientDelay {
  /** The region of a client address whose answers are delayed, or undefined: asked once per connection. */
  clientRegion(address: string | undefined): string | undefined;
  /** The round trip to that region now, in ms (run-time overrides included): asked per request. */
  delayMs(clientRegion: string): number;
}

/**
 * The real HTTP servers behind one simulated pod: one per container port, bound to the pod's own
 * loopback address so clients inside the cluster are recognisable by source address.
 */
export class PodServer {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  /** With WAN emulation: the region of each connection from another region's pod range. */
  private readonly clientRegions = new WeakMap<Socket, string>();
  private ready = true;
  readonly ports: ServedPort[] = [];

  constructor(
    readonly podIP: string,
    private readonly identity: PodIdentity,
    /** WAN emulation; absent, every answer goes out at once and no connection is classified. */
    private readonly wan?: ClientDelay,
  ) {}

  async start(containerPorts: number[]): Promise<void> {
    for (const containerPort of containerPorts) {
      const server = this.newServer();
      const hostPort = await listenPreferring(server, this.podIP, containerPort);
      this.servers.push(server);
      this.ports.push({ containerPort, hostPort });
    }
  }

  /** Serves again on exactly the ports it had before `stop()` (a zone coming back). */
  async resume(): Promise<void> {
    for (const { hostPort } of this.ports) {
      const server = this.newServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(hostPort, this.podIP, () => resolve());
      });
      this.servers.push(server);
    }
  }

  private newServer(): Server {
    const wan = this.wan;
    const server = createServer(wan ? (req, res) => this.answerAcrossWan(wan, req, res) : (req, res) => this.answer(req.url ?? '/', res));
    server.keepAliveTimeout = 5_000;
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      if (wan) {
        const region = wan.clientRegion(s.remoteAddress);
        if (region !== undefined) this.clientRegions.set(s, region);
      }
    });
    return server;
  }

  /**
   * Answers after the round trip between the client's region and the pod's, on a timer so the
   * pod's other connections go on meanwhile. A connection that closes first (the client gave up,
   * or `stop()` reset it) cancels the answer.
   */
  private answerAcrossWan(wan: ClientDelay, req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const region = this.clientRegions.get(req.socket);
    const ms = region === undefined ? 0 : wan.delayMs(region);
    if (!(ms > 0)) return this.answer(url, res);
    const due = performance.now() + ms;
    let timer: NodeJS.Timeout;
    const fire = () => {
      // libuv's loop clock counts whole milliseconds, so a timer can fire up to ~1 ms early;
      // a round trip is never shorter than its figure, so wait out the remainder.
      const left = due - performance.now();
      if (left > 0) timer = setTimeout(fire, left);
      else if (!res.destroyed) this.answer(url, res);
    };
    timer = setTimeout(fire, ms);
    res.once('close', () => clearTimeout(timer));
  }

  /** Readiness as the pod's own probe sees it; a failing pod answers 503 everywhere. */
  setReady(ready: boolean): void {
    this.ready = ready;
  }

  isReady(): boolean {
    return this.ready;
  }

  hostPortFor(containerPort: number): number | undefined {
    return this.ports.find((p) => p.containerPort === containerPort)?.hostPort;
  }

  /**
   * Stops answering at once: listeners closed and open connections reset, answers still waiting
   * on the WAN timer included, like a killed process.
   */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.servers.length = 0;
  }

  private answer(url: string, res: ServerResponse): void {
    const { pod, cluster, zone } = this.identity;
    res.setHeader('x-served-by', `${cluster}/${pod}`);
    if (!this.ready) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end(`pod ${pod} is not ready\n`);
      return;
    }
    if (url === '/healthz' || url === '/readyz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    const body =
      '<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to the global site!</title>\n</head>\n<body>\n' +
      `<h1>Welcome to the global site! You are being served from ${zone}</h1>\n` +
      `<p>Congratulations!</p>\n<p>pod ${pod} in cluster ${cluster}</p>\n</body>\n</html>\n`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}

/**
 * Binds the wanted port; a privileged port falls back to a free high port. A taken address
 * (another sandbox on this machine uses it) is an error, so the kubelet moves to the next pod IP.
 */
function listenPreferring(server: Server, host: string, port: number): Promise<number> {
  const attempt = (p: number) =>
    new Promise<number>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        server.off('listening', onListening);
        reject(err);
      };
      const onListening = () => {
        server.off('error', onError);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : p);
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(p, host);
    });
  return attempt(port).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EACCES') return attempt(0);
    throw err;
  });
}
