import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, makeInformer, type Informer, type ObjectCache, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../src/sandbox/apiserver/server.js';
import { ClusterStore } from '../../../src/sandbox/apiserver/store.js';
import { renderKubeconfig } from '../../../src/sandbox/kubeconfig.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

const CM = { group: '', resource: 'configmaps' };
const cm = (name: string, value: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { value } });

describe('@kubernetes/client-node informer against the emulated API server', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let store: ClusterStore;
  let server: ApiServer;
  let informer: Informer<V1ConfigMap> & ObjectCache<V1ConfigMap>;
  const seen: string[] = [];
  const errors: unknown[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    store = new ClusterStore();
    server = await startApiServer({ store, name: 'informer' });
    const kubeconfig = join(dir.path, 'kubeconfig');
    await writeFile(kubeconfig, renderKubeconfig([{ name: 'informer', server: server.url }], 'informer'));
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const api = kc.makeApiClient(CoreV1Api);
    informer = makeInformer(kc, '/api/v1/namespaces/default/configmaps', () => api.listNamespacedConfigMap({ namespace: 'default' }));
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}=${o.data?.value}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name}=${o.data?.value}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    informer.on('error', (err) => errors.push(err));
    await informer.start();
  });

  afterAll(async () => {
    await informer?.stop();
    await server?.close();
    await dir?.remove();
  });

  const cached = () => informer.list('default').map((o) => `${o.metadata?.name}=${o.data?.value}`).sort();

  it('sees create, update and delete', async () => {
    store.create(CM, cm('a', '1'));
    await waitFor(() => seen.includes('add a=1'), { what: 'add' });
    store.update(CM, { ...store.get(CM, 'default', 'a')!, data: { value: '2' } });
    await waitFor(() => seen.includes('update a=2'), { what: 'update' });
    store.create(CM, cm('b', '1'));
    store.delete(CM, 'default', 'b');
    await waitFor(() => seen.includes('delete b'), { what: 'delete' });
    expect(cached()).toEqual(['a=2']);
  });

  it('relists after a forced 410 and converges on what it missed', async () => {
    // The watch ends; changes happen; history is compacted, so resuming gets 410 Gone.
    server.closeWatches();
    store.create(CM, cm('c', '1'));
    store.delete(CM, 'default', 'a');
    store.compact();
    await waitFor(() => JSON.stringify(cached()) === JSON.stringify(['c=1']), { what: 'relist after 410', timeoutMs: 10_000 });
    expect(seen).toContain('delete a');
  });

  it('survives a server restart once restarted by its owner, catching up on the gap', async () => {
    const before = errors.length;
    await server.setAvailability('refuse');
    store.create(CM, cm('d', '1'));
    await waitFor(() => errors.length > before, { what: 'informer error while the server is down' });
    await server.setAvailability('up');
    // client-node 1.x stops on a network error; its owner starts it again (as our controller does).
    await waitFor(async () => {
      try {
        await informer.start();
        return true;
      } catch {
        return false;
      }
    }, { what: 'informer restart' });
    await waitFor(() => cached().includes('d=1'), { what: 'catch-up after restart' });
    store.update(CM, { ...store.get(CM, 'default', 'd')!, data: { value: '2' } });
    await waitFor(() => cached().includes('d=2'), { what: 'live again after restart' });
  });
});
