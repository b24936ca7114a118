import { R, type StorePort } from './store-port.js';
import type { MemberSpec } from './topology.js';
import type { NodeCapacity } from './scheduler.js';

/** The address of node i (0-based): the top /24 of the cluster's pod range is kept for nodes. */
export function nodeAddress(spec: MemberSpec, i: number): string {
  const [a, b] = spec.podCIDR.split('.');
  return `${a}.${b}.255.${i + 1}`;
}

export function nodeName(spec: MemberSpec, i: number): string {
  return `${spec.name}-node-${i + 1}`;
}

/** Registers the cluster's nodes, with the topology labels the controller reads region and zone from. */
export function registerNodes(store: StorePort, spec: MemberSpec, kubeletVersion: string): NodeCapacity[] {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const capacity: NodeCapacity[] = [];
  for (let i = 0; i < spec.nodes; i++) {
    const name = nodeName(spec, i);
    const resources = {
      cpu: `${spec.nodeCPUMillis}m`,
      memory: `${spec.nodeMemoryMiB}Mi`,
      pods: String(spec.nodeMaxPods),
      'ephemeral-storage': '100Gi',
    };
    if (!store.get(R.nodes, undefined, name)) {
      store.create(R.nodes, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          labels: {
            'kubernetes.io/hostname': name,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'node.kubernetes.io/instance-type': 'sandbox-standard',
            'topology.kubernetes.io/region': spec.region,
            'topology.kubernetes.io/zone': spec.zone,
            'failure-domain.beta.kubernetes.io/region': spec.region,
            'failure-domain.beta.kubernetes.io/zone': spec.zone,
          },
        },
        spec: { podCIDR: spec.podCIDR },
        status: {
          capacity: resources,
          allocatable: resources,
          conditions: [
            { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now, lastTransitionTime: now },
          ],
          addresses: [
            { type: 'InternalIP', address: nodeAddress(spec, i) },
            { type: 'Hostname', address: name },
          ],
          nodeInfo: {
            kubeletVersion,
            kubeProxyVersion: kubeletVersion,
            containerRuntimeVersion: 'sandbox://1.0',
            operatingSystem: 'linux',
            architecture: 'amd64',
            osImage: 'Meridian sandbox',
            kernelVersion: process.version,
          },
        },
      });
    }
    capacity.push({ name, cpuMillis: spec.nodeCPUMillis, memoryBytes: spec.nodeMemoryMiB * 2 ** 20, pods: spec.nodeMaxPods });
  }
  return capacity;
}
