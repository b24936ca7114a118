/**
 * Passive outlier detection (Envoy's consecutive-5xx detector, pure): an endpoint that fails
 * `consecutiveErrors` times in a row is ejected for `baseEjectionMs × times ejected` (growing
 * back-off, capped), unless that would eject more than `maxEjectedShare` of its backend.
 * An ejection another proxy of the fleet made is applied for its period under the same cap, and
 * an endpoint the active probes saw fail and then recover is returned at once (uneject).
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
  /** When the current (or last) ejection began (ms). */
  readonly ejectedAt: Float64Array;

  constructor(
    endpoints: number,
    private readonly config: OutlierConfig = DEFAULT_OUTLIER,
  ) {
    this.consecutive = new Int32Array(endpoints);
    this.timesEjected = new Int32Array(endpoints);
    this.ejectedUntil = new Float64Array(endpoints);
    this.ejectedAt = new Float64Array(endpoints);
  }

  /**
   * The same detector for a new snapshot: `index[i]` is endpoint i's index in this one, or -1
   * (see carryIndex), so ejections, their back-off and error streaks stay with their endpoint.
   */
  carryInto(endpoints: number, index: Int32Array): OutlierDetector {
    const next = new OutlierDetector(endpoints, this.config);
    for (let i = 0; i < endpoints; i++) {
      const j = index[i]!;
      if (j < 0) continue;
      next.consecutive[i] = this.consecutive[j]!;
      next.timesEjected[i] = this.timesEjected[j]!;
      next.ejectedUntil[i] = this.ejectedUntil[j]!;
      next.ejectedAt[i] = this.ejectedAt[j]!;
    }
    return next;
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
    if (n < this.config.consecutiveErrors || this.isEjected(endpoint) || !this.withinCap(groupStart, groupCount)) return false;
    const times = ++this.timesEjected[endpoint]!;
    this.ejectedUntil[endpoint] = now + Math.min(this.config.maxEjectionMs, this.config.baseEjectionMs * times);
    this.ejectedAt[endpoint] = now;
    this.consecutive[endpoint] = 0;
    return true;
  }

  /**
   * Applies an ejection made elsewhere (another proxy of the fleet) until `until`, unless the
   * endpoint is ejected already or the max-ejected share of [groupStart, groupStart + groupCount)
   * would be passed. Returns true when it is ejected now.
   */
  apply(endpoint: number, until: number, now: number, groupStart: number, groupCount: number): boolean {
    if (until <= now) return false;
    if (this.isEjected(endpoint)) {
      this.ejectedUntil[endpoint] = Math.max(this.ejectedUntil[endpoint]!, until);
      return false;
    }
    if (!this.withinCap(groupStart, groupCount)) return false;
    this.ejectedUntil[endpoint] = until;
    this.ejectedAt[endpoint] = now;
    return true;
  }

  /** Returns the endpoint to service now (its probes saw it recover); its back-off count stays. */
  uneject(endpoint: number): boolean {
    this.consecutive[endpoint] = 0;
    if (!this.isEjected(endpoint)) return false;
    this.ejectedUntil[endpoint] = 0;
    return true;
  }

  /** How many times `endpoint` has been ejected (its back-off multiplier). */
  times(endpoint: number): number {
    return this.timesEjected[endpoint]!;
  }

  private withinCap(groupStart: number, groupCount: number): boolean {
    let ejected = 0;
    for (let e = groupStart; e < groupStart + groupCount; e++) if (this.isEjected(e)) ejected++;
    return (ejected + 1) / groupCount <= this.config.maxEjectedShare;
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
