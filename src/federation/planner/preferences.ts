/**
 * The replica placement preferences of a federated ReplicaSet or Deployment, from the
 * `federation.kubernetes.io/replica-set-preferences` (or `deployment-preferences`) annotation.
 */
export const REPLICA_SET_PREFERENCES = 'federation.kubernetes.io/replica-set-preferences';
export const DEPLOYMENT_PREFERENCES = 'federation.kubernetes.io/deployment-preferences';

export interface ClusterPreferences {
  minReplicas: number;
  /** Absent: unbounded. */
  maxReplicas?: number;
  weight: number;
}

export interface ReplicaPreferences {
  rebalance: boolean;
  /** Cluster name, or `*` for every cluster without an entry of its own. */
  clusters: Record<string, ClusterPreferences>;
}

/** Without the annotation replicas are spread evenly and running replicas are never moved. */
export const DEFAULT_PREFERENCES: ReplicaPreferences = { rebalance: false, clusters: { '*': { minReplicas: 0, weight: 1 } } };

export type ParsedPreferences = { ok: true; preferences: ReplicaPreferences } | { ok: false; error: string };

/** Go's encoding/json matches field names case-insensitively; v1 relied on that, so do we. */
function field(obj: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : obj[key];
}

function nonNegativeInteger(v: unknown, where: string): number | string {
  if (typeof v !== 'number' || !Number.isInteger(v)) return `${where} must be an integer, not ${JSON.stringify(v)}`;
  if (v < 0) return `${where} must not be negative (got ${v})`;
  return v;
}

/**
 * Parses an annotation value (a JSON string) or an already-decoded object. Errors are returned as
 * values, naming the field, so the controller can record them and fall back to the default plan.
 */
export function parsePreferences(value: unknown): ParsedPreferences {
  let raw = value;
  if (typeof value === 'string') {
    try {
      raw = JSON.parse(value);
    } catch (err) {
      return { ok: false, error: `not valid JSON: ${(err as Error).message}` };
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, error: 'must be a JSON object with "rebalance" and "clusters"' };
  const obj = raw as Record<string, unknown>;
  const rebalance = field(obj, 'rebalance') ?? false;
  if (typeof rebalance !== 'boolean') return { ok: false, error: `rebalance must be true or false, not ${JSON.stringify(rebalance)}` };
  const clustersRaw = field(obj, 'clusters') ?? {};
  if (typeof clustersRaw !== 'object' || clustersRaw === null || Array.isArray(clustersRaw)) {
    return { ok: false, error: 'clusters must be an object mapping cluster names (or "*") to preferences' };
  }
  const clusters: Record<string, ClusterPreferences> = {};
  for (const [name, prefRaw] of Object.entries(clustersRaw as Record<string, unknown>)) {
    if (typeof prefRaw !== 'object' || prefRaw === null || Array.isArray(prefRaw)) return { ok: false, error: `clusters["${name}"] must be an object` };
    const p = prefRaw as Record<string, unknown>;
    const min = nonNegativeInteger(field(p, 'minReplicas') ?? 0, `clusters["${name}"].minReplicas`);
    const weight = nonNegativeInteger(field(p, 'weight') ?? 0, `clusters["${name}"].weight`);
    const maxRaw = field(p, 'maxReplicas');
    const max = maxRaw === undefined || maxRaw === null ? undefined : nonNegativeInteger(maxRaw, `clusters["${name}"].maxReplicas`);
    for (const v of [min, weight, max]) if (typeof v === 'string') return { ok: false, error: v };
    if (typeof max === 'number' && (min as number) > max) {
      return { ok: false, error: `clusters["${name}"]: minReplicas (${min}) is larger than maxReplicas (${max})` };
    }
    clusters[name] = { minReplicas: min as number, weight: weight as number, ...(max !== undefined ? { maxReplicas: max as number } : {}) };
  }
  return { ok: true, preferences: { rebalance, clusters } };
}
