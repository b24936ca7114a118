import type { ResourceInfo } from './kinds.js';
import type { KubeObject } from './store.js';

/**
 * Defaults the real API server applies on create (and keeps on update): what `describe` shows.
 * `previous` is the stored object on update, so allocated values (cluster IPs) stay put.
 */
export class Defaulter {
  private nextClusterIP = 1;

  apply(info: ResourceInfo, obj: KubeObject, previous?: KubeObject): KubeObject {
    const key = `${info.storage.group}/${info.storage.resource}`;
    const spec = { ...((obj.spec as Record<string, unknown>) ?? {}) };
    switch (key) {
      case '/services': {
        const prevSpec = (previous?.spec ?? {}) as Record<string, unknown>;
        spec.type ??= 'ClusterIP';
        if (spec.type !== 'ExternalName') {
          spec.clusterIP ??= prevSpec.clusterIP ?? this.allocateClusterIP();
          spec.clusterIPs ??= spec.clusterIP === 'None' ? ['None'] : [spec.clusterIP];
          spec.ipFamilies ??= ['IPv4'];
          spec.ipFamilyPolicy ??= 'SingleStack';
          spec.internalTrafficPolicy ??= 'Cluster';
        }
        spec.sessionAffinity ??= 'None';
        if (spec.type === 'LoadBalancer' || spec.type === 'NodePort') spec.externalTrafficPolicy ??= 'Cluster';
        if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
        const prevPorts = (prevSpec.ports as { port: number; nodePort?: number }[] | undefined) ?? [];
        spec.ports = ((spec.ports as Record<string, unknown>[] | undefined) ?? []).map((p) => ({
          ...p,
          protocol: p.protocol ?? 'TCP',
          targetPort: p.targetPort ?? p.port,
          ...(p.nodePort === undefined && prevPorts.find((q) => q.port === p.port)?.nodePort
            ? { nodePort: prevPorts.find((q) => q.port === p.port)!.nodePort }
            : {}),
        }));
        const status = obj.status ?? (previous ? previous.status : { loadBalancer: {} });
        return { ...obj, spec, status };
      }
      case '/secrets': {
        const data = { ...((obj.data as Record<string, string>) ?? {}) };
        for (const [k, v] of Object.entries((obj.stringData as Record<string, string>) ?? {})) data[k] = Buffer.from(v).toString('base64');
        const { stringData: _s, ...rest } = obj;
        return { ...rest, type: obj.type ?? 'Opaque', ...(Object.keys(data).length || obj.data ? { data } : {}) };
      }
      case 'apps/replicasets':
        spec.replicas ??= 1;
        if (spec.template) spec.template = defaultTemplate(spec.template);
        return { ...obj, spec };
      case 'apps/deployments':
        spec.replicas ??= 1;
        if (spec.template) spec.template = defaultTemplate(spec.template);
        spec.revisionHistoryLimit ??= 10;
        spec.progressDeadlineSeconds ??= 600;
        spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
        return { ...obj, spec };
      case 'apps/daemonsets': {
        if (spec.template) spec.template = defaultTemplate(spec.template);
        spec.revisionHistoryLimit ??= 10;
        const strategy: Record<string, unknown> = { type: 'RollingUpdate', ...((spec.updateStrategy as Record<string, unknown> | undefined) ?? {}) };
        if (strategy.type === 'RollingUpdate') strategy.rollingUpdate = { maxUnavailable: 1, maxSurge: 0, ...((strategy.rollingUpdate as object | undefined) ?? {}) };
        spec.updateStrategy = strategy;
        return { ...obj, spec };
      }
      case 'apps/statefulsets': {
        spec.replicas ??= 1;
        if (spec.template) spec.template = defaultTemplate(spec.template);
        spec.podManagementPolicy ??= 'OrderedReady';
        spec.revisionHistoryLimit ??= 10;
        const strategy: Record<string, unknown> = { type: 'RollingUpdate', ...((spec.updateStrategy as Record<string, unknown> | undefined) ?? {}) };
        if (strategy.type === 'RollingUpdate') strategy.rollingUpdate = { partition: 0, ...((strategy.rollingUpdate as object | undefined) ?? {}) };
        spec.updateStrategy = strategy;
        spec.persistentVolumeClaimRetentionPolicy = { whenDeleted: 'Retain', whenScaled: 'Retain', ...((spec.persistentVolumeClaimRetentionPolicy as object | undefined) ?? {}) };
        return { ...obj, spec };
      }
      case 'rbac.authorization.k8s.io/rolebindings':
      case 'rbac.authorization.k8s.io/clusterrolebindings': {
        // Users and Groups are RBAC subjects; a ServiceAccount's apiGroup stays "".
        const subjects = (obj.subjects as Record<string, unknown>[] | undefined)?.map((s) =>
          !s.apiGroup && (s.kind === 'User' || s.kind === 'Group') ? { ...s, apiGroup: 'rbac.authorization.k8s.io' } : s,
        );
        return subjects ? { ...obj, subjects } : obj;
      }
      case '/pods': {
        Object.assign(spec, defaultPodSpec(spec));
        return { ...obj, spec, status: obj.status ?? previous?.status ?? { phase: 'Pending', qosClass: 'BestEffort' } };
      }
      default:
        return obj;
    }
  }

  private allocateClusterIP(): string {
    const n = this.nextClusterIP++;
    return `10.96.${Math.floor(n / 254) % 256}.${(n % 254) + 1}`;
  }
}

function defaultPodSpec(spec: Record<string, unknown>): Record<string, unknown> {
  return {
    ...spec,
    restartPolicy: spec.restartPolicy ?? 'Always',
    dnsPolicy: spec.dnsPolicy ?? 'ClusterFirst',
    schedulerName: spec.schedulerName ?? 'default-scheduler',
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30,
    containers: ((spec.containers as Record<string, unknown>[] | undefined) ?? []).map((c) => ({
      imagePullPolicy: 'IfNotPresent',
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      ...c,
      ...(Array.isArray(c.ports) ? { ports: (c.ports as Record<string, unknown>[]).map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' })) } : {}),
    })),
  };
}

function defaultTemplate(template: unknown): unknown {
  const t = template as { spec?: Record<string, unknown> };
  return t.spec ? { ...t, spec: defaultPodSpec(t.spec) } : t;
}
