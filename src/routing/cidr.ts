import { isIPv4, isIPv6 } from 'node:net';
import { MeridianError } from '../common/errors.js';

/** IPv4 as an unsigned 32-bit number, IPv6 as a 128-bit bigint. */
export function parseIPv4(ip: string): number {
  let n = 0;
  let part = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
      dots++;
    } else part = part * 10 + (c - 48);
  }
  return (n * 256 + part) >>> 0 === n * 256 + part && dots === 3 ? n * 256 + part : -1;
}

export function parseIPv6(ip: string): bigint {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':') : []);
  let h = parse(head);
  let t = parse(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const fix = (groups: string[]) => {
    const last = groups[groups.length - 1];
    if (last && last.includes('.')) {
      const v4 = parseIPv4(last);
      groups.splice(groups.length - 1, 1, ((v4 >>> 16) & 0xffff).toString(16), (v4 & 0xffff).toString(16));
    }
    return groups;
  };
  h = fix(h);
  t = fix(t);
  const missing = 8 - h.length - t.length;
  const groups = tail === undefined ? h : [...h, ...Array(missing).fill('0'), ...t];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g || '0', 16));
  return n;
}

/** `::ffff:1.2.3.4` (how a dual-stack socket shows an IPv4 peer) → `1.2.3.4`. */
export function normalizeIP(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

interface Prefix4 {
  len: number;
  mask: number;
  values: Map<number, unknown>;
}

interface Prefix6 {
  len: number;
  mask: bigint;
  values: Map<bigint, unknown>;
}

/**
 * A set of CIDR ranges, each with a value; lookups return the value of the longest matching
 * prefix. Built once per configuration; lookups do a map probe per distinct prefix length.
 */
export class CidrMap<T> {
  private readonly v4: Prefix4[] = [];
  private readonly v6: Prefix6[] = [];
  readonly size: number;

  constructor(entries: Iterable<[string, T]>, what = 'CIDR') {
    let size = 0;
    for (const [cidr, value] of entries) {
      size++;
      const [addr, lenText] = normalizeIP(cidr.trim()).split('/');
      if (addr && isIPv4(addr)) {
        const len = lenText === undefined ? 32 : Number(lenText);
        if (!Number.isInteger(len) || len < 0 || len > 32) throw badCidr(cidr, what);
        const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
        let p = this.v4.find((x) => x.len === len);
        if (!p) this.v4.push((p = { len, mask, values: new Map() }));
        p.values.set((parseIPv4(addr) & mask) >>> 0, value);
      } else if (addr && isIPv6(addr)) {
        const len = lenText === undefined ? 128 : Number(lenText);
        if (!Number.isInteger(len) || len < 0 || len > 128) throw badCidr(cidr, what);
        const mask = len === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - len)) - 1n);
        let p = this.v6.find((x) => x.len === len);
        if (!p) this.v6.push((p = { len, mask, values: new Map() }));
        p.values.set(parseIPv6(addr) & mask, value);
      } else throw badCidr(cidr, what);
    }
    this.v4.sort((a, b) => b.len - a.len);
    this.v6.sort((a, b) => b.len - a.len);
    this.size = size;
  }

  get(ip: string): T | undefined {
    const a = normalizeIP(ip);
    if (this.v4.length && a.indexOf(':') < 0) {
      const n = parseIPv4(a);
      if (n < 0) return undefined;
      for (const p of this.v4) {
        const v = p.values.get((n & p.mask) >>> 0);
        if (v !== undefined) return v as T;
      }
      return undefined;
    }
    if (this.v6.length && a.indexOf(':') >= 0) {
      const n = parseIPv6(a);
      for (const p of this.v6) {
        const v = p.values.get(n & p.mask);
        if (v !== undefined) return v as T;
      }
    }
    return undefined;
  }

  has(ip: string): boolean {
    return this.get(ip) !== undefined;
  }
}

function badCidr(cidr: string, what: string): MeridianError {
  return new MeridianError('E_CIDR_INVALID', `${what} "${cidr}" is not an IPv4 or IPv6 CIDR`, 'write it like 10.0.0.0/8 or 2001:db8::/32');
}
