/**
 * Passive outlier detection (Envoy's consecutive-5xx detector, pure): an endpoint that fails
 * `consecutiveErrors` times in a row is ejected for `baseEjectionMs × times ejected` (growing
 * back-off, capped), unless that would eject more than `maxEjectedShare` of its shard.
 * Time is passed in.
 */
export interface OutlierConfig {
  consecutiveErrors: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectedShare: number;
}

export const DEFAULT_OUTLIER: OutlierConfig = { consecutiveErrors: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectedShare: 0.5 };

export class OutlierDetector {
  private readonly consecutive: Int32Array;
  private readonly timesEjected: Int32Array;
  /** 0 = not ejected, else the time (ms) the ejection ends. */
  readonly ejectedUntil: Float64Array;

  constructor(
    endpoints: number,
    private readonly config: OutlierConfig = DEFAULT_OUTLIER,
  ) {
    this.consecutive = new Int32Array(endpoints);
    this.timesEjected = new Int32Array(endpoints);
    this.ejectedUntil = new Float64Array(endpoints);
  }

  isEjected(endpoint: number): boolean {
    return this.ejectedUntil[endpoint]! > 0;
  }

  success(endpoint: number): void {
    this.consecutive[endpoint] = 0;
  }

  /**
   * A gateway error or 5xx from `endpoint`. Returns true when it is ejected now. [groupStart,
   * groupStart + groupCount) are the endpoints the max-ejected-share limit counts over (a
   * backend's endpoints across all its clusters).
   */
  failure(endpoint: number, now: number, groupStart: number, groupCount: number): boolean {
    const n = ++this.consecutive[endpoint]!;
    if (n < this.config.consecutiveErrors || this.isEjected(endpoint)) return false;
    let ejected = 0;
    for (let e = groupStart; e < groupStart + groupCount; e++) if (this.isEjected(e)) ejected++;
    if ((ejected + 1) / groupCount > this.config.maxEjectedShare) return false;
    const times = ++this.timesEjected[endpoint]!;
    this.ejectedUntil[endpoint] = now + Math.min(this.config.maxEjectionMs, this.config.baseEjectionMs * times);
    this.consecutive[endpoint] = 0;
    return true;
  }

  /** Ends ejections whose time is up; returns the endpoints returned to service. */
  expire(now: number): number[] {
    const back: number[] = [];
    for (let e = 0; e < this.ejectedUntil.length; e++) {
      if (this.ejectedUntil[e]! > 0 && this.ejectedUntil[e]! <= now) {
        this.ejectedUntil[e] = 0;
        back.push(e);
      }
    }
    return back;
  }
}
