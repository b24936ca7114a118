import type { Worker } from 'node:cluster';
import { isMeridianError, MeridianError } from '../common/errors.js';
import type { RouteQuery, RouteReport } from './route-report.js';
import { STATUS_ERRORS, type StatusSource } from './status-page.js';
import { sumFlows, type StatusDocument } from './status.js';

/**
 * The status page of `meridian proxy --workers N`: the primary, which serves the admin port but
 * holds no routing state, asks its workers over the IPC channel node:cluster gives each, and each
 * worker answers from its own status source. Nothing is exchanged per proxied request: a worker
 * computes its document only when the primary asks, as a single process does for each GET.
 *
 * The workers share the fleet's state (through the primary's memory, or Redis), so any one's
 * table, health and fleet are the host's; flows are counted by each worker for its own requests,
 * so the primary sums them.
 */

interface StatusCall {
  meridian: 'status-call';
  id: number;
  kind: 'document' | 'route';
  /** For a document: the primary's clock. */
  now?: number;
  /** For a route. */
  query?: RouteQuery;
}
interface StatusReply {
  meridian: 'status-reply';
  id: number;
  document?: StatusDocument;
  report?: RouteReport;
  error?: { code: string; message: string; hint?: string };
}

/** A worker's side: answers the primary's status calls from `source`. Returns a function that stops answering. */
export function answerStatusCalls(source: StatusSource, channel: NodeJS.Process = process): () => void {
  const onMessage = (raw: unknown) => {
    const call = raw as Partial<StatusCall> | null;
    if (call?.meridian !== 'status-call' || typeof call.id !== 'number') return;
    const { id, now, query } = call;
    if (call.kind === 'route' ? query === undefined : call.kind !== 'document' || typeof now !== 'number') return;
    const reply = (r: Omit<StatusReply, 'meridian' | 'id'>) => {
      // The callback takes a send error (the primary gone) instead of an 'error' event.
      if (channel.connected) channel.send?.({ meridian: 'status-reply', id, ...r } satisfies StatusReply, undefined, undefined, () => undefined);
    };
    (async () => (call.kind === 'route' ? { report: await source.route(query!) } : { document: await source.document(now!) }))().then(reply, (err: unknown) =>
      reply({ error: isMeridianError(err) ? { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } : { code: 'E_STATUS_FAILED', message: `the status document failed in worker ${process.pid}: ${(err as Error).message}` } }),
    );
  };
  channel.on('message', onMessage);
  return () => channel.off('message', onMessage);
}

export interface WorkersStatusOptions {
  /** The primary's workers (cluster.workers). */
  workers: () => Iterable<Worker>;
  /** Subscribes to the workers' messages (cluster.on('message')). */
  on: (listener: (worker: Worker, message: unknown) => void) => void;
  /** Subscribes to workers' exits (cluster.on('exit')): one that exits is not waited for. */
  onExit?: (listener: (worker: Worker) => void) => void;
  /** How long a worker has to answer before it is left out. */
  deadlineMs?: number;
}

interface Asking {
  /** Workers asked and not yet answered, by cluster id. */
  waiting: Set<number>;
  replies: { worker: Worker; reply: StatusReply }[];
  /** Called on each reply; true when it settles the call. */
  onReply: () => boolean;
}

/** The primary's side: a status source that asks the workers (see the module's comment). */
export function workersStatusSource(opts: WorkersStatusOptions): StatusSource {
  const deadlineMs = opts.deadlineMs ?? 1_000;
  const asking = new Map<number, Asking>();
  let next = 1;
  opts.on((worker, raw) => {
    const reply = raw as Partial<StatusReply> | null;
    if (reply?.meridian !== 'status-reply' || typeof reply.id !== 'number') return;
    const a = asking.get(reply.id);
    if (!a || !a.waiting.delete(worker.id)) return;
    a.replies.push({ worker, reply: reply as StatusReply });
    if (a.onReply()) asking.delete(reply.id);
  });
  opts.onExit?.((worker) => {
    for (const [id, a] of asking) if (a.waiting.delete(worker.id) && a.onReply()) asking.delete(id);
  });

  /** Sends `call` to every connected worker; resolves with the replies once `settled` says so, or at the deadline. */
  const ask = (call: Omit<StatusCall, 'meridian' | 'id'>, settled: (a: Asking) => boolean): Promise<{ asked: number; replies: Asking['replies'] }> =>
    new Promise((resolve) => {
      const id = next++;
      const a: Asking = { waiting: new Set(), replies: [], onReply: () => false };
      for (const w of opts.workers()) {
        if (!w.isConnected()) continue;
        a.waiting.add(w.id);
        // A worker whose channel closes meanwhile does not answer: the deadline leaves it out.
        w.send({ meridian: 'status-call', id, ...call } satisfies StatusCall, () => undefined);
      }
      const asked = a.waiting.size;
      const finish = () => {
        clearTimeout(timer);
        asking.delete(id);
        resolve({ asked, replies: a.replies });
      };
      const timer = setTimeout(finish, deadlineMs);
      a.onReply = () => {
        if (!settled(a)) return false;
        finish();
        return true;
      };
      if (asked === 0) finish();
      else asking.set(id, a);
    });

  const noAnswer = (asked: number) =>
    new MeridianError('E_STATUS_UNAVAILABLE', asked === 0 ? 'no worker of this proxy is running' : `none of the ${asked} workers of this proxy answered within ${deadlineMs} ms`, STATUS_ERRORS.E_STATUS_UNAVAILABLE.hint);
  const failure = (e: NonNullable<StatusReply['error']>) => new MeridianError(e.code, e.message, e.hint);

  return {
    async document(now) {
      const { asked, replies } = await ask({ kind: 'document', now }, (a) => a.waiting.size === 0);
      // The lowest worker id first: the page shows one worker's table while they all answer.
      const answered = replies.filter((r) => r.reply.document !== undefined).sort((x, y) => x.worker.id - y.worker.id);
      if (answered.length === 0) {
        const failed = replies.find((r) => r.reply.error);
        throw failed ? failure(failed.reply.error!) : noAnswer(asked);
      }
      const base = answered[0]!.reply.document!;
      return {
        ...base,
        flows: sumFlows(answered.map((r) => r.reply.document!.flows)),
        workers: {
          asked,
          answered: answered.length,
          answeredBy: answered.map(({ worker, reply }) => ({
            worker: worker.id,
            pid: worker.process.pid ?? 0,
            proxy: reply.document!.proxy.id,
            flowRequests: reply.document!.flows.flows.reduce((sum, f) => sum + f.requests, 0),
          })),
        },
      };
    },
    async route(query) {
      // Every worker explains against the same shared state: the first answer is the host's.
      const { asked, replies } = await ask({ kind: 'route', query }, (a) => a.replies.length > 0 || a.waiting.size === 0);
      const first = replies[0]?.reply;
      if (!first) throw noAnswer(asked);
      if (first.error) throw failure(first.error);
      return first.report!;
    },
  };
}
