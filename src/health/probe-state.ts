/**
 * Active health check state per endpoint (pure): `unhealthyThreshold` failures in a row mark it
 * down, `healthyThreshold` successes in a row bring it back. New endpoints start healthy.
 */
export class ProbeState {
  private readonly streak: Int32Array;
  readonly healthy: Uint8Array;

  constructor(
    endpoints: number,
    private readonly healthyThreshold = 2,
    private readonly unhealthyThreshold = 2,
  ) {
    this.streak = new Int32Array(endpoints);
    this.healthy = new Uint8Array(endpoints).fill(1);
  }

  /** The same state for a new snapshot (`index[i]`: endpoint i's index here, or -1 for a new one). */
  carryInto(endpoints: number, index: Int32Array): ProbeState {
    const next = new ProbeState(endpoints, this.healthyThreshold, this.unhealthyThreshold);
    for (let i = 0; i < endpoints; i++) {
      const j = index[i]!;
      if (j < 0) continue;
      next.streak[i] = this.streak[j]!;
      next.healthy[i] = this.healthy[j]!;
    }
    return next;
  }

  /** Sets a verdict learnt elsewhere (the fleet's last one); the streak starts over. */
  seed(endpoint: number, up: boolean): void {
    this.healthy[endpoint] = up ? 1 : 0;
    this.streak[endpoint] = 0;
  }

  /** Records a probe result; returns true when the endpoint's health flipped. */
  record(endpoint: number, ok: boolean): boolean {
    const up = this.healthy[endpoint] === 1;
    if (ok === up) {
      this.streak[endpoint] = 0;
      return false;
    }
    const n = ++this.streak[endpoint]!;
    if (n >= (ok ? this.healthyThreshold : this.unhealthyThreshold)) {
      this.healthy[endpoint] = ok ? 1 : 0;
      this.streak[endpoint] = 0;
      return true;
    }
    return false;
  }
}
