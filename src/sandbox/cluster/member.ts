import type { Logger } from '../../common/log.js';
import { startDeploymentController } from './deployment-controller.js';
import { startEndpointsController } from './endpoints-controller.js';
import { startGarbageCollector } from './garbage-collector.js';
import { startKubelet, type Kubelet } from './kubelet.js';
import { registerNodes } from './nodes.js';
import type { ClientDelay } from './pod-server.js';
import { startReplicaSetController } from './replicaset-controller.js';
import { startScheduler } from './scheduler-controller.js';
import { startServiceController } from './service-controller.js';
import type { StorePort } from './store-port.js';
import type { MemberSpec } from './topology.js';

export interface MemberSimulation {
  kubelet: Kubelet;
  stop(): Promise<void>;
}

/**
 * Brings one emulated member cluster to life around its store: nodes, scheduler, ReplicaSet and
 * Deployment controllers, garbage collector, endpoints, service load balancers and the kubelet.
 */
export function startMemberSimulation(
  store: StorePort,
  spec: MemberSpec,
  clusterIndex: number,
  /** `wan`: WAN emulation for this member's pods. */
  opts: { kubeletVersion: string; logger?: Logger; wan?: ClientDelay },
): MemberSimulation {
  const onError = (controller: string, key: string, err: unknown) => {
    const code = (err as { code?: number }).code;
    // 409 conflicts and 404s are races between controllers; they are retried and expected.
    if (code === 409 || code === 404) return;
    opts.logger?.warn({ cluster: spec.name, controller, key, err: String(err) }, 'sandbox controller error, retrying');
  };
  const nodes = registerNodes(store, spec, opts.kubeletVersion);
  const stops = [
    startScheduler(store, nodes, onError),
    startReplicaSetController(store, onError),
    startDeploymentController(store, onError),
    startGarbageCollector(store, onError),
    startEndpointsController(store, spec, onError),
    startServiceController(store, clusterIndex, onError),
  ];
  const kubelet = startKubelet(store, spec, onError, opts.wan);
  return {
    kubelet,
    async stop() {
      for (const stop of stops) stop();
      await kubelet.stop();
    },
  };
}
