import type { Worker } from 'node:cluster';
import type { MemoryBackend } from './memory-store.js';
import { MemoryStore } from './memory-store.js';
import type { FleetMessage, FleetStore } from './store.js';

/**
 * One host's `--workers` as a fleet without Redis: the primary holds the fleet's state in memory
 * and each worker reaches it over the IPC channel node:cluster gives it. Workers then share
 * health, load and capacity exactly as the proxies of a Redis fleet do: the same mechanism, a
 * shorter wire. (The channel needs `serialization: 'advanced'` for the Maps in the answers.)
 */

type StoreMethod = Exclude<keyof FleetStore, 'description' | 'fleet' | 'subscribe' | 'onConnectionChange' | 'close' | 'ready'>;

interface Call {
  meridian: 'store-call';
  id: number;
  fleet: string;
  method: StoreMethod;
  args: unknown[];
}
interface Reply {
  meridian: 'store-reply';
  id: number;
  result?: unknown;
  error?: string;
}
interface Broadcast {
  meridian: 'store-message';
  fleet: string;
  message: FleetMessage;
}

const METHODS: readonly StoreMethod[] = ['publishTable', 'tableVersion', 'readTable', 'publishCertificates', 'certificatesVersion', 'readCertificates', 'heartbeat', 'leave', 'members', 'putVotes', 'votes', 'putEjection', 'removeEjection', 'ejections', 'reportLoad', 'readLoad', 'ticketKeys', 'rotateTicketKeys', 'publish'];

/** The primary's side: answers its workers' calls from `backend` and forwards every fleet message to all of them. */
export function serveWorkers(backend: MemoryBackend, workers: () => Iterable<Worker>, on: (listener: (worker: Worker, message: unknown) => void) => void): void {
  const stores = new Map<string, MemoryStore>();
  const storeFor = (fleet: string): MemoryStore => {
    let s = stores.get(fleet);
    if (!s) {
      s = new MemoryStore(backend, fleet);
      stores.set(fleet, s);
      void s.subscribe((message) => {
        const b: Broadcast = { meridian: 'store-message', fleet, message };
        for (const w of workers()) if (w.isConnected()) w.send(b);
      });
    }
    return s;
  };
  on((worker, raw) => {
    const call = raw as Partial<Call>;
    if (call?.meridian !== 'store-call' || typeof call.id !== 'number' || !METHODS.includes(call.method!)) return;
    const id = call.id;
    const store = storeFor(String(call.fleet));
    const fn = store[call.method!] as (...args: unknown[]) => Promise<unknown>;
    fn.apply(store, call.args ?? []).then(
      (result) => worker.isConnected() && worker.send({ meridian: 'store-reply', id, result } satisfies Reply),
      (err: unknown) => worker.isConnected() && worker.send({ meridian: 'store-reply', id, error: String(err) } satisfies Reply),
    );
  });
}

/** A worker's side: the FleetStore interface over the IPC channel to its primary. */
export class IpcStore implements FleetStore {
  readonly description: string;
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly handlers: ((m: FleetMessage) => void)[] = [];
  private readonly onMessage = (raw: unknown) => {
    const kind = (raw as { meridian?: string } | null)?.meridian;
    if (kind === 'store-reply') {
      const m = raw as Reply;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.result);
    } else if (kind === 'store-message') {
      const m = raw as Broadcast;
      if (m.fleet === this.fleet) for (const h of this.handlers) h(m.message);
    }
  };

  constructor(
    readonly fleet: string,
    private readonly channel: NodeJS.Process = process,
    private readonly timeoutMs = 1_000,
  ) {
    this.description = `the primary's memory (fleet ${fleet})`;
    channel.on('message', this.onMessage);
  }

  private call<T>(method: StoreMethod, ...args: unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.channel.send || !this.channel.connected) return reject(new Error('no IPC channel to the primary'));
      const id = this.next++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the primary did not answer ${method} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.channel.send({ meridian: 'store-call', id, fleet: this.fleet, method, args } satisfies Call);
    });
  }

  async ready(): Promise<void> {}
  publishTable = (...a: Parameters<FleetStore['publishTable']>) => this.call<void>('publishTable', ...a);
  tableVersion = () => this.call<string | undefined>('tableVersion');
  readTable = () => this.call<Awaited<ReturnType<FleetStore['readTable']>>>('readTable');
  publishCertificates = (...a: Parameters<FleetStore['publishCertificates']>) => this.call<void>('publishCertificates', ...a);
  certificatesVersion = () => this.call<string | undefined>('certificatesVersion');
  readCertificates = () => this.call<Awaited<ReturnType<FleetStore['readCertificates']>>>('readCertificates');
  heartbeat = (...a: Parameters<FleetStore['heartbeat']>) => this.call<void>('heartbeat', ...a);
  leave = (...a: Parameters<FleetStore['leave']>) => this.call<void>('leave', ...a);
  members = () => this.call<Awaited<ReturnType<FleetStore['members']>>>('members');
  putVotes = (...a: Parameters<FleetStore['putVotes']>) => this.call<void>('putVotes', ...a);
  votes = (...a: Parameters<FleetStore['votes']>) => this.call<Awaited<ReturnType<FleetStore['votes']>>>('votes', ...a);
  putEjection = (...a: Parameters<FleetStore['putEjection']>) => this.call<void>('putEjection', ...a);
  removeEjection = (...a: Parameters<FleetStore['removeEjection']>) => this.call<void>('removeEjection', ...a);
  ejections = (...a: Parameters<FleetStore['ejections']>) => this.call<Awaited<ReturnType<FleetStore['ejections']>>>('ejections', ...a);
  reportLoad = (...a: Parameters<FleetStore['reportLoad']>) => this.call<void>('reportLoad', ...a);
  readLoad = (...a: Parameters<FleetStore['readLoad']>) => this.call<Awaited<ReturnType<FleetStore['readLoad']>>>('readLoad', ...a);
  ticketKeys = () => this.call<Awaited<ReturnType<FleetStore['ticketKeys']>>>('ticketKeys');
  rotateTicketKeys = (...a: Parameters<FleetStore['rotateTicketKeys']>) => this.call<boolean>('rotateTicketKeys', ...a);
  publish = (...a: Parameters<FleetStore['publish']>) => this.call<void>('publish', ...a);

  async subscribe(handler: (message: FleetMessage) => void): Promise<void> {
    this.handlers.push(handler);
  }

  onConnectionChange(listener: (up: boolean, reason?: string) => void): void {
    setImmediate(() => listener(true));
  }

  async close(): Promise<void> {
    this.channel.off('message', this.onMessage);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('store closed'));
    }
    this.pending.clear();
  }
}
