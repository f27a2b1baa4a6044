import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { AlreadyExistsError, ConflictError, InvalidObjectsError, NotFoundError } from '../../src/k8s/errors.js';
import { parseManifest } from '../../src/k8s/manifest.js';
import { ObjectStore } from '../../src/k8s/object-store.js';
import type { CiliumEndpoint, Namespace, Pod, Service } from '../../src/k8s/types.js';
import { TestEtcd } from '../harness/etcd.js';

function pod(name: string, labels: Record<string, string> = {}, extra: Partial<Pod> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels },
    spec: { nodeName: 'worker-a', containers: [{ name: 'main', image: 'nginx' }] },
    ...extra,
  };
}

function ns(name: string): Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

async function revision(client: Etcd3): Promise<number> {
  const res = await client.kv.range({ key: Buffer.from('\0'), limit: 1 });
  return Number(res.header.revision);
}

async function modRevision(client: Etcd3, key: string): Promise<string | undefined> {
  const res = await client.kv.range({ key: Buffer.from(key) });
  return res.kvs[0]?.mod_revision;
}

describe('ObjectStore', () => {
  let etcd: TestEtcd;
  let client: Etcd3;
  let store: ObjectStore;
  let prefixN = 0;
  /** Each test gets its own registry prefix so tests do not see each other's objects. */
  const freshStore = (): ObjectStore => new ObjectStore(client, { prefix: `/t${++prefixN}/registry/` });

  before(async () => {
    etcd = await TestEtcd.start();
    client = await etcd.client();
    store = freshStore();
  });
  after(async () => {
    await etcd.stop();
  });

  it('creates with uid, creationTimestamp and generation; resourceVersion is the mod revision', async () => {
    const created = await store.create(pod('web', { app: 'web' }));
    assert.match(created.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.match(created.metadata.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(created.metadata.generation, 1);
    const key = store.keyOf('Pod', 'shop', 'web');
    assert.equal(key, `/t1/registry/core/pods/shop/web`);
    assert.equal(created.metadata.resourceVersion, await modRevision(client, key));
    const raw = JSON.parse((await client.get(key).string()) ?? '{}') as Pod;
    assert.equal(raw.metadata.resourceVersion, undefined, 'resourceVersion is never stored');
    assert.deepEqual(await store.get('Pod', 'shop', 'web'), created);
    assert.equal(await store.get('Pod', 'shop', 'nope'), undefined);
    await assert.rejects(store.create(pod('web')), AlreadyExistsError);
  });

  it('ignores a resourceVersion stored in the JSON', async () => {
    const s = freshStore();
    const key = s.keyOf('Namespace', undefined, 'x');
    await client.put(key).value(JSON.stringify({ ...ns('x'), metadata: { name: 'x', resourceVersion: '999999' } }));
    const got = await s.get('Namespace', undefined, 'x');
    assert.equal(got?.metadata.resourceVersion, await modRevision(client, key));
  });

  it('lists by namespace and label selector at one revision, skipping invalid values', async () => {
    const s = freshStore();
    await s.create(pod('a', { app: 'web', tier: 'front' }));
    await s.create(pod('b', { app: 'db' }));
    await s.create({
      ...pod('c', { app: 'web' }),
      metadata: { name: 'c', namespace: 'other', labels: { app: 'web' } },
    });
    await client.put(s.keyOf('Pod', 'shop', 'broken')).value('{not json');
    const all = await s.list('Pod');
    assert.deepEqual(all.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(), [
      'other/c',
      'shop/a',
      'shop/b',
    ]);
    assert.equal(all.resourceVersion, String(await revision(client)));
    const shop = await s.list('Pod', { namespace: 'shop' });
    assert.deepEqual(shop.items.map((p) => p.metadata.name).sort(), ['a', 'b']);
    const web = await s.list('Pod', { labelSelector: 'app=web,tier!=back' });
    assert.deepEqual(web.items.map((p) => p.metadata.name).sort(), ['a', 'c']);
    const structured = await s.list('Pod', {
      labelSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] },
    });
    assert.deepEqual(
      structured.items.map((p) => p.metadata.name),
      ['a'],
    );
  });

  it('updates with optimistic concurrency, keeping uid and creationTimestamp', async () => {
    const s = freshStore();
    const v1 = await s.create(pod('web', { app: 'web' }));
    const v2 = await s.update({ ...v1, metadata: { ...v1.metadata, labels: { app: 'web', v: '2' } } });
    assert.equal(v2.metadata.uid, v1.metadata.uid);
    assert.equal(v2.metadata.creationTimestamp, v1.metadata.creationTimestamp);
    assert.equal(v2.metadata.generation, 1, 'a label change does not bump generation');
    assert.ok(Number(v2.metadata.resourceVersion) > Number(v1.metadata.resourceVersion));
    // v1 is stale now.
    await assert.rejects(
      s.update({ ...v1, spec: { nodeName: 'worker-b' } }),
      (e: unknown) =>
        e instanceof ConflictError &&
        e.expectedResourceVersion === v1.metadata.resourceVersion &&
        e.actualResourceVersion === v2.metadata.resourceVersion,
    );
    const v3 = await s.update({ ...v2, spec: { nodeName: 'worker-b' } });
    assert.equal(v3.metadata.generation, 2, 'a spec change bumps generation');
    // Without a resourceVersion the update applies to whatever is current; a forged uid is ignored.
    const { resourceVersion: _rv, ...md } = v1.metadata;
    const v4 = await s.update({ ...v1, metadata: { ...md, uid: 'forged' } });
    assert.equal(v4.metadata.uid, v1.metadata.uid);
    assert.equal((await s.get('Pod', 'shop', 'web'))?.spec?.nodeName, 'worker-a');
    await assert.rejects(s.update(pod('missing')), NotFoundError);
  });

  it('keeps the status when an update or apply carries none; updateStatus changes only status', async () => {
    const s = freshStore();
    await s.create(pod('web', {}, { status: { podIP: '10.0.0.5', phase: 'Running' } }));
    const applied = await s.apply(pod('web', { v: '2' }));
    assert.equal(applied.action, 'configured');
    assert.deepEqual(applied.object.status, { podIP: '10.0.0.5', phase: 'Running' });
    const st = await s.updateStatus(pod('web', { ignored: 'yes' }, { status: { podIP: '10.0.0.6' } }));
    assert.deepEqual(st.status, { podIP: '10.0.0.6' });
    assert.deepEqual(st.metadata.labels, { v: '2' }, 'updateStatus leaves metadata alone');
  });

  it('apply creates, then writes nothing when unchanged, then configures', async () => {
    const s = freshStore();
    const svc: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'cart', namespace: 'shop' },
      spec: { selector: { app: 'cart' }, ports: [{ port: 80 }] },
    };
    const first = await s.apply(svc);
    assert.equal(first.action, 'created');
    const rev = await revision(client);
    const second = await s.apply(svc);
    assert.equal(second.action, 'unchanged');
    assert.equal(await revision(client), rev, 'an unchanged apply makes no write');
    assert.deepEqual(second.object, first.object);
    // Key order does not count as a change.
    const reordered = {
      spec: { ports: [{ port: 80 }], selector: { app: 'cart' } },
      metadata: svc.metadata,
      kind: 'Service',
      apiVersion: 'v1',
    } as Service;
    assert.equal((await s.apply(reordered)).action, 'unchanged');
    assert.equal(await revision(client), rev);
    const third = await s.apply({ ...svc, spec: { ...svc.spec, ports: [{ port: 81 }] } });
    assert.equal(third.action, 'configured');
    assert.equal(third.object.metadata.uid, first.object.metadata.uid);
    assert.equal(third.object.metadata.generation, 2);
    assert.equal(third.object.metadata.resourceVersion, String(rev + 1));
  });

  it('applies a manifest all-or-nothing: one invalid document writes nothing', async () => {
    const s = freshStore();
    const text = [
      'apiVersion: v1',
      'kind: Namespace',
      'metadata: {name: shop}',
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata: {name: cart, namespace: shop}',
      'spec:',
      '  ports: [{port: 80}]',
      '---',
      'apiVersion: v1',
      'kind: Pod',
      'metadata: {name: web, namespace: shop}',
      'status: {podIP: 10.0.0.300}',
    ].join('\n');
    const docs = parseManifest(text, 'shop.yaml');
    const rev = await revision(client);
    await assert.rejects(
      s.applyAll(
        docs.map((d) => d.object),
        { locations: docs.map((d) => d.location) },
      ),
      (e: unknown) =>
        e instanceof InvalidObjectsError &&
        e.errors.length === 1 &&
        e.message ===
          'shop.yaml: document 3 (line 11): Pod shop/web is invalid: status.podIP: "10.0.0.300" is not a valid IP address',
    );
    assert.equal(await revision(client), rev, 'nothing was written');
    assert.equal((await s.list('Namespace')).items.length, 0);

    // Fixed, the whole file lands in one transaction: one revision for all.
    const fixed = parseManifest(text.replace('10.0.0.300', '10.0.0.30'));
    const results = await s.applyAll(fixed.map((d) => d.object));
    assert.deepEqual(
      results.map((r) => r.action),
      ['created', 'created', 'created'],
    );
    assert.equal(new Set(results.map((r) => r.object.metadata.resourceVersion)).size, 1);
    assert.equal(await revision(client), rev + 1);
    // Re-applying is a no-op; changing one object writes only that one.
    const again = await s.applyAll(fixed.map((d) => d.object));
    assert.deepEqual(
      again.map((r) => r.action),
      ['unchanged', 'unchanged', 'unchanged'],
    );
    assert.equal(await revision(client), rev + 1);
  });

  it('rejects duplicates within one manifest and names both places', async () => {
    const s = freshStore();
    await assert.rejects(
      s.applyAll([ns('a'), ns('b'), ns('a')]),
      (e: unknown) =>
        e instanceof InvalidObjectsError &&
        e.message.includes('object 3: Namespace a is invalid: appears twice (also at object 1)'),
    );
  });

  it('applies more objects than one etcd transaction holds', async () => {
    const s = freshStore();
    const many = Array.from({ length: 300 }, (_, i) => ns(`n${i}`));
    const res = await s.applyAll(many);
    assert.equal(res.length, 300);
    assert.ok(res.every((r) => r.action === 'created'));
    assert.equal((await s.list('Namespace')).items.length, 300);
    assert.ok((await s.applyAll(many)).every((r) => r.action === 'unchanged'));
  });

  it('replaces a stored value that no longer decodes', async () => {
    const s = freshStore();
    await client.put(s.keyOf('Namespace', undefined, 'x')).value('garbage');
    const res = await s.apply(ns('x'));
    assert.equal(res.action, 'configured');
    assert.ok(res.object.metadata.uid);
    assert.equal((await s.get('Namespace', undefined, 'x'))?.metadata.name, 'x');
  });

  it('deletes, optionally only a given version, returning the object as it was', async () => {
    const s = freshStore();
    const cep: CiliumEndpoint = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: { name: 'web', namespace: 'shop' },
      status: { id: 1, networking: { addressing: [{ ipv4: '10.0.0.1' }] } },
    };
    const v1 = await s.create(cep);
    const v2 = await s.update({ ...v1, status: { ...v1.status, id: 2 } });
    await assert.rejects(
      s.delete('CiliumEndpoint', 'shop', 'web', { resourceVersion: v1.metadata.resourceVersion! }),
      ConflictError,
    );
    const gone = await s.delete('CiliumEndpoint', 'shop', 'web', { resourceVersion: v2.metadata.resourceVersion! });
    assert.equal(gone?.status?.id, 2);
    assert.equal(await s.get('CiliumEndpoint', 'shop', 'web'), undefined);
    assert.equal(await s.delete('CiliumEndpoint', 'shop', 'web'), undefined);
    await s.create(cep);
    assert.equal((await s.delete('CiliumEndpoint', 'shop', 'web'))?.metadata.name, 'web');

    await s.applyAll([ns('a'), ns('b')]);
    assert.deepEqual(await s.deleteAll([ns('a'), ns('b'), ns('c')]), [true, true, false]);
    assert.equal((await s.list('Namespace')).items.length, 0);
  });

  it('lets concurrent unconditional updates all land, last writer winning', async () => {
    const s = freshStore();
    await s.create(pod('web'));
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => s.update(pod('web', { writer: String(i) }))),
    );
    const revs = results.map((r) => Number(r.metadata.resourceVersion));
    assert.equal(new Set(revs).size, 10, 'every update made its own write');
    const last = results[revs.indexOf(Math.max(...revs))]!;
    assert.deepEqual(await s.get('Pod', 'shop', 'web'), last);
  });
});
