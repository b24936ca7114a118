import { isIP } from 'node:net';
import { MeridianError } from '../common/errors.js';
import { explain, type Explanation } from '../routing/explain.js';
import type { LiveState } from '../routing/live.js';
import { routeFor } from '../routing/match.js';
import type { PlainHttp } from '../routing/https-policy.js';
import { locateClient, type RoutingSnapshot } from '../routing/snapshot.js';
import type { LatLon } from '../routing/table.js';
import { columns } from './fleet-view.js';

export interface RouteQuery {
  clientIp: string;
  host?: string;
  path?: string;
  /** Treat the client as inside this cluster (else: by the table's clientCIDRs). */
  sourceCluster?: string;
  /** Seed of the random choices (the ranking does not depend on it). */
  seed?: number;
}

/** `meridian route -o json`, and the status page's "route this IP". */
export interface RouteReport extends Explanation {
  clientIp: string;
  location: LatLon | null;
  /** What the explanation is computed against (a table file, the fleet, a running proxy). */
  from: string;
  /** The route's HTTPS policy, when it has one (Ingress annotations: ssl-redirect, hsts, allow-http). */
  https?: { plainHttp: PlainHttp; hsts: string | null };
}

/**
 * The routing choice for a client, with the ranking and its reasons: the same request facts a
 * proxy would derive (route by host and path, in-cluster by clientCIDRs, else the cell GeoIP
 * places it in) and the same choice (explain() runs choose()). choose() moves admission credit
 * and counts demand, so give it a LiveState of its own (see LiveState.carryInto), never a serving
 * proxy's.
 */
export function routeReport(q: RouteQuery, snapshot: RoutingSnapshot, live: LiveState, locate: (ip: string) => LatLon | undefined, from: string): RouteReport {
  if (isIP(q.clientIp) === 0) throw new MeridianError('E_ROUTE_CLIENT_IP', `"${q.clientIp}" is not an IP address`, 'give an IPv4 or IPv6 address, e.g. 133.11.0.1');
  const host = q.host ?? '';
  const path = q.path ?? '/';
  const route = routeFor(snapshot.routes, snapshot.defaultRoute, host, path);
  const backend = route.backend;
  if (backend < 0) throw new MeridianError('E_NO_ROUTE', `no route for host "${host}" path "${path}" and no defaultBackend`, `the table's routes: ${snapshot.routes.length ? 'give the host (and path) of one of its Ingress rules' : 'none yet (is a federated Ingress created?)'}`);
  let sourceCluster = snapshot.clientCIDRs.get(q.clientIp) ?? -1;
  if (q.sourceCluster) {
    sourceCluster = snapshot.clusterByName.get(q.sourceCluster) ?? -1;
    if (sourceCluster < 0) throw new MeridianError('E_ROUTE_SOURCE_CLUSTER', `"${q.sourceCluster}" is not a cluster of the table`, `clusters: ${snapshot.clusters.join(', ') || 'none'}`);
  }
  const location = locate(q.clientIp);
  let seed = (q.seed ?? 1) >>> 0 || 1;
  const rng = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const cell = sourceCluster >= 0 && snapshot.clusterCell[sourceCluster]! >= 0 ? snapshot.clusterCell[sourceCluster]! : locateClient(snapshot, location);
  const result = explain({ cell, sourceCluster }, snapshot, live, backend, rng);
  const https = route.plainHttp !== 'serve' || route.hsts !== null ? { https: { plainHttp: route.plainHttp, hsts: route.hsts } } : {};
  return { clientIp: q.clientIp, location: location ?? null, from, ...result, ...https };
}

const PLAIN_HTTP_TEXT: Record<PlainHttp, string> = {
  serve: 'served',
  redirect: '308 to the same URL over HTTPS (served if the proxy has no HTTPS listener)',
  refuse: 'refused (421 E_HTTPS_ONLY)',
};

/** The explanation as kubectl would print it: the ranking, one row per shard, then the choice. */
export function renderRoute(r: RouteReport): string {
  const where = r.client.sourceCluster ? `inside cluster ${r.client.sourceCluster}` : r.location ? `at ${r.location.lat.toFixed(2)},${r.location.lon.toFixed(2)}` : 'at an unknown place';
  const lines = [`Client ${r.clientIp}, ${where}: nearest region ${r.client.cell ?? 'unknown'}. Backend ${r.backend}, from ${r.from}.`];
  if (r.https) lines.push(`Plain HTTP: ${PLAIN_HTTP_TEXT[r.https.plainHttp]}. HSTS over HTTPS: ${r.https.hsts ?? 'the origin\'s, untouched'}.`);
  lines.push('');
  const rows = [
    ['RANK', 'CLUSTER', 'REGION', 'RTT', 'RTT FROM', 'HEALTHY', 'CAPACITY', 'REASON'],
    ...r.ranked.map((s, i) => [String(i + 1), s.cluster, s.region, s.estimatedRttMs === null ? '?' : `${s.estimatedRttMs} ms`, s.rttSource, `${s.healthy}/${s.endpoints}`, s.capacityRps === 'unlimited' ? 'unlimited' : `${Math.round(s.capacityRps)}/s`, s.reason]),
  ];
  lines.push(columns(rows), '');
  lines.push(r.choice ? `Choice: ${r.choice.cluster} ${r.choice.endpoint} (${r.choice.reason}${r.choice.spilled ? ', spilled' : ''}${r.choice.panic ? ', panic' : ''})` : 'Choice: none (no endpoint at all: 503)');
  return `${lines.join('\n')}\n`;
}
