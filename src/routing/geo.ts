import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LatLon } from './table.js';

const GEOIP_DIR = new URL('../../geoip/', import.meta.url);

function loadJson<T>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(name, GEOIP_DIR)), 'utf8')) as T;
}

/** Region name → location, from geoip/regions.json. */
export const REGION_LOCATIONS: ReadonlyMap<string, LatLon> = new Map(
  Object.entries(loadJson<Record<string, unknown>>('regions.json'))
    .filter(([k]) => !k.startsWith('_'))
    .map(([k, v]) => [k, { lat: (v as number[])[0]!, lon: (v as number[])[1]! }]),
);

/** ISO country → centroid, from geoip/country-centroids.json. */
export const COUNTRY_CENTROIDS: ReadonlyMap<string, LatLon> = new Map(
  Object.entries(loadJson<Record<string, unknown>>('country-centroids.json'))
    .filter(([k]) => !k.startsWith('_'))
    .map(([k, v]) => [k, { lat: (v as number[])[0]!, lon: (v as number[])[1]! }]),
);

/** Measured round trips between regions (symmetric), from geoip/region-latency.json. */
export const REGION_RTT_MS: ReadonlyMap<string, number> = new Map(
  loadJson<{ pairs: [string, string, number][] }>('region-latency.json').pairs.flatMap(([a, b, ms]) => [
    [`${a}|${b}`, ms],
    [`${b}|${a}`, ms],
  ]),
);

/** Regions the measured table knows. */
export const MEASURED_REGIONS: ReadonlySet<string> = new Set([...REGION_RTT_MS.keys()].map((k) => k.split('|')[0]!));

const EARTH_RADIUS_KM = 6371;

export function greatCircleKm(a: LatLon, b: LatLon): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * Round trip over fibre for a great-circle distance: light covers ~200 km/ms in glass and real
 * paths run ~1.5× the great circle, so RTT ≈ 2 × 1.5 × km / 200.
 */
export function rttFromDistanceMs(km: number): number {
  return (3 * km) / 200;
}

/**
 * Estimated RTT between two regions: the measured figure where the table has one, else the
 * distance estimate between their locations (Infinity when a location is unknown).
 */
export function regionRttMs(from: string, to: string, locations: ReadonlyMap<string, LatLon>): number {
  if (from === to) return 0;
  const measured = REGION_RTT_MS.get(`${from}|${to}`);
  if (measured !== undefined) return measured;
  const a = locations.get(from);
  const b = locations.get(to);
  return a && b ? rttFromDistanceMs(greatCircleKm(a, b)) : Number.POSITIVE_INFINITY;
}
