import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from '../../src/k8s/types.js';
import { CLUSTER, eventually, Fixture, pod, service, useSuiteEtcd } from './helpers.js';

describe('operator: restarts', () => {
  const suite = useSuiteEtcd();
  const fixture = suite.fixture;

  const settled = async (f: Fixture, pods: number): Promise<Map<string, Pod>> =>
    eventually(async () => {
      const { items } = await f.store.list('Pod');
      assert.equal(items.length, pods);
      for (const p of items) assert.ok(p.status?.podIP, `${p.metadata.name} has an IP`);
      const ceps = await f.store.list('CiliumEndpoint');
      assert.equal(ceps.items.length, pods);
      for (const c of ceps.items) {
        const p = items.find((x) => x.metadata.name === c.metadata.name)!;
        assert.equal(c.status?.networking?.addressing[0]?.ipv4, p.status?.podIP);
      }
      return new Map(items.map((p) => [p.metadata.name, p]));
    });

  it('converges after a restart: changes made while it was down are picked up, nothing else is rewritten', async () => {
    const f = fixture();
    const op = await f.startOperator();
    await f.store.applyAll([
      pod('ns', 'a', { app: 'a' }),
      pod('ns', 'b', { app: 'a' }),
      pod('ns', 'c', { app: 'c' }),
      service('ns', 'svc', { selector: { app: 'a' }, ports: [{ port: 80 }] }),
    ]);
    const before = await settled(f, 3);
    const cepsBefore = new Map((await f.store.list('CiliumEndpoint')).items.map((c) => [c.metadata.name, c]));
    const idA = cepsBefore.get('a')!.status!.identity!.id;
    const idC = cepsBefore.get('c')!.status!.identity!.id;
    await op.idle();
    await op.stop();

    // While the operator is down: a pod goes, one comes (with the labels of an existing identity), one changes.
    await f.store.delete('Pod', 'ns', 'b');
    await f.store.create(pod('ns', 'd', { app: 'c' }));
    const c = before.get('c')!;
    await f.store.update({ ...c, metadata: { ...c.metadata, labels: { app: 'a' } } });
    const revBefore = (await f.store.list('Pod')).resourceVersion;

    const op2 = await f.startOperator();
    const after = await settled(f, 3);
    assert.equal(await f.store.get('CiliumEndpoint', 'ns', 'b'), undefined);
    const ceps = new Map((await f.store.list('CiliumEndpoint')).items.map((x) => [x.metadata.name, x]));
    assert.equal(ceps.get('c')?.status?.identity?.id, idA, 'existing identity reused for the changed pod');
    assert.equal(ceps.get('d')?.status?.identity?.id, idC, 'existing identity reused after restart');
    assert.equal(ceps.get('a')?.status?.id, cepsBefore.get('a')?.status?.id, 'endpoint IDs survive restarts');
    // Untouched pods were not rewritten; addresses are unique.
    assert.equal(after.get('a')?.metadata.resourceVersion, before.get('a')?.metadata.resourceVersion);
    assert.ok(
      Number(after.get('d')?.metadata.resourceVersion) > Number(revBefore),
      "Number(after.get('d')?.metadata.resourceVersion) > Number(revBefore)",
    );
    const ips = [...after.values()].map((p) => p.status!.podIP!);
    assert.equal(new Set(ips).size, ips.length);
    await eventually(async () => {
      const slice = await f.store.get('EndpointSlice', 'ns', 'svc-cmesh');
      assert.deepEqual(
        slice?.endpoints.map((e) => e.targetRef?.name),
        ['a', 'c'],
      );
    });
    await op2.idle();
  });

  it('recovers from a kill -9 of the state etcd', async () => {
    const f = fixture();
    const op = await f.startOperator({ retryMaxMs: 300 });
    await f.store.create(pod('ns', 'before', { app: 'x' }));
    await settled(f, 1);
    await suite.etcd().kill();
    await new Promise((r) => setTimeout(r, 300));
    await suite.etcd().start();
    await eventually(() => f.store.create(pod('ns', 'after', { app: 'y' })));
    const pods = await settled(f, 2);
    assert.notEqual(pods.get('before')?.status?.podIP, pods.get('after')?.status?.podIP);
    await op.idle();
  });

  it('settles a few thousand pods within seconds', async () => {
    const f = fixture({ ...CLUSTER, nodes: 16 });
    const op = await f.startOperator();
    const count = 2000;
    const objs: Pod[] = [service('load', 'web', { selector: { app: 'web' }, ports: [{ port: 80 }] }) as never];
    for (let i = 0; i < count; i++) objs.push(pod('load', `p-${i}`, { app: 'web', shard: String(i % 20) }));
    const t0 = Date.now();
    await f.store.applyAll(objs);
    await eventually(async () => {
      const slices = await f.store.list('EndpointSlice', { namespace: 'load' });
      assert.equal(
        slices.items.reduce((n, s) => n + s.endpoints.length, 0),
        count,
      );
      const ceps = await f.store.list('CiliumEndpoint', { namespace: 'load' });
      assert.equal(ceps.items.length, count);
    }, 60_000);
    const elapsed = Date.now() - t0;
    const pods = (await f.store.list('Pod', { namespace: 'load' })).items;
    const ips = new Set(pods.map((p) => p.status?.podIP));
    assert.equal(ips.size, count);
    const identities = (await f.store.list('CiliumIdentity')).items;
    assert.equal(identities.length, 20);
    console.log(`${count} pods settled in ${elapsed} ms`);
    await op.idle();
  });
});
