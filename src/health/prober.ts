import { request } from 'undici';
import type { RoutingState } from '../proxy/routing-state.js';

export interface ProberOptions {
  intervalMs: number;
  timeoutMs: number;
  /** At most this many probes at once. */
  concurrency: number;
}

/**
 * Active health checks: every endpoint of the current table gets an HTTP GET on its backend's
 * health path each interval (with jitter); results go through the probe state machine (N
 * failures down, M successes up) into the derived health. Never on the request path.
 */
export class Prober {
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly state: RoutingState,
    private readonly opts: ProberOptions,
  ) {}

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

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One probe of every endpoint. */
  async round(): Promise<void> {
    const snap = this.state.snapshot;
    let next = 0;
    const worker = async () => {
      while (next < snap.endpoints.length && !this.stopped) {
        const id = next++;
        const e = snap.endpoints[id]!;
        const path = snap.table.backends[snap.backends[snap.shards[e.shard]!.backend]!.name]?.healthCheckPath ?? '/';
        let ok = false;
        try {
          const res = await request(`http://${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}${path}`, {
            method: 'GET',
            headers: { 'user-agent': 'meridian-health-check' },
            signal: AbortSignal.timeout(this.opts.timeoutMs),
          });
          await res.body.dump();
          ok = res.statusCode >= 200 && res.statusCode < 400;
        } catch {
          ok = false;
        }
        // The table may have changed while probing: only record against the same snapshot.
        if (this.state.snapshot === snap) this.state.recordProbe(id, ok);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, snap.endpoints.length) }, worker));
  }
}
