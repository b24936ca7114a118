import { describe, expect, it } from 'vitest';
import { Defaulter } from '../../../src/sandbox/apiserver/defaults.js';
import { ApiError } from '../../../src/sandbox/apiserver/errors.js';
import { BUILTIN_RESOURCES, type ResourceInfo } from '../../../src/sandbox/apiserver/kinds.js';
import { decodeKubernetesProtobuf } from '../../../src/sandbox/apiserver/protobuf.js';
import { ClusterStore, type KubeObject } from '../../../src/sandbox/apiserver/store.js';
import { toTable } from '../../../src/sandbox/apiserver/tables.js';
import { validateObject } from '../../../src/sandbox/apiserver/validate.js';

/** ServiceAccount, RBAC, DaemonSet, StatefulSet and PodDisruptionBudget in the sandbox API server. */

const info = (group: string, resource: string): ResourceInfo => BUILTIN_RESOURCES.find((r) => r.group === group && r.resource === resource)!;
const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}), creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') });
const cells = (r: ResourceInfo, o: KubeObject) => (toTable(r, [o], {}).rows as { cells: unknown[] }[])[0]!.cells;

function invalid(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError && err.code === 422) return err.message;
    throw err;
  }
  throw new Error('accepted');
}

describe('protobuf bodies of `kubectl create` for the new kinds (bytes as kubectl 1.33 sent them, -v=9)', () => {
  it.each([
    [
      'create role r1 --verb=get,list --resource=pods --resource-name=a',
      '6b3873000a240a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311204526f6c65122c0a120a02723112001a0022002a0032003800420012160a036765740a046c69737412001a04706f64732201611a002200',
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'r1' }, rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }] },
    ],
    [
      'create clusterrole cr1 --verb=get --non-resource-url=/healthz',
      '6b3873000a2b0a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f7631120b436c7573746572526f6c6512260a130a0363723112001a0022002a00320038004200120f0a036765742a082f6865616c74687a1a002200',
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'cr1' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }] },
    ],
    [
      'create clusterrolebinding crb1 --clusterrole=cr1 --serviceaccount=default:foo',
      '6b3873000a320a1c726261632e617574686f72697a6174696f6e2e6b38732e696f2f76311212436c7573746572526f6c6542696e64696e6712670a140a046372623112001a0022002a0032003800420012200a0e536572766963654163636f756e7412001a03666f6f220764656661756c741a2d0a19726261632e617574686f72697a6174696f6e2e6b38732e696f120b436c7573746572526f6c651a036372311a002200',
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'crb1' },
        subjects: [{ kind: 'ServiceAccount', name: 'foo', namespace: 'default' }],
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cr1' },
      },
    ],
    [
      'create sa foo',
      '6b3873000a140a027631120e536572766963654163636f756e7412150a130a03666f6f12001a0022002a003200380042001a002200',
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'foo' } },
    ],
    [
      'create pdb p1 --selector=app=x --min-available=50%',
      '6b3873000a200a09706f6c6963792f76311213506f6444697372757074696f6e42756467657412390a120a02703112001a0022002a0032003800420012170a09080110001a03353025120a0a080a036170701201781a0a080018002000280030001a002200',
      { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'p1' }, spec: { minAvailable: '50%', selector: { matchLabels: { app: 'x' } } } },
    ],
  ])('kubectl %s', (_cmd, hex, json) => {
    expect(decodeKubernetesProtobuf(Buffer.from(hex, 'hex'))).toEqual(json);
  });
});

describe('server-side printing', () => {
  it('prints a binding\'s subjects as rbac.SubjectsStrings does: users, groups, namespace/name of service accounts', () => {
    const rb: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta('rb', 'ns'),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [
        { kind: 'User', name: 'alice' },
        { kind: 'Group', name: 'devs' },
        { kind: 'User', name: 'bob' },
        { kind: 'ServiceAccount', name: 'sa', namespace: 'ns' },
      ],
    };
    expect(cells(info('rbac.authorization.k8s.io', 'rolebindings'), rb)).toEqual(['rb', 'ClusterRole/view', '0s', 'alice, bob', 'devs', 'ns/sa']);
  });

  it('prints a DaemonSet\'s node selector sorted by key, `<none>` when empty', () => {
    const ds = (nodeSelector?: Record<string, string>): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: meta('ds', 'ns'),
      spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { ...(nodeSelector ? { nodeSelector } : {}), containers: [{ name: 'c', image: 'i' }] } } },
      status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 3, numberAvailable: 2 },
    });
    const r = info('apps', 'daemonsets');
    expect(cells(r, ds({ zone: 'a', 'kubernetes.io/os': 'linux' }))).toEqual(['ds', 3, 3, 2, 3, 2, 'kubernetes.io/os=linux,zone=a', '0s', 'c', 'i', 'a=b']);
    expect(cells(r, ds())[6]).toBe('<none>');
  });

  it('prints a budget\'s percentages as given and N/A for what it does not set', () => {
    const pdb: KubeObject = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta('p', 'ns'), spec: { maxUnavailable: '25%' }, status: { disruptionsAllowed: 1 } };
    expect(cells(info('policy', 'poddisruptionbudgets'), pdb)).toEqual(['p', 'N/A', '25%', 1, '0s']);
  });
});

describe('validation and defaults', () => {
  const rbac = (resource: string) => info('rbac.authorization.k8s.io', resource);
  const binding = (roleRef: unknown, subjects: unknown[] = []): KubeObject => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'b', namespace: 'ns' }, roleRef, subjects });

  it('takes RBAC names as path segments, not DNS names', () => {
    expect(() => validateObject(rbac('clusterroles'), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:controller:x' } })).not.toThrow();
    expect(invalid(() => validateObject(rbac('clusterroles'), { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'a/b' } }))).toContain("metadata.name: Invalid value: \"a/b\": may not contain '/'");
  });

  it('requires a roleRef into RBAC and keeps it from changing', () => {
    const ref = { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' };
    expect(() => validateObject(rbac('rolebindings'), binding(ref))).not.toThrow();
    expect(invalid(() => validateObject(rbac('rolebindings'), binding({ kind: 'Role', name: 'r' })))).toContain('roleRef.apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"');
    expect(invalid(() => validateObject(rbac('rolebindings'), binding(ref, [{ kind: 'Robot', name: 'x' }])))).toContain('subjects[0].kind: Unsupported value: "Robot"');
    expect(invalid(() => validateObject(rbac('rolebindings'), binding({ ...ref, name: 'other' }), binding(ref)))).toContain('cannot change roleRef');
  });

  it('defaults Users and Groups to the RBAC API group, as the API server does; service accounts stay in the core group', () => {
    const out = new Defaulter().apply(rbac('rolebindings'), binding({}, [{ kind: 'User', name: 'a' }, { kind: 'ServiceAccount', name: 's', namespace: 'ns' }]));
    expect(out.subjects).toEqual([{ kind: 'User', name: 'a', apiGroup: 'rbac.authorization.k8s.io' }, { kind: 'ServiceAccount', name: 's', namespace: 'ns' }]);
  });

  it('a dry-run create is admitted as a real one: refused in a missing namespace, or under a taken name', () => {
    const store = new ClusterStore();
    const sa = (name: string, namespace: string): KubeObject => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
    const ref = { group: '', resource: 'serviceaccounts' };
    expect(() => store.admitCreate(ref, sa('x', 'nowhere'))).toThrow('namespaces "nowhere" not found');
    store.create(ref, sa('x', 'default'));
    expect(() => store.admitCreate(ref, sa('x', 'default'))).toThrow('serviceaccounts "x" already exists');
    expect(() => store.admitCreate(ref, sa('y', 'default'))).not.toThrow();
    expect(store.list(ref, 'default').items.map((o) => o.metadata.name)).toEqual(['x']);
  });
});
