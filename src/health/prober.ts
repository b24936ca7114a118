import { Agent, request } from 'undici';
import type { RoutingSnapshot } from '../routing/snapshot.js';

/** What the prober reads and writes: the proxy's routing state implements it. */
export interface ProbedState {
  readonly snapshot: RoutingSnapshot;
  /** Endpoints to probe (1 = probe), or undefined for all of them. */
  readonly probeTargets: Uint8Array | undefined;
  /** This proxy's own verdicts (1 = up). */
  readonly probes: { readonly healthy: Uint8Array };
  recordProbe(endpoint: number, ok: boolean): boolean;
  recordRtt(endpoint: number, ms: number): void;
}

export interface ProberOptions {
  intervalMs: number;
  timeoutMs: number;
  /** At most this many probes at once. */
  concurrency: number;
  /** Sent as the probe's User-Agent (with the proxy's id, so an origin can tell probers apart). */
  userAgent?: string;
  /** Local address the probes leave from (the proxy's `upstreamBind`), so they take the data path. */
  localAddress?: string;
  /** Spacing of the quick re-probes that confirm a peer's verdict. */
  confirmSpacingMs?: number;
}

/**
 * Active health checks: the endpoints this proxy probes (all of them, or in a fleet the ones
 * assigned to it — `state.probeTargets`) get an HTTP GET on their backend's health path each
 * interval (with jitter); results go through the probe state machine (N failures down, M
 * successes up) into the derived health, and their round trip into the proxy's latency view.
 * Never on the request path.
 */
export class Prober {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly agent: Agent;
  /** Endpoint identities being confirmed now, so a burst of votes re-probes each once. */
  private readonly confirming = new Set<string>();

  constructor(
    private readonly state: ProbedState,
    private readonly opts: ProberOptions,
  ) {
    this.agent = new Agent({ keepAliveTimeout: Math.max(opts.intervalMs * 3, 4_000), connections: 1, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      await this.round();
      if (this.stopped) return;
      const jitter = this.opts.intervalMs * 0.1 * Math.random();
      this.timer = setTimeout(() => void loop(), this.opts.intervalMs + jitter);
      this.timer.unref();
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.agent.close().catch(() => {});
  }

  /** One probe of every endpoint this proxy probes. */
  async round(): Promise<void> {
    const snap = this.state.snapshot;
    const targets = this.state.probeTargets;
    const ids: number[] = [];
    for (let e = 0; e < snap.endpoints.length; e++) if (!targets || targets[e]) ids.push(e);
    let next = 0;
    const worker = async () => {
      while (next < ids.length && !this.stopped) await this.probeOnce(snap, ids[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, ids.length) }, worker));
  }

  /**
   * Re-probes `endpoints` now and a few times more in quick succession (as many as it takes to
   * flip a verdict), stopping early once this proxy's own verdict says `up`: a peer has just
   * changed its vote on them, and a majority forms in a fraction of a second instead of after
   * every prober's next rounds.
   */
  confirm(endpoints: readonly number[], up: boolean, attempts: number): void {
    const snap = this.state.snapshot;
    for (const e of endpoints) {
      const key = snap.endpointKeys[e]!;
      if (this.confirming.has(key) || this.stopped) continue;
      this.confirming.add(key);
      void (async () => {
        try {
          for (let i = 0; i < attempts && !this.stopped && this.state.snapshot === snap; i++) {
            if ((this.state.probes.healthy[e] === 1) === up) break;
            if (i > 0) await new Promise((r) => setTimeout(r, this.opts.confirmSpacingMs ?? 100));
            await this.probeOnce(snap, e);
          }
        } finally {
          this.confirming.delete(key);
        }
      })();
    }
  }

  private async probeOnce(snap: RoutingSnapshot, id: number): Promise<void> {
    const e = snap.endpoints[id]!;
    const path = snap.table.backends[snap.backends[snap.shards[e.shard]!.backend]!.name]?.healthCheckPath ?? '/';
    let ok = false;
    const started = performance.now();
    let rtt = -1;
    try {
      const res = await request(`http://${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}${path}`, {
        method: 'GET',
        headers: { 'user-agent': this.opts.userAgent ?? 'meridian-health-check' },
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        dispatcher: this.agent,
      });
      rtt = performance.now() - started;
      await res.body.dump();
      ok = res.statusCode >= 200 && res.statusCode < 400;
    } catch {
      ok = false;
    }
    // The table may have changed while probing: only record against the same snapshot.
    if (this.state.snapshot !== snap) return;
    if (ok) this.state.recordRtt(id, rtt);
    this.state.recordProbe(id, ok);
  }
}
