/**
 * How many retries the proxy may add (Linkerd's model): over a sliding window of `windowSlots`
 * ticks, retries stay under `ratio` × the requests seen, or `minPerTick` × the window when traffic
 * is light. A burst — one cluster dying with many requests on it — is absorbed by the window;
 * a sustained storm, where every try fails, adds at most `ratio` more load. No clock: the owner
 * calls tick() once a second.
 */
export class RetryBudget {
  private readonly requests: Float64Array;
  private readonly retries: Float64Array;
  private slot = 0;

  constructor(
    private readonly ratio: number,
    private readonly minPerTick: number,
    private readonly windowSlots = 10,
  ) {
    this.requests = new Float64Array(windowSlots);
    this.retries = new Float64Array(windowSlots);
  }

  /** An original request (not a retry). */
  countRequest(): void {
    this.requests[this.slot]!++;
  }

  /** Takes one retry from the budget if there is one left. */
  tryRetry(): boolean {
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < this.windowSlots; i++) {
      requests += this.requests[i]!;
      retries += this.retries[i]!;
    }
    if (retries >= Math.max(this.ratio * requests, this.minPerTick * this.windowSlots)) return false;
    this.retries[this.slot]!++;
    return true;
  }

  /** Moves the window on by one slot, forgetting the oldest. */
  tick(): void {
    this.slot = (this.slot + 1) % this.windowSlots;
    this.requests[this.slot] = 0;
    this.retries[this.slot] = 0;
  }
}
