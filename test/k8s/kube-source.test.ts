/**
 * The `kubernetes` cluster source against a real kube-apiserver (one per file; a namespace per test): list+watch,
 * selectors, cache: false, late handlers, backpressure, a kind whose CRD arrives late, an API server killed and
 * restarted, and a watch whose resourceVersion was compacted away while it was cut off.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { Etcd3 } from 'etcd3';
import { stringify } from 'yaml';
import { KubeClusterSource } from '../../src/k8s/kube-source.js';
import { KubeObjectClient } from '../../src/k8s/kube-object-client.js';
import { loadKubeconfig } from '../../src/k8s/kubeconfig.js';
import type { Informer, InformerHandler } from '../../src/k8s/source.js';
import type { CiliumNode, K8sObject, Service } from '../../src/k8s/types.js';
import { registry } from '../../src/observe/metrics.js';
import { eventually } from '../harness/eventually.js';
import { startTestControlPlane, type TestControlPlane } from '../harness/kube.js';
import { crdFor } from './kube-crds.js';
import { TcpProxy } from './tcp-proxy.js';

const WAIT_LIMIT_MS = 60_000;
/** Short retry delays: the API server comes back within seconds in these tests. */
const FAST_RETRY = { backoff: { initialMs: 50, maxMs: 500 } };

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function svc(namespace: string, name: string, labels: Record<string, string> = {}): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels },
    spec: { ports: [{ port: 80, protocol: 'TCP' }] },
  };
}

function ref(o: K8sObject): string {
  return `${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

/** Records events as `add ns/a 12`, `update ns/a 12->15`, `delete ns/a 15`. */
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

/** `add ns/a` without versions. */
const short = (events: readonly string[]): string[] => events.map((e) => e.split(' ').slice(0, 2).join(' '));

function names<T extends K8sObject>(inf: Informer<T>): string[] {
  return inf.list().map(ref).sort();
}

async function counter(name: string, labels: Record<string, string>): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (!m) return 0;
  const data = await m.get();
  const v = data.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
  return v?.value ?? 0;
}

describe('KubeClusterSource against kube-apiserver', () => {
  let cp: TestControlPlane;
  let kc: KubeConfig;
  let client: KubeObjectClient;
  let n = 0;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    cp = await startTestControlPlane({ name: 'kubesrc', apiserverOnly: true });
    kc = loadKubeconfig({ kubeconfig: cp.kubeconfig }).kubeConfig;
    // Forced: the tests apply objects that they created with create(), whose fields the same manager owns
    // through an Update operation, which conflicts with an Apply without force.
    client = new KubeObjectClient(kc, { fieldManager: 'kubesrc-test', force: true });
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await cp.stop();
  });

  /** A fresh namespace and a source over the admin's kubeconfig (or `config`). */
  async function setup(config: KubeConfig = kc): Promise<{ ns: string; source: KubeClusterSource }> {
    const ns = `t${++n}`;
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const source = new KubeClusterSource(config, FAST_RETRY);
    cleanups.push(() => source.close());
    return { ns, source };
  }

  /**
   * Creates a sentinel object and waits for the informer to deliver it: since deliveries are in order, every
   * event caused before it has been delivered by then, and a spurious one would show in the record.
   */
  async function settle(rec: { events: string[] }, ns: string): Promise<void> {
    const name = `zz-sentinel-${++n}`;
    await client.create(svc(ns, name));
    await waitFor(`sentinel ${name}`, () => rec.events.some((e) => e.startsWith(`add ${ns}/${name} `)));
    const i = rec.events.findIndex((e) => e.startsWith(`add ${ns}/${name} `));
    rec.events.splice(i, 1);
  }

  it('lists, then delivers adds, updates and deletes in order, with the API server resourceVersions', async () => {
    const { ns, source } = await setup();
    const a = await client.create(svc(ns, 'a', { app: 'web' }));
    const b = await client.create(svc(ns, 'b', { app: 'db' }));
    const inf = source.informer('Service', { namespace: ns });
    const rec = recorder<Service>();
    inf.on(rec);
    assert.equal(inf.hasSynced(), false);
    inf.start();
    inf.start(); // idempotent
    await inf.synced;
    assert.equal(inf.hasSynced(), true);
    assert.deepEqual(rec.events.sort(), [
      `add ${ns}/a ${a.metadata.resourceVersion!}`,
      `add ${ns}/b ${b.metadata.resourceVersion!}`,
    ]);
    const cached = inf.get(ns, 'a');
    assert.equal(cached?.kind, 'Service', 'list items are stamped with their kind');
    assert.equal(cached.apiVersion, 'v1');
    assert.deepEqual(cached, await client.get('Service', ns, 'a'));
    rec.events.length = 0;

    const a2 = await client.update({ ...a, metadata: { ...a.metadata, labels: { app: 'web2' } } });
    const c = (await client.apply(svc(ns, 'c'))).object;
    assert.equal((await client.apply(svc(ns, 'c'))).action, 'unchanged'); // a no-op for the API server: no event
    await client.delete('Service', ns, 'b');
    await settle(rec, ns);
    assert.deepEqual(short(rec.events), [`update ${ns}/a`, `add ${ns}/c`, `delete ${ns}/b`]);
    assert.equal(rec.events[0], `update ${ns}/a ${a.metadata.resourceVersion!}->${a2.metadata.resourceVersion!}`);
    assert.equal(rec.events[1], `add ${ns}/c ${c.metadata.resourceVersion!}`);
    assert.deepEqual(inf.get(ns, 'a'), await client.get('Service', ns, 'a'));
    assert.equal(inf.get(ns, 'b'), undefined);
  });

  it('a handler registered late first gets the cached objects, then the changes; unregistering stops it', async () => {
    const { ns, source } = await setup();
    await client.create(svc(ns, 'a'));
    await client.create(svc(ns, 'b'));
    const inf = source.informer('Service', { namespace: ns });
    const early = recorder<Service>();
    inf.on(early);
    inf.start();
    await inf.synced;
    const late = recorder<Service>();
    const off = inf.on(late);
    await waitFor('replay', () => late.events.length >= 2);
    assert.deepEqual(short(late.events).sort(), [`add ${ns}/a`, `add ${ns}/b`]);
    await client.create(svc(ns, 'c'));
    await waitFor('c', () => late.events.length >= 3);
    assert.deepEqual(short(late.events.slice(2)), [`add ${ns}/c`]);
    off();
    await client.delete('Service', ns, 'a');
    await settle(early, ns);
    assert.equal(late.events.length, 3, 'an unregistered handler gets nothing more');
    assert.deepEqual(short(early.events).slice(-2), [`add ${ns}/c`, `delete ${ns}/a`]);
  });

  it('serializes handler calls and awaits a returned promise before the next (backpressure), pausing the watch', async () => {
    const { ns, source } = await setup();
    const inf = source.informer('Service', { namespace: ns });
    const order: string[] = [];
    let inFlight = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    inf.on({
      onAdd: async (o) => {
        inFlight++;
        assert.equal(inFlight, 1, 'one call at a time');
        order.push(`start ${o.metadata.name}`);
        await gate;
        order.push(`end ${o.metadata.name}`);
        inFlight--;
      },
    });
    const source2 = new KubeClusterSource(kc, { ...FAST_RETRY, watchQueueHighWater: 2 });
    cleanups.push(() => source2.close());
    const slow = source2.informer('Service', { namespace: ns });
    const slowRec: string[] = [];
    let slowRelease!: () => void;
    const slowGate = new Promise<void>((resolve) => {
      slowRelease = resolve;
    });
    slow.on({
      onAdd: async (o) => {
        await slowGate;
        slowRec.push(o.metadata.name);
      },
    });
    const pausedBefore = await counter('cmesh_k8s_informer_watch_restarts_total', {
      kind: 'Service',
      reason: 'paused',
    });
    inf.start();
    slow.start();
    await Promise.all([inf.synced, slow.synced]);
    const want = ['s1', 's2', 's3', 's4', 's5', 's6'];
    for (const name of want) await client.create(svc(ns, name));
    await waitFor('the first call', () => order.length >= 1);
    // The first call is still awaiting its promise: nothing else may have started.
    await client.create(svc(ns, 'late'));
    assert.deepEqual(order, ['start s1']);
    release();
    await waitFor('all calls', () => order.length >= 2 * (want.length + 1));
    assert.deepEqual(
      order,
      [...want, 'late'].flatMap((name) => [`start ${name}`, `end ${name}`]),
    );
    // The informer with a tiny queue closed its watch while its handler was stuck, resumed it once the handler
    // caught up, and lost nothing.
    slowRelease();
    await waitFor('every object on the slow informer', () => slowRec.length >= want.length + 1);
    assert.deepEqual(slowRec, [...want, 'late']);
    const pausedAfter = await counter('cmesh_k8s_informer_watch_restarts_total', { kind: 'Service', reason: 'paused' });
    assert.ok(pausedAfter > pausedBefore, 'the watch was closed while the handler was behind');
  });

  it('without a cache: every change is an add, a delete is a stub, and nothing is kept', async () => {
    const { ns, source } = await setup();
    const a = await client.create(svc(ns, 'a', { app: 'web' }));
    const inf = source.informer('Service', { namespace: ns, cache: false });
    const got: string[] = [];
    inf.on({
      onAdd: (o) => {
        got.push(`add ${ref(o)} ${o.metadata.labels?.app ?? ''} ${o.metadata.resourceVersion ?? ''}`);
      },
      onUpdate: () => {
        got.push('update');
      },
      onDelete: (o) => {
        got.push(`delete ${ref(o)} ${o.kind} ${o.apiVersion} ${JSON.stringify(Object.keys(o.metadata))}`);
      },
    });
    inf.start();
    await inf.synced;
    const a2 = await client.update({ ...a, metadata: { ...a.metadata, labels: { app: 'db' } } });
    await client.delete('Service', ns, 'a');
    const rec = { events: got };
    await settle(rec, ns);
    assert.deepEqual(got, [
      `add ${ns}/a web ${a.metadata.resourceVersion!}`,
      `add ${ns}/a db ${a2.metadata.resourceVersion!}`,
      `delete ${ns}/a Service v1 ["name","namespace"]`,
    ]);
    assert.throws(() => inf.list(), /cache: false/);
    assert.throws(() => inf.get(ns, 'a'), /cache: false/);
  });

  it('honours namespace and label selector, deleting objects that stop matching', async () => {
    const { ns, source } = await setup();
    const { ns: other } = await setup();
    await client.create(svc(ns, 'a', { app: 'web' }));
    await client.create(svc(other, 'b', { app: 'web' }));
    await client.create(svc(ns, 'c', { app: 'db' }));
    const inf = source.informer('Service', { namespace: ns, labelSelector: 'app=web' });
    const structured = source.informer('Service', {
      labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] },
    });
    const rec = recorder<Service>();
    inf.on(rec);
    inf.start();
    structured.start();
    await Promise.all([inf.synced, structured.synced]);
    assert.deepEqual(names(inf), [`${ns}/a`]);
    assert.deepEqual(names(structured), [`${ns}/a`, `${other}/b`]);
    await client.apply(svc(ns, 'a', { app: 'db' }));
    await client.apply(svc(ns, 'c', { app: 'web' }));
    await waitFor('selector events', () => rec.events.length >= 3);
    assert.deepEqual(short(rec.events), [`add ${ns}/a`, `delete ${ns}/a`, `add ${ns}/c`]);
    assert.deepEqual(names(inf), [`${ns}/c`]);
    assert.throws(() => source.informer('CiliumNode', { namespace: 'x' }), /cluster-scoped/);
    assert.throws(() => source.informer('Service', { labelSelector: 'app in (' }), /selector/);
  });

  it('waits for a kind whose CRD is not installed, then lists and watches it once it is', async () => {
    const { source } = await setup();
    const inf = source.informer('CiliumNode');
    const rec = recorder<CiliumNode>();
    inf.on(rec);
    const refusedBefore = await counter('cmesh_k8s_informer_errors_total', {
      kind: 'CiliumNode',
      reason: 'not_served',
    });
    inf.start();
    await eventually(
      () => counter('cmesh_k8s_informer_errors_total', { kind: 'CiliumNode', reason: 'not_served' }),
      (v) => v > refusedBefore,
      'a refused list of CiliumNodes',
    );
    assert.equal(inf.hasSynced(), false);
    const crd = crdFor('CiliumNode');
    // The informer keeps retrying against the 404; install the CRD and wait until it is served.
    await cp.kubectlIn(stringify(crd), 'apply', '-f', '-');
    await cp.kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd/ciliumnodes.cilium.io');
    const node = await client.create<CiliumNode>({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'node-1' },
      spec: { addresses: [{ type: 'InternalIP', ip: '10.0.0.1' }] },
    });
    await inf.synced;
    await waitFor('the CiliumNode', () => rec.events.length >= 1);
    assert.deepEqual(rec.events, [`add node-1 ${node.metadata.resourceVersion!}`]);
    assert.equal(inf.get(undefined, 'node-1')?.spec?.addresses?.[0]?.ip, '10.0.0.1');
  });

  it('keeps watching across a kube-apiserver SIGKILL and restart', async () => {
    const { ns, source } = await setup();
    await client.create(svc(ns, 'a'));
    const keep = await client.create(svc(ns, 'keep'));
    const inf = source.informer('Service', { namespace: ns });
    const rec = recorder<Service>();
    inf.on(rec);
    inf.start();
    await inf.synced;
    rec.events.length = 0;
    await cp.controlPlane.stopRole('kube-apiserver', { kill: true });
    await cp.controlPlane.start();
    const b = await client.create(svc(ns, 'b'));
    await client.delete('Service', ns, 'a');
    await settle(rec, ns);
    assert.deepEqual(short(rec.events), [`add ${ns}/b`, `delete ${ns}/a`]);
    assert.deepEqual(inf.get(ns, 'b'), b);
    assert.deepEqual(inf.get(ns, 'keep'), keep);
  });

  it('after a cut spanning changes, a compaction and an API server restart, re-lists and delivers only the difference', async () => {
    const server = kc.getCurrentCluster()!.server;
    const proxy = await TcpProxy.start(server.replace(/^https:/, 'http:'));
    cleanups.push(() => proxy.stop());
    // The informer reaches the API server through the proxy (same certificate: it is valid for 127.0.0.1).
    const viaProxy = new KubeConfig();
    viaProxy.loadFromOptions({
      clusters: kc.getClusters().map((c) => ({ ...c, server: `https://${new URL(proxy.url).host}` })),
      users: kc.getUsers(),
      contexts: kc.getContexts(),
      currentContext: kc.getCurrentContext(),
    });
    const { ns, source } = await setup(viaProxy);
    await client.create(svc(ns, 'gone'));
    const changed = await client.create(svc(ns, 'changed'));
    const same = await client.create(svc(ns, 'same'));
    const inf = source.informer('Service', { namespace: ns });
    const rec = recorder<Service>();
    inf.on(rec);
    inf.start();
    await inf.synced;
    rec.events.length = 0;
    const relistsBefore = await counter('cmesh_k8s_informer_relists_total', { kind: 'Service' });

    proxy.cut();
    const gone = await client.get('Service', ns, 'gone');
    await client.delete('Service', ns, 'gone');
    const changed2 = await client.update({ ...changed, metadata: { ...changed.metadata, labels: { v: '2' } } });
    const added = await client.create(svc(ns, 'added'));
    // Compact etcd past every revision the informer saw, and restart kube-apiserver so that its watch cache
    // cannot serve them either: the informer's next watch must get 410 Gone.
    const etcd = new Etcd3({ hosts: [cp.etcd.clientUrl] });
    try {
      const rev = (await etcd.kv.range({ key: Buffer.from('\0'), limit: 1 })).header.revision;
      await etcd.kv.compact({ revision: rev, physical: true });
    } finally {
      etcd.close();
    }
    await cp.controlPlane.stopRole('kube-apiserver', { kill: true });
    await cp.controlPlane.start();
    proxy.restore();

    await settle(rec, ns);
    assert.deepEqual(rec.events.sort(), [
      `add ${ns}/added ${added.metadata.resourceVersion!}`,
      `delete ${ns}/gone ${gone!.metadata.resourceVersion!}`,
      `update ${ns}/changed ${changed.metadata.resourceVersion!}->${changed2.metadata.resourceVersion!}`,
    ]);
    assert.deepEqual(
      names(inf).filter((x) => !x.includes('sentinel')),
      [`${ns}/added`, `${ns}/changed`, `${ns}/same`],
    );
    assert.deepEqual(inf.get(ns, 'same'), same);
    const relistsAfter = await counter('cmesh_k8s_informer_relists_total', { kind: 'Service' });
    assert.ok(relistsAfter > relistsBefore, 'the informer re-listed (its resourceVersion had expired)');
  });

  it('an identity without RBAC rights never syncs, and stops cleanly', async () => {
    const nobody = loadKubeconfig({ kubeconfig: await cp.userKubeconfig('cmesh:nobody') }).kubeConfig;
    const source = new KubeClusterSource(nobody, FAST_RETRY);
    const inf = source.informer('Service');
    const rec = recorder<Service>();
    inf.on(rec);
    const before = await counter('cmesh_k8s_informer_errors_total', { kind: 'Service', reason: 'forbidden' });
    inf.start();
    await eventually(
      () => counter('cmesh_k8s_informer_errors_total', { kind: 'Service', reason: 'forbidden' }),
      (v) => v >= before + 2,
      'two refused lists',
    );
    // It keeps retrying the refused list; stopping must end that loop.
    await source.close();
    await source.close(); // idempotent
    assert.equal(inf.hasSynced(), false);
    assert.deepEqual(rec.events, []);
  });

  it('stops calling handlers once stopped; stop() is idempotent; close() stops every informer', async () => {
    const { ns, source } = await setup();
    const inf = source.informer('Service', { namespace: ns });
    const other = source.informer('Namespace');
    const rec = recorder<Service>();
    inf.on(rec);
    inf.start();
    other.start();
    await Promise.all([inf.synced, other.synced]);
    await inf.stop();
    await inf.stop();
    inf.start(); // a stopped informer does not start again
    await client.create(svc(ns, 'late'));
    await source.close();
    // A separate informer proves the object was delivered to whoever still watches.
    const probe = new KubeClusterSource(kc, FAST_RETRY);
    cleanups.push(() => probe.close());
    const seen = probe.informer('Service', { namespace: ns });
    seen.start();
    await seen.synced;
    assert.deepEqual(names(seen), [`${ns}/late`]);
    assert.deepEqual(rec.events, []);
    assert.throws(() => source.informer('Service'), /closed/);
  });
});
