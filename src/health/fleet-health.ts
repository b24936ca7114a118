/**
 * Active health checks shared by a fleet of proxies (pure). Each endpoint is probed by `k` of the
 * fleet's proxies, chosen by rendezvous hashing over the live proxies (so probe load does not grow
 * with the fleet, and a proxy joining or leaving moves only its own share of the endpoints); each
 * prober publishes the endpoints it sees down; an endpoint is down for the fleet when a majority
 * of its probers say so, so one proxy with a broken network path cannot move global traffic.
 */

/** 32-bit FNV-1a over a string's UTF-16 code units, finished with murmur3's avalanche. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Rendezvous score of a (proxy, endpoint) pair from their own hashes: the k highest probe it. */
function score(memberHash: number, keyHash: number): number {
  return fmix32(keyHash ^ memberHash);
}

/** Which proxies probe which endpoints, for one member list and one snapshot. */
export interface ProbeAssignment {
  /** Member ids, sorted (every proxy computes the same assignment from the same list). */
  members: string[];
  /** Probers per endpoint (fewer when the fleet is smaller). */
  k: number;
  /** probers[e * k + j]: index in `members` of endpoint e's j-th prober, or -1. */
  probers: Int32Array;
}

export function assignProbers(endpointKeys: readonly string[], memberIds: readonly string[], k: number): ProbeAssignment {
  const members = [...new Set(memberIds)].sort();
  const per = Math.max(1, Math.min(k, members.length));
  const probers = new Int32Array(endpointKeys.length * per).fill(-1);
  if (members.length === 0) return { members, k: per, probers };
  // fmix32 of the id so that ids differing in one character still score independently.
  const memberHashes = members.map((m) => fmix32(hash32(m) + 0x9e3779b9));
  const best = new Float64Array(per);
  const bestIdx = new Int32Array(per);
  for (let e = 0; e < endpointKeys.length; e++) {
    const kh = hash32(endpointKeys[e]!);
    best.fill(-1);
    bestIdx.fill(-1);
    for (let m = 0; m < members.length; m++) {
      const s = score(memberHashes[m]!, kh);
      // Insert into the top `per` (kept sorted, highest first); ties go to the lower index.
      if (s <= best[per - 1]!) continue;
      let j = per - 1;
      while (j > 0 && s > best[j - 1]!) {
        best[j] = best[j - 1]!;
        bestIdx[j] = bestIdx[j - 1]!;
        j--;
      }
      best[j] = s;
      bestIdx[j] = m;
    }
    probers.set(bestIdx, e * per);
  }
  return { members, k: per, probers };
}

/** The endpoints `member` probes under `a` (1 = assigned). */
export function assignedTo(a: ProbeAssignment, member: string, endpoints: number): Uint8Array {
  const out = new Uint8Array(endpoints);
  const m = a.members.indexOf(member);
  if (m < 0) return out;
  for (let e = 0; e < endpoints; e++) {
    for (let j = 0; j < a.k; j++) {
      if (a.probers[e * a.k + j] === m) {
        out[e] = 1;
        break;
      }
    }
  }
  return out;
}

/** An endpoint's probers and how many of them see it down. */
export interface Tally {
  probers: number;
  down: number;
}

export function tally(a: ProbeAssignment, e: number, key: string, down: ReadonlyMap<string, ReadonlySet<string>>): Tally {
  let probers = 0;
  let votes = 0;
  for (let j = 0; j < a.k; j++) {
    const m = a.probers[e * a.k + j]!;
    if (m < 0) continue;
    probers++;
    // A prober that has not voted yet (just joined, or its votes expired) counts as up.
    if (down.get(a.members[m]!)?.has(key)) votes++;
  }
  return { probers, down: votes };
}

/**
 * The fleet's verdict per endpoint: 0 when a strict majority of its probers see it down, 1
 * otherwise, -1 when it has no prober (an empty fleet). `down` maps each prober to the endpoint
 * keys it sees down.
 */
export function fleetVerdicts(endpointKeys: readonly string[], a: ProbeAssignment, down: ReadonlyMap<string, ReadonlySet<string>>): Int8Array {
  const out = new Int8Array(endpointKeys.length);
  for (let e = 0; e < endpointKeys.length; e++) {
    const t = tally(a, e, endpointKeys[e]!, down);
    out[e] = t.probers === 0 ? -1 : 2 * t.down > t.probers ? 0 : 1;
  }
  return out;
}
