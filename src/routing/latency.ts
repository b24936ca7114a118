/**
 * Round trips between regions as the fleet measures them: every proxy times its probes and
 * publishes, per region it probes, a smoothed RTT from its own region. Pure.
 */

/** `from|to` → ms. */
export type MeasuredRtt = ReadonlyMap<string, number>;

export const NO_MEASUREMENTS: MeasuredRtt = new Map();

export function rttKey(from: string, to: string): string {
  return `${from}|${to}`;
}

/**
 * The fleet's latency table: for each (proxy region, probed region), the median of the proxies in
 * that region (one proxy with a congested link does not skew it). Pairs nobody measured are absent.
 */
export function fleetLatency(members: readonly { region?: string | undefined; rttMs: Readonly<Record<string, number>> }[]): Map<string, number> {
  const samples = new Map<string, number[]>();
  for (const m of members) {
    if (!m.region) continue;
    for (const [to, ms] of Object.entries(m.rttMs)) {
      if (to === m.region || !(ms >= 0)) continue;
      const k = rttKey(m.region, to);
      let list = samples.get(k);
      if (!list) samples.set(k, (list = []));
      list.push(ms);
    }
  }
  const out = new Map<string, number>();
  for (const [k, list] of samples) {
    list.sort((a, b) => a - b);
    const mid = list.length >> 1;
    out.set(k, list.length % 2 ? list[mid]! : (list[mid - 1]! + list[mid]!) / 2);
  }
  return out;
}

/**
 * Whether `next` would reorder anything `current` ranks: a pair appearing or leaving, or moving by
 * more than 20 % and 5 ms. Smaller wobble is measurement noise and leaves the ranking alone.
 */
export function latencyMoved(current: MeasuredRtt, next: MeasuredRtt): boolean {
  if (current.size !== next.size) return true;
  for (const [k, ms] of next) {
    const was = current.get(k);
    if (was === undefined) return true;
    const d = Math.abs(ms - was);
    if (d > 5 && d > 0.2 * was) return true;
  }
  return false;
}
