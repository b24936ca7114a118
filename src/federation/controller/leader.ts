import type { Logger } from '../../common/log.js';
import { KubeApiError, type KObject, type KubeRest } from '../../kube/rest.js';

/** Lease timing, as client-go's leader election names it. */
export interface LeaseTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/**
 * What a candidate may do with the current Lease; pure. It may take the lease when nobody holds
 * it, when it holds it already, or when the holder stopped renewing for a whole lease duration.
 */
export function leaseDecision(spec: LeaseSpec | undefined, identity: string, now: number): 'acquire' | 'renew' | 'wait' {
  if (!spec?.holderIdentity) return 'acquire';
  if (spec.holderIdentity === identity) return 'renew';
  const renewed = Date.parse(spec.renewTime ?? spec.acquireTime ?? '1970-01-01T00:00:00Z');
  const expiresAt = renewed + (spec.leaseDurationSeconds ?? 15) * 1000;
  return now >= expiresAt ? 'acquire' : 'wait';
}

const micro = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

/**
 * Leader election on a coordination.k8s.io/v1 Lease in the federation API, so several controller
 * replicas can run and exactly one reconciles. `onLost` runs when renewals fail past the renew
 * deadline: the caller stops working (the CLI exits, as controller-runtime does).
 */
export class LeaderElector {
  private timer?: NodeJS.Timeout;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;

  constructor(
    private readonly api: KubeRest,
    private readonly namespace: string,
    private readonly name: string,
    readonly identity: string,
    private readonly timing: LeaseTiming,
    private readonly logger: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves once this replica leads; keeps renewing afterwards. */
  async run(onLost: () => void): Promise<void> {
    await new Promise<void>((becameLeader) => {
      const tick = async () => {
        if (this.stopped) return;
        const ok = await this.tryAcquireOrRenew().catch((err: unknown) => {
          this.logger.debug({ err: String(err) }, 'lease attempt failed');
          return false;
        });
        const now = Date.now();
        if (ok) {
          this.lastRenew = now;
          if (!this.leading) {
            this.leading = true;
            this.logger.info({ identity: this.identity }, 'became leader');
            becameLeader();
          }
        } else if (this.leading && now - this.lastRenew > this.timing.renewDeadlineMs) {
          this.leading = false;
          this.logger.warn({ identity: this.identity }, 'lost leadership');
          onLost();
          return;
        }
        this.timer = setTimeout(() => void tick(), this.timing.retryPeriodMs);
        this.timer.unref();
      };
      void tick();
    });
  }

  /** Stops campaigning and, when leading, releases the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const path = this.path();
    const lease = await this.api.find<KObject>(path).catch(() => undefined);
    const spec = (lease?.spec ?? {}) as LeaseSpec;
    if (lease && spec.holderIdentity === this.identity) {
      await this.api.call('PUT', path, { body: { ...lease, spec: { ...spec, holderIdentity: '', renewTime: micro(Date.now()) } } }).catch(() => {});
    }
  }

  private path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${this.name}`;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const lease = await this.api.find<KObject>(this.path());
    const spec = (lease?.spec ?? undefined) as LeaseSpec | undefined;
    const decision = leaseDecision(spec, this.identity, now);
    if (decision === 'wait') return false;
    const next: LeaseSpec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.timing.leaseDurationMs / 1000),
      acquireTime: decision === 'renew' && spec?.acquireTime ? spec.acquireTime : micro(now),
      renewTime: micro(now),
      leaseTransitions: (spec?.leaseTransitions ?? 0) + (decision === 'acquire' && spec?.holderIdentity ? 1 : 0),
    };
    try {
      if (!lease) {
        await this.api.call('POST', `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`, {
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name, namespace: this.namespace }, spec: next },
        });
      } else {
        // The resourceVersion makes this a compare-and-swap: two candidates cannot both win.
        await this.api.call('PUT', this.path(), { body: { ...lease, spec: next } });
      }
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return false;
      throw err;
    }
  }
}
