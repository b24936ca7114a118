import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { listenError, MeridianError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { hostname } from 'node:os';
import { KubeRest } from '../../kube/rest.js';
import { FEDERATED_KINDS } from '../kinds.js';
import { ClusterRegistry, FEDERATION_NAMESPACE } from '../registry/registry.js';
import { LeaderElector, type LeaseTiming } from './leader.js';
import { TablePublisher } from '../../ingress-sync/publisher.js';
import type { FleetStore } from '../../state/store.js';
import { ControllerMetrics } from './metrics.js';
import { cacheNotSyncedMessage, cacheSyncThresholdMs, CacheSyncLedger, MEMBER_CACHE_NOT_SYNCED, MEMBER_CACHE_SYNCED, formatDuration } from './cache-sync.js';
import { DEFAULT_REPEAT, type RepeatPolicy } from './problems.js';
import { KindSyncController } from './sync-controller.js';
import { DEFAULT_WRITE_RATE, MemberWriteLimiter, type WriteRate } from './write-limiter.js';

export interface ControllerOptions {
  kubeconfigText: string;
  federationContext: string;
  globalVIP?: string;
  probeIntervalMs?: number;
  /** Failed probes in a row that take a Ready member out (default 3). */
  probeFailureThreshold?: number;
  resyncMs?: number;
  memberTimeoutMs?: number;
  unschedulableAfterMs?: number;
  workers?: number;
  /** Writes per member per second, all kinds together (default 50/s, bursts of 100). */
  memberWriteRate?: WriteRate;
  /** When a standing problem on an object is evented again (default 5 min, doubling to 1 h). */
  eventRepeat?: RepeatPolicy;
  /** How long a Ready member's cache of a kind may go unlisted before it is reported (default max(30 s, 3 probe intervals)). */
  memberCacheSyncTimeoutMs?: number;
  /** host:port of /metrics and /healthz; port 0 picks a free one. */
  metricsAddress?: string;
  clientAddress?: string;
  /** Identity in the leader Lease; default hostname_pid. */
  identity?: string;
  leaseTiming?: LeaseTiming;
  /** Publish the proxies' routing table to this file (JSON) while leading. */
  tableOut?: string;
  /** Publish the federated Ingresses' TLS certificates to this file (default: certificates.json beside tableOut). */
  certificatesOut?: string;
  /** …and/or to the fleet's state store, for proxies that follow it (`meridian proxy --redis`). */
  store?: FleetStore;
  /** A federated TLS Secret (`namespace/name`) proxies with no certificate of their own serve to names none covers and to clients sending no name. */
  defaultCertificate?: string;
  /** Called when leadership is lost; the process should stop (the CLI exits). */
  onLeadershipLost?: () => void;
  logger: Logger;
}

export interface RunningController {
  metricsUrl: string;
  registry: ClusterRegistry;
  elector: LeaderElector;
  /** Resolves when this replica leads and its loops run. */
  leading: Promise<void>;
  /** One sync loop per federated kind. */
  syncControllers: readonly KindSyncController[];
  stop(): Promise<void>;
}

/** Assembles the federation controller: cluster registry, one sync loop per kind, metrics. */
export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const kc = new KubeConfig();
  kc.loadFromString(opts.kubeconfigText);
  if (!kc.getContextObject(opts.federationContext)) {
    throw new MeridianError('E_CONTROLLER_CONTEXT', `the kubeconfig has no context "${opts.federationContext}"`, `contexts: ${kc.getContexts().map((c) => c.name).join(', ')}`);
  }
  kc.setCurrentContext(opts.federationContext);
  const federation = await KubeRest.fromKubeConfig(kc);
  const metrics = new ControllerMetrics();
  federation.onRequest = (verb) => metrics.federationRequest(verb);
  // The Lease and the members' kubeconfig Secrets live in federation-system.
  if (!(await federation.find(`/api/v1/namespaces/${FEDERATION_NAMESPACE}`).catch(() => undefined))) {
    await federation
      .call('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: FEDERATION_NAMESPACE } } })
      .catch((err: unknown) => {
        throw new MeridianError('E_CONTROLLER_FEDERATION', `cannot reach the federation API at ${federation.server}: ${String(err)}`, 'check --kubeconfig and --federation-context');
      });
  }
  const probeIntervalMs = opts.probeIntervalMs ?? 10_000;
  const registry = new ClusterRegistry({
    federation,
    kubeconfigText: opts.kubeconfigText,
    probeIntervalMs,
    probeTimeoutMs: Math.min(3_000, probeIntervalMs),
    ...(opts.probeFailureThreshold !== undefined ? { probeFailureThreshold: opts.probeFailureThreshold } : {}),
    clientAddress: opts.clientAddress ?? '127.0.0.1',
    logger: opts.logger,
    observeRequest: (cluster, verb) => metrics.memberRequest(cluster, verb),
  });
  const writeLimiter = new MemberWriteLimiter(opts.memberWriteRate ?? DEFAULT_WRITE_RATE);
  const controllers = FEDERATED_KINDS.map(
    (kind) =>
      new KindSyncController(kind, {
        federation,
        registry,
        ...(opts.globalVIP ? { globalVIP: opts.globalVIP } : {}),
        resyncMs: opts.resyncMs ?? 30_000,
        workers: opts.workers ?? 8,
        memberTimeoutMs: opts.memberTimeoutMs ?? 5_000,
        unschedulableAfterMs: opts.unschedulableAfterMs ?? 60_000,
        writeLimiter,
        ...(opts.eventRepeat ? { eventRepeat: opts.eventRepeat } : {}),
        logger: opts.logger,
        metrics,
      }),
  );
  const publisher =
    opts.tableOut || opts.certificatesOut || opts.store
      ? new TablePublisher({
          federation,
          registry,
          ...(opts.tableOut ? { path: opts.tableOut } : {}),
          ...(opts.certificatesOut ? { certificatesPath: opts.certificatesOut } : {}),
          ...(opts.store ? { store: opts.store } : {}),
          ...(opts.defaultCertificate ? { defaultCertificate: opts.defaultCertificate } : {}),
          ...(opts.eventRepeat ? { eventRepeat: opts.eventRepeat } : {}),
          intervalMs: 1_000,
          logger: opts.logger,
        })
      : undefined;
  if (publisher) metrics.watchCertificates(() => publisher.certificateProblemCounts());
  metrics.watch({
    clusters: () => registry.states(),
    memberCaches: () => controllers.flatMap((c) => c.memberCaches()),
    kinds: () =>
      controllers.map((c) => {
        // Malformed annotations are found by the routing table's publisher, not the Ingress's sync.
        const problems = c.kind.kind === 'Ingress' && publisher ? new Map([...c.problemCounts(), ...publisher.annotationProblemCounts()]) : c.problemCounts();
        return { kind: c.kind.kind, depth: c.queue.depth, problems, oldestPendingSeconds: c.oldestPendingSeconds() };
      }),
  });
  registry.onStateChange((member, previous) => {
    if (member.state === 'Ready') metrics.memberReady(member.name, FEDERATED_KINDS.map((k) => k.kind));
    opts.logger.info({ cluster: member.name, state: member.state, previous }, 'member cluster state');
    if (member.state !== 'Ready') {
      for (const c of controllers) c.unwatchMember(member.name);
      return;
    }
    // A member that (re)joins gets everything it missed once its copies are listed (each kind's
    // controller queues every key then; see KindSyncController.watchMember).
    for (const c of controllers) c.watchMember(member);
  });

  registry.onRemove((name) => {
    opts.logger.info({ cluster: name }, 'member cluster removed from the federation; forgetting it');
    for (const c of controllers) c.unwatchMember(name);
    writeLimiter.forget(name);
    void metrics.forgetMember(name);
  });

  // A member whose cache of a kind never lists is left out of that kind's reconciles for good:
  // say so, on its Cluster, in the log and in the metrics, rather than let it go without copies.
  const cacheSyncThreshold = opts.memberCacheSyncTimeoutMs ?? cacheSyncThresholdMs(probeIntervalMs);
  const cacheSync = new CacheSyncLedger(cacheSyncThreshold, opts.eventRepeat ?? DEFAULT_REPEAT);
  const checkCaches = () => {
    for (const report of cacheSync.check(controllers.flatMap((c) => c.memberCaches()))) {
      const { cluster, kind } = report.reading;
      const unsynced = formatDuration(report.unsyncedMs);
      if (report.type === 'recovered') {
        opts.logger.info({ cluster, kind, unsynced }, 'member cache listed; the cluster gets its copies of this kind again');
        void registry.recordClusterEvent(cluster, 'Normal', MEMBER_CACHE_SYNCED, `the controller listed ${report.reading.resource} in cluster ${cluster} after ${unsynced}; its federated ${kind} copies are reconciled again`);
        continue;
      }
      const message = cacheNotSyncedMessage(report);
      if (report.first) opts.logger.warn({ cluster, kind, unsynced, err: report.error, code: 'E_MEMBER_CACHE_NOT_SYNCED' }, message);
      void registry.recordClusterEvent(cluster, 'Warning', MEMBER_CACHE_NOT_SYNCED, message);
    }
  };
  let cacheCheckTimer: NodeJS.Timeout | undefined;
  const stopCacheChecks = () => clearInterval(cacheCheckTimer);

  registry.onLabelsChange((member) => {
    opts.logger.info({ cluster: member.name, labels: member.labels }, 'member cluster relabelled; re-placing objects');
    for (const c of controllers) c.enqueueAll();
  });

  const [host, portText] = (opts.metricsAddress ?? '127.0.0.1:0').split(':');
  const server: Server = createServer((req, res) => {
    if (req.url === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      });
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, 'the controller\'s metrics', host ?? '127.0.0.1', Number(portText ?? 0), '--metrics-addr')));
    server.listen(Number(portText ?? 0), host, () => resolve());
  });

  const elector = new LeaderElector(
    federation,
    FEDERATION_NAMESPACE,
    'meridian-controller',
    opts.identity ?? `${hostname()}_${process.pid}`,
    opts.leaseTiming ?? { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    opts.logger,
  );
  // Standby replicas serve /healthz and /metrics but reconcile nothing until they lead.
  const leading = elector
    .run(() => {
      stopCacheChecks();
      publisher?.stop();
      for (const c of controllers) c.stop();
      void registry.stop();
      opts.onLeadershipLost?.();
    })
    .then(() => {
      registry.start();
      for (const c of controllers) c.start();
      publisher?.start();
      cacheCheckTimer = setInterval(checkCaches, Math.max(100, Math.min(probeIntervalMs, cacheSyncThreshold / 3)));
      cacheCheckTimer.unref();
    });
  const addr = server.address() as AddressInfo;
  let stopping: Promise<void> | undefined;
  return {
    metricsUrl: `http://${host}:${addr.port}`,
    registry,
    elector,
    leading,
    syncControllers: controllers,
    stop() {
      return (stopping ??= shutdown());
    },
  };

  async function shutdown(): Promise<void> {
    await elector.stop();
    stopCacheChecks();
    publisher?.stop();
    await opts.store?.close();
    for (const c of controllers) c.stop();
    await registry.stop();
    // In-flight calls finish or fail on their own deadlines; close() waits for them.
    await federation.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}
