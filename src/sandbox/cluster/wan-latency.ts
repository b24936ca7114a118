import { MeridianError } from '../../common/errors.js';
import { CidrMap } from '../../routing/cidr.js';
import { REGION_LOCATIONS, regionRttMs } from '../../routing/geo.js';
import type { LatLon } from '../../routing/table.js';
import type { ClientDelay } from './pod-server.js';

/**
 * The emulated WAN between the members' regions. A client is in the region of the member whose
 * pod range holds its source address, so a proxy that binds its upstream source address inside a
 * range is, to the pods, in that region; a region pair's round trip is the measured or estimated
 * RTT (routing/geo.ts) unless set at run time.
 */
export class WanLatency {
  private readonly regionByAddress: CidrMap<string>;
  private readonly locations: ReadonlyMap<string, LatLon>;
  /** Current RTT in ms of every ordered pair of member regions, overrides included. */
  private readonly rtt = new Map<string, Map<string, number>>();
  /** The pairs set at run time, `a|b` with a < b. */
  private readonly overrides = new Set<string>();

  constructor(members: Iterable<{ region: string; podCIDR: string }>, locations: ReadonlyMap<string, LatLon> = REGION_LOCATIONS) {
    const list = [...members];
    this.regionByAddress = new CidrMap(list.map((m) => [m.podCIDR, m.region]), 'pod CIDR');
    this.locations = locations;
    for (const { region } of list) this.rtt.set(region, new Map());
    this.fillEstimates();
  }

  /** The region whose member's pod range holds `address` (longest prefix), or undefined. */
  regionOf(address: string | undefined): string | undefined {
    return address === undefined ? undefined : this.regionByAddress.get(address);
  }

  /** Round trip between two regions in ms; 0 for one region, or a pair nothing is known of. */
  rttMs(from: string, to: string): number {
    return this.rtt.get(from)?.get(to) ?? 0;
  }

  /** Overrides one pair's round trip (both directions) until `reset()`. */
  setRtt(a: string, b: string, ms: number): void {
    for (const r of [a, b]) {
      if (!this.rtt.has(r)) throw new MeridianError('E_SANDBOX_NO_SUCH_REGION', `no member cluster is in region "${r}"`, `regions: ${[...this.rtt.keys()].join(', ')}`);
    }
    if (a === b) throw new MeridianError('E_SANDBOX_CONTROL_ARG', `wan latency needs two different regions, not "${a}" twice`, 'answers within one region are never delayed');
    if (!Number.isFinite(ms) || ms < 0) throw new MeridianError('E_SANDBOX_CONTROL_ARG', `wan latency must be a number of milliseconds ≥ 0, not "${ms}"`);
    this.rtt.get(a)!.set(b, ms);
    this.rtt.get(b)!.set(a, ms);
    this.overrides.add(a < b ? `${a}|${b}` : `${b}|${a}`);
  }

  /** Drops every override (pairs go back to the measured or estimated figure); returns how many there were. */
  reset(): number {
    const n = this.overrides.size;
    this.overrides.clear();
    this.fillEstimates();
    return n;
  }

  /** The WAN as the pods of a member in `region` see it. */
  forPod(region: string): ClientDelay {
    return {
      clientRegion: (address) => {
        const r = this.regionOf(address);
        return r === region ? undefined : r;
      },
      delayMs: (clientRegion) => this.rttMs(clientRegion, region),
    };
  }

  private fillEstimates(): void {
    for (const [from, row] of this.rtt) {
      for (const to of this.rtt.keys()) {
        const ms = regionRttMs(from, to, this.locations);
        // An unknown location estimates Infinity: such a pair is not delayed rather than never answered.
        row.set(to, Number.isFinite(ms) ? ms : 0);
      }
    }
  }
}
