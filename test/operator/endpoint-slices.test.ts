import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EndpointSlice } from '../../src/k8s/types.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { TestEtcd } from '../harness/etcd.js';
import { eventually, Fixture, freshPrefix, pod, service } from './helpers.js';

const MANAGED = { 'endpointslice.kubernetes.io/managed-by': 'cmesh-operator' };

describe('operator: EndpointSlices', () => {
  let etcd: TestEtcd;
  let f: Fixture;
  before(async () => {
    etcd = await TestEtcd.start();
    f = new Fixture(createEtcdClient({ endpoints: [etcd.endpoint] }), freshPrefix());
    await f.startOperator();
  });
  after(async () => {
    await f.stopAll();
    await etcd.stop();
  });

  const slicesOf = async (ns: string, svc: string): Promise<EndpointSlice[]> =>
    (await f.store.list('EndpointSlice', { namespace: ns, labelSelector: `kubernetes.io/service-name=${svc}` })).items;

  it('follows the pods its selector matches, resolving named target ports per pod', async () => {
    const webPod = (name: string, port: number) =>
      pod(
        'shop',
        name,
        { app: 'web' },
        { spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: port }] }] } },
      );
    await f.store.applyAll([
      service('shop', 'web', {
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 'http' },
          { name: 'metrics', port: 9100, targetPort: 9100, protocol: 'TCP' },
        ],
      }),
      webPod('web-1', 8080),
      webPod('web-2', 8080),
      pod('shop', 'db-1', { app: 'db' }),
    ]);
    const slice = await eventually(async () => {
      const s = await f.store.get('EndpointSlice', 'shop', 'web-cmesh');
      assert.equal(s?.endpoints.length, 2);
      return s;
    });
    assert.deepEqual(slice.metadata.labels, { 'kubernetes.io/service-name': 'web', ...MANAGED });
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(slice.ports, [
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'metrics', port: 9100, protocol: 'TCP' },
    ]);
    const p1 = (await f.store.get('Pod', 'shop', 'web-1'))!;
    assert.deepEqual(
      slice.endpoints.find((e) => e.targetRef?.name === 'web-1'),
      {
        addresses: [p1.status!.podIP!],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: p1.spec!.nodeName!,
        targetRef: { kind: 'Pod', namespace: 'shop', name: 'web-1', uid: p1.metadata.uid },
      },
    );
    // A pod whose named port resolves differently lands in a second slice with its own ports.
    await f.store.create(webPod('web-3', 8443));
    await eventually(async () => {
      const all = await slicesOf('shop', 'web');
      assert.equal(all.length, 2);
      const other = all.find((s) => s.metadata.name !== 'web-cmesh')!;
      assert.deepEqual(
        other.endpoints.map((e) => e.targetRef?.name),
        ['web-3'],
      );
      assert.equal(other.ports?.[0]?.port, 8443);
    });
    // Pods leave: by deletion and by label change.
    await f.store.delete('Pod', 'shop', 'web-3');
    const p2 = (await f.store.get('Pod', 'shop', 'web-2'))!;
    await f.store.update({ ...p2, metadata: { ...p2.metadata, labels: { app: 'other' } } });
    await eventually(async () => {
      const all = await slicesOf('shop', 'web');
      assert.deepEqual(
        all.map((s) => s.metadata.name),
        ['web-cmesh'],
      );
      assert.deepEqual(
        all[0]!.endpoints.map((e) => e.targetRef?.name),
        ['web-1'],
      );
    });
  });

  it('deletes the slice when the service loses its selector or goes, and leaves unmanaged slices alone', async () => {
    await f.store.applyAll([
      service('lab', 'api', { selector: { app: 'api' }, ports: [{ port: 80 }] }),
      service('lab', 'gone', { selector: { app: 'api' }, ports: [{ port: 80 }] }),
      pod('lab', 'api-1', { app: 'api' }),
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'api-manual', namespace: 'lab', labels: { 'kubernetes.io/service-name': 'api' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['192.168.9.9'] }],
      },
    ]);
    await eventually(async () => {
      const s = await f.store.get('EndpointSlice', 'lab', 'api-cmesh');
      assert.equal(s?.endpoints.length, 1);
      assert.equal(s.ports?.[0]?.port, 80, 'no targetPort: the service port');
      assert.equal((await f.store.get('EndpointSlice', 'lab', 'gone-cmesh'))?.endpoints.length, 1);
    });
    await f.store.apply(service('lab', 'api', { ports: [{ port: 80 }] }));
    await f.store.delete('Service', 'lab', 'gone');
    await eventually(async () => {
      assert.equal(await f.store.get('EndpointSlice', 'lab', 'api-cmesh'), undefined);
      assert.equal(await f.store.get('EndpointSlice', 'lab', 'gone-cmesh'), undefined);
    });
    assert.ok(
      await f.store.get('EndpointSlice', 'lab', 'api-manual'),
      "await f.store.get('EndpointSlice', 'lab', 'api-manual')",
    );
    // A managed slice deleted by hand comes back.
    await f.store.apply(service('lab', 'api', { selector: { app: 'api' }, ports: [{ port: 80 }] }));
    await eventually(async () => {
      assert.ok(
        await f.store.get('EndpointSlice', 'lab', 'api-cmesh'),
        "await f.store.get('EndpointSlice', 'lab', 'api-cmesh')",
      );
    });
    await f.store.delete('EndpointSlice', 'lab', 'api-cmesh');
    await eventually(async () => {
      assert.ok(
        await f.store.get('EndpointSlice', 'lab', 'api-cmesh'),
        "await f.store.get('EndpointSlice', 'lab', 'api-cmesh')",
      );
    });
  });
});
