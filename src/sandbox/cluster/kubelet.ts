import { request } from 'node:http';
import { recordEvent } from './events.js';
import { nodeAddress } from './nodes.js';
import { PodServer, type ClientDelay } from './pod-server.js';
import { HOST_PORTS_ANNOTATION, isPodActive, podConditions, podContainers, podPhase, rfc3339, servedPort } from './pods.js';
import { R, informOn, type Obj, type StorePort } from './store-port.js';
import { podAddress, type MemberSpec } from './topology.js';
import { WorkLoop, objectKey, splitKey } from './work.js';

/** The longest a simulated readiness probe waits between checks, so demos and tests move quickly. */
const MAX_PROBE_PERIOD_MS = 2_000;

interface RunningPod {
  server: PodServer;
  ready: boolean;
  probeTimer?: NodeJS.Timeout;
  /** Set by fault injection: the pod's process is down until restored. */
  down: boolean;
}

export interface Kubelet {
  /** Kills the pod's process: its servers stop and the pod goes Failed (its ReplicaSet replaces it). */
  killPod(namespace: string, name: string): boolean;
  /** Makes the pod answer 503 and report Ready=False, or heals it. */
  setPodFailing(namespace: string, name: string, failing: boolean): boolean;
  /** Stops (or restarts) every pod server of this cluster without touching the API: a zone outage. */
  setAllPodsDown(down: boolean): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs scheduled pods: each becomes real HTTP servers on its own pod address (the seed's nginx
 * page naming the zone), with readiness from its probe, and status reported like a kubelet.
 * With `wan`, the pods answer clients from other regions after the emulated round trip.
 */
export function startKubelet(store: StorePort, spec: MemberSpec, onError?: (n: string, k: string, e: unknown) => void, wan?: ClientDelay): Kubelet {
  const running = new Map<string, RunningPod>();
  let nextAddress = 1;
  let stopped = false;
  const loop = new WorkLoop('kubelet', reconcile, onError);
  const stopWatch = informOn(store, R.pods, (type, pod) => {
    const key = objectKey(pod.metadata.namespace, pod.metadata.name!);
    if (type === 'DELETED') void release(key);
    else loop.add(key);
  });

  async function reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pod = store.get(R.pods, namespace, name);
    if (!pod) return release(key);
    if (pod.metadata.deletionTimestamp || !isPodActive(pod)) return release(key);
    const nodeName = (pod.spec as { nodeName?: string }).nodeName;
    if (!nodeName || running.has(key) || podPhase(pod) !== 'Pending') return;

    const containers = podContainers(pod);
    const ports = [...new Set(containers.flatMap((c) => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort)))];
    const { server, podIP } = await startOnFreeAddress(ports, { pod: name, namespace: namespace ?? 'default', cluster: spec.name, zone: spec.zone });
    if (stopped) return void server.stop();
    const probe = containers.find((c) => c.readinessProbe?.httpGet)?.readinessProbe;
    const entry: RunningPod = { server, ready: !probe, down: false };
    running.set(key, entry);

    const moved = Object.fromEntries(server.ports.filter((p) => p.hostPort !== p.containerPort).map((p) => [String(p.containerPort), p.hostPort]));
    let current = pod;
    if (Object.keys(moved).length > 0) {
      current = store.update(R.pods, {
        ...pod,
        metadata: { ...pod.metadata, annotations: { ...(pod.metadata.annotations ?? {}), [HOST_PORTS_ANNOTATION]: JSON.stringify(moved) } },
      });
    }
    const nodeIndex = Math.max(0, Number(/-node-(\d+)$/.exec(nodeName)?.[1] ?? 1) - 1);
    const now = rfc3339();
    writeStatus(current, entry, {
      phase: 'Running',
      podIP,
      podIPs: [{ ip: podIP }],
      hostIP: nodeAddress(spec, nodeIndex),
      hostIPs: [{ ip: nodeAddress(spec, nodeIndex) }],
      startTime: now,
      qosClass: 'BestEffort',
    });
    for (const c of containers) recordEvent(store, current, 'Normal', 'Started', `Started container ${c.name}`, 'kubelet');
    if (probe?.httpGet) {
      const port = typeof probe.httpGet.port === 'number' ? probe.httpGet.port : (ports[0] ?? 80);
      const path = probe.httpGet.path ?? '/';
      const period = Math.min(MAX_PROBE_PERIOD_MS, (probe.periodSeconds ?? 10) * 1000);
      const check = () => {
        if (!running.has(key) || stopped) return;
        httpOk(podIP, servedPort(current, port), path).then((ok) => {
          if (!running.has(key) || entry.down) return;
          if (ok !== entry.ready) {
            entry.ready = ok;
            const latest = store.get(R.pods, namespace, name);
            if (latest) writeStatus(latest, entry, {});
          }
          entry.probeTimer = setTimeout(check, period);
          entry.probeTimer.unref();
        }, () => {});
      };
      entry.probeTimer = setTimeout(check, Math.min(MAX_PROBE_PERIOD_MS, (probe.initialDelaySeconds ?? 0) * 1000));
      entry.probeTimer.unref();
    }
  }

  /** The next pod IP whose ports are free: another sandbox on the machine may hold some. */
  async function startOnFreeAddress(ports: number[], identity: ConstructorParameters<typeof PodServer>[1]): Promise<{ server: PodServer; podIP: string }> {
    for (let tries = 0; ; tries++) {
      const podIP = podAddress(spec.podCIDR, nextAddress++);
      const server = new PodServer(podIP, identity, wan);
      try {
        await server.start(ports);
        return { server, podIP };
      } catch (err) {
        await server.stop();
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries > 1000) throw err;
      }
    }
  }

  function writeStatus(pod: Obj, entry: RunningPod, extra: Record<string, unknown>): void {
    const old = (pod.status ?? {}) as Record<string, unknown>;
    const now = rfc3339();
    const ready = entry.ready ? 'True' : 'False';
    const scheduled = podConditions(pod).find((c) => c.type === 'PodScheduled') ?? { type: 'PodScheduled', status: 'True' };
    const containers = podContainers(pod);
    const startedAt = (extra.startTime as string | undefined) ?? (old.startTime as string | undefined) ?? now;
    store.update(
      R.pods,
      {
        ...pod,
        status: {
          ...old,
          ...extra,
          conditions: [
            { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: startedAt },
            { type: 'Ready', status: ready, lastProbeTime: null, lastTransitionTime: now, ...(entry.ready ? {} : { reason: 'ContainersNotReady', message: 'containers with unready status' }) },
            { type: 'ContainersReady', status: ready, lastProbeTime: null, lastTransitionTime: now },
            scheduled,
          ],
          containerStatuses: containers.map((c) => ({
            name: c.name,
            ready: entry.ready,
            started: true,
            restartCount: 0,
            image: (c as { image?: string }).image ?? '',
            imageID: '',
            containerID: `sandbox://${pod.metadata.uid}/${c.name}`,
            state: { running: { startedAt } },
            lastState: {},
          })),
        },
      },
      { subresource: 'status' },
    );
  }

  async function release(key: string): Promise<void> {
    const entry = running.get(key);
    if (!entry) return;
    running.delete(key);
    if (entry.probeTimer) clearTimeout(entry.probeTimer);
    await entry.server.stop();
  }

  return {
    killPod(namespace, name) {
      const key = objectKey(namespace, name);
      const entry = running.get(key);
      const pod = store.get(R.pods, namespace, name);
      if (!entry || !pod) return false;
      void release(key);
      const now = rfc3339();
      const old = (pod.status ?? {}) as Record<string, unknown>;
      store.update(
        R.pods,
        {
          ...pod,
          status: {
            ...old,
            phase: 'Failed',
            reason: 'Killed',
            message: 'killed by sandbox fault injection',
            conditions: podConditions(pod).map((c) => (c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False', lastTransitionTime: now } : c)),
            containerStatuses: podContainers(pod).map((c) => ({
              name: c.name,
              ready: false,
              started: false,
              restartCount: 0,
              image: (c as { image?: string }).image ?? '',
              imageID: '',
              state: { terminated: { exitCode: 137, reason: 'Killed', startedAt: old.startTime, finishedAt: now } },
              lastState: {},
            })),
          },
        },
        { subresource: 'status' },
      );
      recordEvent(store, pod, 'Warning', 'Killing', 'Stopping container: killed by sandbox fault injection', 'kubelet');
      return true;
    },
    setPodFailing(namespace, name, failing) {
      const entry = running.get(objectKey(namespace, name));
      const pod = store.get(R.pods, namespace, name);
      if (!entry || !pod) return false;
      entry.server.setReady(!failing);
      entry.ready = !failing;
      writeStatus(pod, entry, {});
      if (failing) recordEvent(store, pod, 'Warning', 'Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 503', 'kubelet');
      return true;
    },
    async setAllPodsDown(down) {
      await Promise.all(
        [...running.values()].map(async (entry) => {
          if (entry.down === down) return;
          entry.down = down;
          if (down) await entry.server.stop();
          else await entry.server.resume();
        }),
      );
    },
    async stop() {
      stopped = true;
      loop.stop();
      stopWatch();
      await Promise.all([...running.keys()].map(release));
    },
  };
}

/** One readiness probe: 2xx/3xx within a second counts as success, as the kubelet's httpGet probe. */
function httpOk(host: string, port: number, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
