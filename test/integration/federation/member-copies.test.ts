import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemberCopies } from '../../../src/federation/controller/member-copies.js';
import { MemberWrites } from '../../../src/federation/controller/member-writes.js';
import { FEDERATED_KINDS } from '../../../src/federation/kinds.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../../src/federation/sync/desired.js';
import { KubeRest, type KObject } from '../../../src/kube/rest.js';
import { startApiServer, type ApiServer } from '../../../src/sandbox/apiserver/server.js';
import { ClusterStore } from '../../../src/sandbox/apiserver/store.js';
import { renderKubeconfig } from '../../../src/sandbox/kubeconfig.js';
import { waitFor } from '../../helpers/wait.js';

const CM = { group: '', resource: 'configmaps' };
const KIND = FEDERATED_KINDS.find((k) => k.kind === 'ConfigMap')!;

/**
 * A member's cache of managed copies with the controller's own writes laid over it, against one
 * emulated member API server (no controller: nothing else writes to it). Our write must stand in
 * for the copy only until the watch has caught up with it, a deletion included.
 */
describe('member copies: our writes over the informer cache', () => {
  let store: ClusterStore;
  let server: ApiServer;
  let client: KubeRest;
  let copies: MemberCopies;

  beforeAll(async () => {
    store = new ClusterStore();
    server = await startApiServer({ store, name: 'member' });
    client = await KubeRest.fromKubeconfigText(renderKubeconfig([{ name: 'member', server: server.url }], 'member'), 'member');
    // A clock that never moves: the overlay cannot lapse by age while the test waits.
    copies = new MemberCopies(client, '/api/v1/configmaps', () => {}, () => {}, () => 0);
    copies.start();
    await waitFor(() => copies.synced(), { what: 'the member listed' });
  });

  afterAll(async () => {
    copies?.stop();
    await client?.close();
    await server?.close();
  });

  it('lets a deletion in the member after our write win over the write, and an update of the deleted copy says it is gone', async () => {
    const writes = new MemberWrites(client, KIND, 1_000);
    const desired: KObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'overlaid', namespace: 'default', labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } }, data: { v: '1' } };
    const result = await writes.create(desired);
    if (!('created' in result)) throw new Error('expected a new copy');
    copies.wrote('default/overlaid', result.created);
    expect(copies.get('default/overlaid')?.metadata.resourceVersion).toBe(result.created.metadata.resourceVersion);
    // Deleted in the member before any reconcile looked at the copy again.
    await waitFor(() => copies.keys().includes('default/overlaid'), { what: 'our copy in the cache' });
    store.delete(CM, 'default', 'overlaid');
    await waitFor(() => !copies.keys().includes('default/overlaid'), { what: 'the deletion in the cache' });
    expect(copies.get('default/overlaid')).toBeUndefined();
    expect(copies.holds('default/overlaid')).toBe(false);
    // A reconcile that still held the old copy: the member's 404 is an answer, not a failure.
    expect(await writes.update({ ...desired, data: { v: '2' } }, result.created)).toBeUndefined();
  });

  it('still stands in for a write the watch has not delivered', async () => {
    copies.stop(); // the cache keeps what it had; the watch delivers nothing more
    const created = await client.call<KObject>('POST', '/api/v1/namespaces/default/configmaps', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pending', namespace: 'default', labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } }, data: { v: '1' } },
    });
    copies.wrote('default/pending', created);
    expect(copies.get('default/pending')?.data).toEqual({ v: '1' });
  });
});
