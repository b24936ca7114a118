import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { isMeridianError, MeridianError } from '../common/errors.js';
import type { FleetSync } from './fleet-sync.js';
import { renderRoute, routeReport, type RouteQuery, type RouteReport } from './route-report.js';
import type { RoutingState } from './routing-state.js';
import { ClusterMemory, fleetStatus, flowsStatus, shardStatus, type StatusDocument } from './status.js';
import { tlsStatus, type CertificateSetView } from './tls/status.js';

/**
 * The admin port's status page (`/ui`) and the JSON documents it polls (`/status`, also for
 * scripts). Read-only: GET and HEAD only. The page's files are read once, on the first request
 * for one, into memory — its own from `ui/` beside `dist/`, the map and chart libraries from the
 * installed packages (never a CDN) — and served by exact name from that table, so no request
 * path reaches the file system.
 */

/**
 * What the status documents are computed from: a running proxy (proxyStatusSource, answering at
 * once), or the primary of `--workers N` asking its workers (workersStatusSource, status-workers.ts).
 */
export interface StatusSource {
  document(now: number): StatusDocument | Promise<StatusDocument>;
  /** `meridian route`'s explanation against this proxy's table, health and load. */
  route(q: RouteQuery): RouteReport | Promise<RouteReport>;
}

/** A running proxy's status: its table, live health and load, flows, and fleet as last read (no store I/O). */
export function proxyStatusSource(p: {
  id: string;
  host: string;
  version: string;
  region?: string;
  state: RoutingState;
  fleet?: FleetSync;
  isDraining: () => boolean;
  startedAt: number;
  probersPerEndpoint?: number;
  /** The certificates of the proxy's `tls: true` listeners, when it has one; the session-ticket key generation in use (0: its own key). */
  tls?: { certificates: { describe(): CertificateSetView }; ticketKeyGeneration: () => number };
}): StatusSource {
  const memory = new ClusterMemory();
  return {
    document(now) {
      const { state } = p;
      const snap = state.snapshot;
      const self = {
        id: p.id,
        host: p.host,
        pid: process.pid,
        ...(p.region ? { region: p.region } : {}),
        version: p.version,
        tableVersion: state.hasTable ? snap.version : '',
        startedAt: p.startedAt,
        heartbeatAt: now,
        lastSyncAt: 0,
        rttMs: state.regionRtt(),
        probing: { endpoints: snap.endpoints.length, assigned: 0, k: p.probersPerEndpoint ?? 0 },
      };
      return {
        proxy: { id: p.id, version: p.version, region: p.region ?? null, tableVersion: snap.version, hasTable: state.hasTable, draining: p.isDraining(), startedAt: p.startedAt, now },
        clusters: memory.clusters(snap, state.live, now),
        shards: shardStatus(snap, state.live),
        flows: flowsStatus(state.flows.read(), snap),
        fleet: fleetStatus(self, p.fleet?.view, now),
        ...(p.tls ? { tls: tlsStatus(p.tls.certificates.describe(), p.tls.ticketKeyGeneration(), now) } : {}),
      };
    },
    route(q) {
      const { state } = p;
      if (!state.hasTable) throw new MeridianError('E_NO_TABLE', 'this proxy has no routing table yet', STATUS_ERRORS.E_NO_TABLE.hint);
      // choose() moves admission credit and counts demand: explain against a copy of the live
      // state (health, rates, shares, this second's counts), never the one requests use.
      const live = state.live.carryInto(state.snapshot);
      live.periodCount.set(state.live.periodCount);
      live.endpointOutstanding.set(state.live.endpointOutstanding);
      return routeReport(q, state.snapshot, live, (ip) => state.geo.lookup(ip), `proxy ${p.id} (table ${state.snapshot.version}, its live health and load)`);
    },
  };
}

export interface StatusPageOptions {
  /** Host names (besides IP addresses and localhost) the page and documents answer to. */
  allowedHosts?: readonly string[];
  /** Where the page's own files are (default: `ui/` of the package). */
  uiDir?: string;
  now?: () => number;
}

/** Errors of the status page and documents: stable codes, the status, and what to do. */
export const STATUS_ERRORS = {
  E_STATUS_NOT_FOUND: { status: 404, hint: 'documents: /status, /status/proxy, /status/clusters, /status/shards, /status/flows, /status/fleet, /status/tls, /status/route?ip=ADDRESS' },
  E_UI_NOT_FOUND: { status: 404, hint: 'the status page is at /ui/' },
  E_METHOD_NOT_ALLOWED: { status: 405, hint: 'the status page and documents are read-only: use GET' },
  E_ADMIN_HOST: { status: 403, hint: 'open it by IP address or localhost, or list this name in the proxy config\'s admin.allowedHosts' },
  E_ROUTE_CLIENT_IP: { status: 400, hint: 'give ?ip= an IPv4 or IPv6 address, e.g. /status/route?ip=133.11.0.1' },
  E_ROUTE_SOURCE_CLUSTER: { status: 400, hint: 'give ?sourceCluster= the name of a cluster of the table (GET /status/clusters), or leave it out' },
  E_STATUS_FORMAT: { status: 400, hint: 'format=json (the default) or format=text (the table `meridian route` prints)' },
  E_NO_ROUTE: { status: 404, hint: 'give ?host= (and ?path=) of one of the table\'s Ingress rules' },
  E_NO_TABLE: { status: 503, hint: 'this proxy has no routing table yet: wait for the controller (or the fleet) to publish one' },
  E_STATUS_UNAVAILABLE: { status: 503, hint: 'the primary of `meridian proxy --workers N` asks its workers for the documents and none answered within the deadline (starting, restarting after an exit, or stuck): try again in a moment, and see the proxy\'s log for workers that exited' },
  E_UI_FILES_MISSING: { status: 500, hint: 'reinstall Meridian (npm ci installs the map and chart packages); an image must copy ui/ beside dist/' },
  E_STATUS_FAILED: { status: 500, hint: 'a bug: report it with the proxy\'s log' },
} as const;
export type StatusErrorCode = keyof typeof STATUS_ERRORS;

/**
 * Only the page's own origin: scripts, styles, data and images from this server, nothing inline,
 * nothing framed. (uPlot sizes its elements through the CSSOM, which style-src does not govern.)
 */
export const UI_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** For the JSON documents: nothing to run, nothing to frame. */
const DOCUMENT_CSP = "default-src 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
} as const;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The libraries the page loads, from their installed packages: path under `/ui/vendor/` →
 * (package entry to resolve, file beside that entry, or the file itself when `file` is absent).
 */
const VENDOR: readonly { name: string; resolve: string; file?: string }[] = [
  { name: 'd3-array.min.js', resolve: 'd3-array', file: 'd3-array.min.js' },
  { name: 'd3-geo.min.js', resolve: 'd3-geo', file: 'd3-geo.min.js' },
  { name: 'topojson-client.min.js', resolve: 'topojson-client', file: 'topojson-client.min.js' },
  { name: 'uPlot.iife.min.js', resolve: 'uplot', file: 'uPlot.iife.min.js' },
  { name: 'uPlot.min.css', resolve: 'uplot', file: 'uPlot.min.css' },
  { name: 'countries-110m.json', resolve: 'world-atlas/countries-110m.json' },
];

export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
}

function asset(name: string, body: Buffer): Asset {
  const type = CONTENT_TYPES[extname(name)] ?? 'application/octet-stream';
  const packed = /^(text\/|application\/json|image\/svg)/.test(type) ? gzipSync(body, { level: 9 }) : undefined;
  return { body, gzip: packed && packed.length < body.length ? packed : undefined, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** The page's files by their path under /ui/ (`index.html`, `vendor/uPlot.iife.min.js`, …). */
export async function loadAssets(uiDir = DEFAULT_UI_DIR): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  const require = createRequire(import.meta.url);
  let entries: string[];
  try {
    entries = (await readdir(uiDir, { withFileTypes: true })).filter((d) => d.isFile() && /^[\w][\w.-]*$/.test(d.name)).map((d) => d.name);
  } catch (err) {
    throw new MeridianError('E_UI_FILES_MISSING', `the status page's files are not at ${uiDir}: ${(err as Error).message}`, STATUS_ERRORS.E_UI_FILES_MISSING.hint);
  }
  if (!entries.includes('index.html')) throw new MeridianError('E_UI_FILES_MISSING', `the status page's index.html is not in ${uiDir}`, STATUS_ERRORS.E_UI_FILES_MISSING.hint);
  for (const name of entries) assets.set(name, asset(name, await readFile(join(uiDir, name))));
  for (const v of VENDOR) {
    let path: string;
    try {
      const entry = require.resolve(v.resolve);
      path = v.file ? join(dirname(entry), v.file) : entry;
      assets.set(`vendor/${v.name}`, asset(v.name, await readFile(path)));
    } catch (err) {
      throw new MeridianError('E_UI_FILES_MISSING', `the status page's ${v.name} (package ${v.resolve.split('/')[0]}) cannot be read: ${(err as Error).message}`, STATUS_ERRORS.E_UI_FILES_MISSING.hint);
    }
  }
  return assets;
}

/** A Host header the page answers to: an IP address, localhost, or a configured name (DNS rebinding guard). */
export function hostAllowed(hostHeader: string | undefined, allowed: readonly string[] = []): boolean {
  if (hostHeader === undefined || hostHeader === '') return true; // HTTP/1.0 without Host: not a browser
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::\d+)?$/.exec(hostHeader.trim());
  if (!m) return false;
  const host = (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, '');
  if (m[1] !== undefined) return isIP(host) === 6;
  return isIP(host) === 4 || host === 'localhost' || host.endsWith('.localhost') || allowed.some((a) => a.toLowerCase() === host);
}

function sendError(res: ServerResponse, code: StatusErrorCode | string, message: string, hint?: string): void {
  const known = (STATUS_ERRORS as Record<string, { status: number; hint: string }>)[code];
  const body = `${JSON.stringify({ error: { code, message, hint: hint ?? known?.hint ?? null } }, null, 2)}\n`;
  res.writeHead(known?.status ?? 500, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'content-security-policy': DOCUMENT_CSP,
    'x-meridian-error': code,
    ...(code === 'E_METHOD_NOT_ALLOWED' ? { allow: 'GET, HEAD' } : {}),
    ...(known?.status === 503 ? { 'retry-after': '1' } : {}),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendBody(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'content-security-policy': DOCUMENT_CSP });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const DOCUMENTS = ['proxy', 'clusters', 'shards', 'flows', 'fleet', 'tls'] as const;

/**
 * The handler for `/ui…` and `/status…` on the admin port; returns false for any other path
 * (the admin port's own routes).
 */
export function statusPage(source: StatusSource | undefined, opts: StatusPageOptions = {}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const now = opts.now ?? Date.now;
  let loading: Promise<Map<string, Asset>> | undefined;
  const assets = () => {
    // A failed load (files missing) is tried again on the next request, once they may be there.
    loading ??= loadAssets(opts.uiDir).catch((err: unknown) => {
      loading = undefined;
      throw err;
    });
    return loading;
  };

  const serveAsset = (req: IncomingMessage, res: ServerResponse, name: string) => {
    assets().then(
      (all) => {
        const a = all.get(name);
        if (!a) return sendError(res, 'E_UI_NOT_FOUND', `no file /ui/${name} in the status page`);
        const headers: Record<string, string | number> = {
          ...SECURITY_HEADERS,
          'content-type': a.type,
          // Small files on a loopback port: always revalidate (a proxy upgrade changes them), 304 when unchanged.
          'cache-control': 'no-cache',
          etag: a.etag,
          vary: 'Accept-Encoding',
          'content-security-policy': UI_CSP,
        };
        const match = req.headers['if-none-match'];
        if (match !== undefined && match.split(',').some((t) => t.trim().replace(/^W\//, '') === a.etag)) {
          res.writeHead(304, headers);
          return void res.end();
        }
        const gzip = a.gzip !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
        const body = gzip ? a.gzip! : a.body;
        if (gzip) headers['content-encoding'] = 'gzip';
        headers['content-length'] = body.length;
        res.writeHead(200, headers);
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => sendError(res, isMeridianError(err) ? err.code : 'E_UI_FILES_MISSING', (err as Error).message, isMeridianError(err) ? err.hint : undefined),
    );
  };

  const serveDocument = async (res: ServerResponse, url: URL, part: string): Promise<void> => {
    if (!source) return sendError(res, 'E_STATUS_UNAVAILABLE', 'this admin port has no routing state behind it');
    if (part === 'route') {
      const p = url.searchParams;
      const ip = p.get('ip') ?? '';
      const q: RouteQuery = { clientIp: ip.trim(), host: p.get('host') ?? '', path: p.get('path') || '/', ...(p.get('sourceCluster') ? { sourceCluster: p.get('sourceCluster')! } : {}) };
      if (p.has('seed')) q.seed = Number(p.get('seed'));
      const format = p.get('format') ?? 'json';
      if (format !== 'json' && format !== 'text') return sendError(res, 'E_STATUS_FORMAT', `no format "${format}" for /status/route`);
      const report = await source.route(q);
      return format === 'text' ? sendBody(res, 200, 'text/plain; charset=utf-8', renderRoute(report)) : sendBody(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(report, null, 2)}\n`);
    }
    const key = DOCUMENTS.find((d) => d === part);
    if (part !== '' && !key) return sendError(res, 'E_STATUS_NOT_FOUND', `no status document /status/${part}`);
    const doc = await source.document(now());
    if (!key) return sendBody(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(doc, null, 2)}\n`);
    // The flows of several workers are their sum: /status/flows says whose.
    // A proxy without a TLS listener answers /status/tls with null (the document has no `tls`).
    const value = key === 'clusters' || key === 'shards' ? { [key]: doc[key] } : key === 'flows' && doc.workers ? { ...doc.flows, workers: doc.workers } : (doc[key] ?? null);
    sendBody(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(value, null, 2)}\n`);
  };

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const ui = path === '/ui' || path.startsWith('/ui/');
    const status = path === '/status' || path.startsWith('/status/');
    if (!ui && !status) return false;
    if (!hostAllowed(req.headers.host, opts.allowedHosts)) {
      sendError(res, 'E_ADMIN_HOST', `this admin port does not answer to the host name "${req.headers.host}"`);
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, 'E_METHOD_NOT_ALLOWED', `${req.method} is not served here`);
      return true;
    }
    if (path === '/ui') {
      // Relative links in the page resolve against /ui/.
      res.writeHead(308, { ...SECURITY_HEADERS, location: `/ui/${url.search}`, 'content-length': 0, 'cache-control': 'no-store' });
      res.end();
    } else if (ui) serveAsset(req, res, path === '/ui/' ? 'index.html' : path.slice('/ui/'.length));
    else {
      serveDocument(res, url, path.slice('/status/'.length).replace(/\/$/, '')).catch((err: unknown) => {
        if (res.headersSent) return void res.destroy();
        if (isMeridianError(err)) sendError(res, err.code, err.message, err.hint);
        else sendError(res, 'E_STATUS_FAILED', `the status document failed: ${(err as Error).message}`);
      });
    }
    return true;
  };
}
