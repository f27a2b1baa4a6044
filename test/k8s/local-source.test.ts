import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { LocalClusterSource } from '../../src/k8s/local-source.js';
import { ObjectStore } from '../../src/k8s/object-store.js';
import type { Informer, InformerHandler } from '../../src/k8s/source.js';
import type { K8sObject, Pod } from '../../src/k8s/types.js';
import { TestEtcd } from '../harness/etcd.js';
import { TcpProxy } from './tcp-proxy.js';

const WAIT_LIMIT_MS = 30_000;

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function pod(name: string, labels: Record<string, string> = {}, namespace = 'shop'): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels }, spec: { nodeName: 'worker-a' } };
}

function ref(o: K8sObject): string {
  return `${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

/** Records events as `add shop/a 12`, `update shop/a 12->15`, `delete shop/a 15`. */
function recorder<T extends K8sObject>(): InformerHandler<T> & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    onAdd: (o) => {
      events.push(`add ${ref(o)} ${o.metadata.resourceVersion ?? ''}`);
    },
    onUpdate: (o, old) => {
      events.push(`update ${ref(o)} ${old.metadata.resourceVersion ?? ''}->${o.metadata.resourceVersion ?? ''}`);
    },
    onDelete: (o) => {
      events.push(`delete ${ref(o)} ${o.metadata.resourceVersion ?? ''}`);
    },
  };
}

function names<T extends K8sObject>(inf: Informer<T>): string[] {
  return inf.list().map(ref).sort();
}

describe('LocalClusterSource', () => {
  let etcd: TestEtcd;
  let writer: Etcd3;
  let n = 0;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    etcd = await TestEtcd.start();
    writer = await etcd.client();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await etcd.stop();
  });

  /** A store and a source over a fresh registry prefix; the source reads through `client`. */
  function setup(client: Etcd3): { store: ObjectStore; source: LocalClusterSource; prefix: string } {
    const prefix = `/t${++n}/registry/`;
    const store = new ObjectStore(writer, { prefix });
    const source = new LocalClusterSource(client, { prefix, listWatcher: { backoff: { maxMs: 500 } } });
    cleanups.push(() => source.close());
    return { store, source, prefix };
  }

  /** kill -9 and start again; the test's writer is replaced (etcd3's circuit breaker has opened on the old one). */
  async function crashEtcd(): Promise<void> {
    await etcd.kill();
    await etcd.start();
    writer = await etcd.client();
  }

  it('delivers the initial list, then adds, updates and deletes with resourceVersion = mod revision', async () => {
    const { store, source } = setup(writer);
    const a = await store.create(pod('a', { app: 'web' }));
    const b = await store.create(pod('b', { app: 'db' }));
    const inf = source.informer('Pod');
    const rec = recorder<Pod>();
    inf.on(rec);
    assert.equal(inf.hasSynced(), false);
    inf.start();
    await inf.synced;
    assert.equal(inf.hasSynced(), true);
    assert.deepEqual(rec.events.sort(), [
      `add shop/a ${a.metadata.resourceVersion!}`,
      `add shop/b ${b.metadata.resourceVersion!}`,
    ]);
    assert.deepEqual(inf.get('shop', 'a'), a);
    rec.events.length = 0;

    const a2 = await store.update({ ...a, spec: { nodeName: 'worker-b' } });
    const c = await store.create(pod('c'));
    await store.apply(pod('c')); // unchanged: no write, no event
    await store.delete('Pod', 'shop', 'b');
    await waitFor('three events', () => rec.events.length >= 3);
    await sleep(100); // would expose a spurious fourth event
    assert.deepEqual(rec.events, [
      `update shop/a ${a.metadata.resourceVersion!}->${a2.metadata.resourceVersion!}`,
      `add shop/c ${c.metadata.resourceVersion!}`,
      `delete shop/b ${b.metadata.resourceVersion!}`,
    ]);
    const raw = await writer.kv.range({ key: Buffer.from(store.keyOf('Pod', 'shop', 'a')) });
    assert.equal(inf.get('shop', 'a')?.metadata.resourceVersion, raw.kvs[0]?.mod_revision);
    assert.deepEqual(names(inf), ['shop/a', 'shop/c']);

    // A handler registered late first gets the current objects.
    const late = recorder<Pod>();
    inf.on(late);
    await waitFor('late replay', () => late.events.length >= 2);
    assert.deepEqual(late.events.map((e) => e.split(' ').slice(0, 2).join(' ')).sort(), ['add shop/a', 'add shop/c']);
  });

  it('without a cache: delivers every change to onAdd and deletes as a stub, and keeps no object', async () => {
    const { store, source } = setup(writer);
    const a = await store.create(pod('a', { app: 'web' }));
    const inf = source.informer('Pod', { cache: false });
    const got: string[] = [];
    inf.on({
      onAdd: (o) => {
        got.push(`add ${ref(o)} ${o.spec?.nodeName ?? ''} ${o.metadata.resourceVersion ?? ''}`);
      },
      onUpdate: () => {
        got.push('update');
      },
      onDelete: (o) => {
        got.push(`delete ${ref(o)} ${o.kind} ${JSON.stringify(Object.keys(o.metadata))}`);
      },
    });
    inf.start();
    await inf.synced;
    const a2 = await store.update({ ...a, spec: { nodeName: 'worker-b' } });
    await store.apply(pod('a', { app: 'web' }, 'shop')); // back to worker-a: a change
    await store.delete('Pod', 'shop', 'a');
    await waitFor('four events', () => got.length >= 4);
    await sleep(100); // would expose a spurious event
    assert.equal(got.length, 4, got.join('\n'));
    assert.equal(got[0], `add shop/a worker-a ${a.metadata.resourceVersion!}`);
    assert.equal(got[1], `add shop/a worker-b ${a2.metadata.resourceVersion!}`);
    assert.match(got[2]!, /^add shop\/a worker-a \d+$/);
    assert.equal(got[3], 'delete shop/a Pod ["name","namespace"]');
    assert.throws(() => inf.list(), /cache: false/);
    assert.throws(() => inf.get('shop', 'a'), /cache: false/);
  });

  it('honours namespace and label selector, deleting objects that stop matching', async () => {
    const { store, source } = setup(writer);
    await store.create(pod('a', { app: 'web' }));
    await store.create(pod('b', { app: 'web' }, 'other'));
    await store.create(pod('c', { app: 'db' }));
    const inf = source.informer('Pod', { namespace: 'shop', labelSelector: 'app=web' });
    const rec = recorder<Pod>();
    inf.on(rec);
    inf.start();
    await inf.synced;
    assert.deepEqual(names(inf), ['shop/a']);
    await store.apply(pod('a', { app: 'db' }));
    await store.apply(pod('c', { app: 'web' }));
    await waitFor('selector events', () => rec.events.length >= 3);
    assert.deepEqual(
      rec.events.map((e) => e.split(' ').slice(0, 2).join(' ')),
      ['add shop/a', 'delete shop/a', 'add shop/c'],
    );
    assert.throws(() => source.informer('CiliumNode', { namespace: 'x' }), /cluster-scoped/);
  });

  it('ignores invalid stored values, dropping what they replaced', async () => {
    const { store, source } = setup(writer);
    await store.create(pod('a'));
    const inf = source.informer('Pod');
    const rec = recorder<Pod>();
    inf.on(rec);
    inf.start();
    await inf.synced;
    await writer
      .put(store.keyOf('Pod', 'shop', 'a'))
      .value(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'zzz', namespace: 'shop' } }));
    await writer.put(store.keyOf('Pod', 'shop', 'b')).value('not json');
    await store.create(pod('c'));
    await waitFor('events', () => rec.events.length >= 3);
    assert.deepEqual(
      rec.events.map((e) => e.split(' ').slice(0, 2).join(' ')),
      ['add shop/a', 'delete shop/a', 'add shop/c'],
    );
  });

  it('resumes after etcd is killed (-9) and restarted', async () => {
    const { store: before, source, prefix } = setup(writer);
    await before.create(pod('a'));
    const inf = source.informer('Pod');
    const rec = recorder<Pod>();
    inf.on(rec);
    inf.start();
    await inf.synced;
    await crashEtcd();
    const store = new ObjectStore(writer, { prefix });
    const b = await store.create(pod('b'));
    await store.delete('Pod', 'shop', 'a');
    await waitFor('events after restart', () => rec.events.length >= 3);
    await sleep(100);
    assert.deepEqual(
      rec.events.map((e) => e.split(' ').slice(0, 2).join(' ')),
      ['add shop/a', 'add shop/b', 'delete shop/a'],
    );
    assert.deepEqual(inf.get('shop', 'b'), b);
  });

  it('converges after a partition spanning changes, a compaction and an etcd crash', async () => {
    const proxy = await TcpProxy.start(etcd.endpoint);
    const partitioned = new Etcd3({ hosts: [proxy.url], dialTimeout: 2000 });
    cleanups.push(async () => {
      partitioned.close();
      await proxy.stop();
    });
    const { store, source } = setup(partitioned);
    await store.create(pod('gone'));
    const changed = await store.create(pod('changed'));
    const same = await store.create(pod('same'));
    const cluster = source.informer('Namespace');
    const inf = source.informer('Pod');
    const rec = recorder<Pod>();
    inf.on(rec);
    inf.start();
    cluster.start();
    await Promise.all([inf.synced, cluster.synced]);
    rec.events.length = 0;

    proxy.cut();
    await store.delete('Pod', 'shop', 'gone');
    const changed2 = await store.update({ ...changed, metadata: { ...changed.metadata, labels: { v: '2' } } });
    const added = await store.create(pod('added'));
    await store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    await etcd.compact();
    await crashEtcd();
    proxy.restore();

    await waitFor('convergence', () => rec.events.length >= 3 && names(cluster).length === 1);
    await sleep(200);
    assert.deepEqual(rec.events.sort(), [
      `add shop/added ${added.metadata.resourceVersion!}`,
      `delete shop/gone ${(Number(changed.metadata.resourceVersion) - 1).toString()}`,
      `update shop/changed ${changed.metadata.resourceVersion!}->${changed2.metadata.resourceVersion!}`,
    ]);
    assert.deepEqual(names(inf), ['shop/added', 'shop/changed', 'shop/same']);
    assert.deepEqual(inf.get('shop', 'same'), same);
    assert.deepEqual(names(cluster), ['shop']);
  });

  it('stops calling handlers once stopped, and close() stops every informer', async () => {
    const { store, source } = setup(writer);
    const inf = source.informer('Pod');
    const rec = recorder<Pod>();
    inf.on(rec);
    inf.start();
    await inf.synced;
    await source.close();
    await store.create(pod('late'));
    await sleep(200);
    assert.deepEqual(rec.events, []);
    assert.throws(() => source.informer('Pod'), /closed/);
  });
});
