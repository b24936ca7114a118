import { KubeApiError } from '../../kube/rest.js';
import { DEFAULT_REPEAT, type RepeatPolicy } from './problems.js';

export const MEMBER_CACHE_NOT_SYNCED = 'MemberCacheNotSynced';
export const MEMBER_CACHE_SYNCED = 'MemberCacheSynced';

/** The default wait before a cache that has not listed is reported: a few failed lists, never a slow first one. */
export function cacheSyncThresholdMs(probeIntervalMs: number): number {
  return Math.max(30_000, 3 * probeIntervalMs);
}

/** One member's cache of one kind, as read each check. */
export interface CacheReading {
  cluster: string;
  kind: string;
  /** Plural resource name, as RBAC names it (`configmaps`). */
  resource: string;
  /** API group ('' for the core group), for the RBAC advice. */
  group: string;
  synced: boolean;
  /** When the cache started listing (ms on the ledger's clock). */
  since: number;
  /** Its last failed list or watch, if any. */
  lastError?: unknown;
}

export type CacheReport =
  | { type: 'stuck'; reading: CacheReading; unsyncedMs: number; error: string; first: boolean }
  | { type: 'recovered'; reading: CacheReading; unsyncedMs: number };

interface Told {
  since: number;
  error: string;
  at: number;
  repeatMs: number;
}

/**
 * Members whose cache of a kind never lists. Reconciles leave such a member out of every round
 * (reading it object by object instead would cost a GET per object), so when its list keeps
 * failing — RBAC forbids it, the kind is not served there, the list times out — the member
 * silently gets no copies of the kind. This ledger turns that into a report: once a cache has
 * gone unlisted for `thresholdMs`, one `stuck` (a warn log and a Warning Event), the same again
 * after the controller's repeat back-off while it lasts or at once when its error changes, and
 * one `recovered` when it lists. Pure apart from the clock, which is passed in.
 */
export class CacheSyncLedger {
  /** `cluster|kind` → what was last told about a cache reported stuck. */
  private readonly told = new Map<string, Told>();

  constructor(
    private readonly thresholdMs: number,
    private readonly policy: RepeatPolicy = DEFAULT_REPEAT,
    private readonly now: () => number = performance.now.bind(performance),
  ) {}

  /**
   * One check of every cache the controller holds: returns what to report now. A cache no longer
   * read (its member left or went NotReady) is forgotten without a report; if it comes back
   * stuck, that is news again.
   */
  check(readings: Iterable<CacheReading>): CacheReport[] {
    const t = this.now();
    const reports: CacheReport[] = [];
    const present = new Set<string>();
    for (const r of readings) {
      const id = `${r.cluster}|${r.kind}`;
      present.add(id);
      const old = this.told.get(id);
      // A new cache (the member's client was rebuilt) starts its own wait.
      if (old && old.since !== r.since) this.told.delete(id);
      const told = this.told.get(id);
      if (r.synced) {
        if (told) {
          this.told.delete(id);
          reports.push({ type: 'recovered', reading: r, unsyncedMs: t - r.since });
        }
        continue;
      }
      const unsyncedMs = t - r.since;
      if (unsyncedMs < this.thresholdMs) continue;
      const error = describeListError(r.lastError);
      if (!told) {
        this.told.set(id, { since: r.since, error, at: t, repeatMs: this.policy.firstRepeatMs });
        reports.push({ type: 'stuck', reading: r, unsyncedMs, error, first: true });
      } else if (told.error !== error) {
        this.told.set(id, { since: r.since, error, at: t, repeatMs: this.policy.firstRepeatMs });
        reports.push({ type: 'stuck', reading: r, unsyncedMs, error, first: false });
      } else if (t - told.at >= told.repeatMs) {
        this.told.set(id, { ...told, at: t, repeatMs: Math.min(this.policy.maxRepeatMs, told.repeatMs * 2) });
        reports.push({ type: 'stuck', reading: r, unsyncedMs, error, first: false });
      }
    }
    for (const id of [...this.told.keys()]) if (!present.has(id)) this.told.delete(id);
    return reports;
  }

  /** Caches reported stuck and not yet recovered (tests: nothing stays behind a member). */
  stuck(): string[] {
    return [...this.told.keys()];
  }
}

/** A list/watch failure in one line: the API's status code, reason and message where it answered. */
export function describeListError(err: unknown): string {
  if (err === undefined) return 'no list has answered yet';
  if (err instanceof KubeApiError) return `${err.status} ${err.reason}: ${err.message}`;
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** What to do about a cache that does not list, by what its API server last said. */
export function cacheSyncAdvice(reading: Pick<CacheReading, 'resource' | 'group'>, err: unknown): string {
  const rbacGroup = reading.group === '' ? 'the core API group ("")' : `API group "${reading.group}"`;
  const grant = `grant list and watch on ${reading.resource} (${rbacGroup}) to the federation's credentials in that cluster (the kubeconfig its Cluster's spec.secretRef or spec.kubeconfigContext names)`;
  if (err instanceof KubeApiError) {
    if (err.status === 401) return `the cluster does not accept the federation's credentials: renew the kubeconfig its Cluster names`;
    if (err.status === 403) return grant;
    if (err.status === 404) return `the cluster does not serve ${reading.resource}${reading.group ? `.${reading.group}` : ''} at the version the federation uses: install or upgrade that API there, or take the cluster out of that kind's placement`;
  }
  return `check that cluster's API server (it is Ready, but its list of ${reading.resource} does not complete), or else ${grant}`;
}

/** The message of a `MemberCacheNotSynced` Event, led by its stable code. */
export function cacheNotSyncedMessage(report: Extract<CacheReport, { type: 'stuck' }>): string {
  const r = report.reading;
  return (
    `E_MEMBER_CACHE_NOT_SYNCED: the controller has not been able to list ${r.resource} in cluster ${r.cluster} for ${formatDuration(report.unsyncedMs)}, ` +
    `so the cluster gets no federated ${r.kind} copies; last list/watch error: ${report.error}; ${cacheSyncAdvice(r, r.lastError)}`
  );
}

/** `45s`, `12m`, `3h20m`: how long, to the precision a reader needs. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
}
