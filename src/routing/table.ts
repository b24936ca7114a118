import { z } from 'zod';
import { hstsProblem } from './https-policy.js';

/**
 * The routing table: the contract between whoever knows the clusters (the controller, or a
 * hand-written config in static mode) and the proxy fleet. Plain JSON so it can travel through
 * the state store; validated with zod wherever it enters a process.
 */

export const LatLonSchema = z.object({
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
});
export type LatLon = z.infer<typeof LatLonSchema>;

export const EndpointSchema = z.object({
  /** IPv4/IPv6 address or host name the proxy connects to. */
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /** Pod or instance name, for logs and debug output. */
  name: z.string().optional(),
  zone: z.string().optional(),
});
export type Endpoint = z.infer<typeof EndpointSchema>;

/** One backend's presence in one cluster: the unit the routing choice picks first. */
export const ShardSchema = z.object({
  cluster: z.string().min(1),
  region: z.string().min(1),
  zone: z.string().optional(),
  location: LatLonSchema.optional(),
  endpoints: z.array(EndpointSchema),
  /** RATE balancing mode: requests per second one endpoint may take; absent = unlimited. */
  maxRatePerEndpoint: z.number().positive().optional(),
  /** 0 drains the shard; otherwise 0.1–1 scales its capacity (GCP capacityScaler). */
  capacityScaler: z
    .number()
    .refine((v) => v === 0 || (v >= 0.1 && v <= 1), 'capacityScaler must be 0 or between 0.1 and 1')
    .default(1),
});
export type Shard = z.infer<typeof ShardSchema>;

export const BackendSchema = z.object({
  shards: z.array(ShardSchema),
  /** HTTP path the active health checker probes; default `/`. */
  healthCheckPath: z.string().startsWith('/').optional(),
});
export type Backend = z.infer<typeof BackendSchema>;

/**
 * What a route asks of the scheme (an Ingress's `meridian.dev/ssl-redirect`, `meridian.dev/hsts`
 * and `kubernetes.io/ingress.allow-http` annotations): see https-policy.ts.
 */
export const HttpsPolicySchema = z
  .object({
    /**
     * A plain-HTTP request: `serve` it (default), `redirect` it (308 to the same URL on the
     * proxy's HTTPS listener; served when the proxy has none), or `refuse` it (421 E_HTTPS_ONLY).
     */
    plainHttp: z.enum(['serve', 'redirect', 'refuse']).default('serve'),
    /** Strict-Transport-Security on every HTTPS answer, replacing the origin's (RFC 6797 syntax, max-age required). */
    hsts: z
      .string()
      .trim()
      .superRefine((v, ctx) => {
        const problem = hstsProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: `not a Strict-Transport-Security value: ${problem}` });
      })
      .optional(),
  })
  .strict();
export type HttpsPolicy = z.infer<typeof HttpsPolicySchema>;

export const RouteSchema = z.object({
  /** Exact host, or `*.example.com` wildcard; absent = any host. */
  host: z.string().optional(),
  path: z.string().startsWith('/').default('/'),
  pathType: z.enum(['Prefix', 'Exact', 'ImplementationSpecific']).default('Prefix'),
  /** Key into `backends`, conventionally `namespace/service:port`. */
  backend: z.string().min(1),
  https: HttpsPolicySchema.optional(),
});
export type Route = z.infer<typeof RouteSchema>;

export const ClusterInfoSchema = z.object({
  region: z.string().min(1),
  location: LatLonSchema.optional(),
  /** Pod and node address ranges: a client from these is inside the cluster. */
  clientCIDRs: z.array(z.string()).default([]),
});
export type ClusterInfo = z.infer<typeof ClusterInfoSchema>;

export const RoutingTableSchema = z.object({
  /** Opaque version; changes whenever the content changes. */
  version: z.string().default('static'),
  routes: z.array(RouteSchema).default([]),
  defaultBackend: z.string().optional(),
  /** The default backend's `https` policy (that of the Ingress it comes from). */
  defaultHttps: HttpsPolicySchema.optional(),
  backends: z.record(z.string(), BackendSchema),
  clusters: z.record(z.string(), ClusterInfoSchema).default({}),
});
export type RoutingTable = z.infer<typeof RoutingTableSchema>;
