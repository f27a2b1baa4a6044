import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { ClustermeshApiserver } from '../../src/apiserver/apiserver.js';
import { LocalClusterSource } from '../../src/k8s/local-source.js';
import { ObjectStore } from '../../src/k8s/object-store.js';
import type { AnyObject } from '../../src/k8s/types.js';
import { TestEtcd } from '../harness/etcd.js';
import { eventually } from '../harness/eventually.js';

interface Golden {
  cluster: { name: string; id: number };
  input: unknown;
  expect: Record<string, unknown>;
}
const golden = (name: string): Golden =>
  JSON.parse(readFileSync(new URL(`../wire/golden/${name}.json`, import.meta.url), 'utf8')) as Golden;
const compact = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

const CLUSTER = { name: 'east', id: 7 };

async function dump(client: Etcd3, prefix = 'cilium/'): Promise<Record<string, string>> {
  return client.getAll().prefix(prefix).strings();
}

function ns(name: string, annotations?: Record<string, string>): AnyObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(annotations ? { annotations } : {}) } };
}

function cep(namespace: string, name: string, ip: string, id: number): AnyObject {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: { name, namespace },
    status: { id: 1, identity: { id }, networking: { addressing: [{ ipv4: ip }], node: '172.20.0.4' }, state: 'ready' },
  };
}

describe('clustermesh-apiserver against real etcd', () => {
  let stateEtcd: TestEtcd;
  let meshEtcd: TestEtcd;
  let state: Etcd3;
  let mesh: Etcd3;
  let objects: ObjectStore;
  const running: { api: ClustermeshApiserver; source: LocalClusterSource }[] = [];

  async function startApiserver(opts: { defaultGlobalNamespace?: boolean } = {}): Promise<ClustermeshApiserver> {
    const source = new LocalClusterSource(state);
    const api = new ClustermeshApiserver({
      clusterName: CLUSTER.name,
      clusterId: CLUSTER.id,
      maxConnectedClusters: 255,
      source,
      kvstore: mesh,
      leaseTtlSeconds: 30,
      ...opts,
    });
    running.push({ api, source });
    await api.start();
    await api.waitReady();
    return api;
  }

  async function stopAll(): Promise<void> {
    for (const r of running.splice(0)) {
      await r.api.stop();
      await r.source.close();
    }
  }

  before(async () => {
    [stateEtcd, meshEtcd] = await Promise.all([TestEtcd.start(), TestEtcd.start()]);
    state = await stateEtcd.client();
    mesh = await meshEtcd.client();
    objects = new ObjectStore(state);
  });

  after(async () => {
    await stopAll();
    await Promise.all([stateEtcd.stop(), meshEtcd.stop()]);
  });

  it('publishes every golden resource byte for byte, with canaries, cluster config and heartbeat', async () => {
    const svc = golden('service');
    await objects.applyAll([
      ns('shop'),
      golden('identity').input,
      golden('ipcache').input,
      golden('node').input,
      ...(svc.input as unknown[]),
    ]);
    const api = await startApiserver();
    assert.equal(api.ready(), true);
    const kv = await dump(mesh);
    for (const g of ['identity', 'ipcache', 'node', 'service']) {
      for (const [key, value] of Object.entries(golden(g).expect))
        assert.equal(kv[key], compact(value), `${g}: ${key}`);
    }
    assert.equal(
      kv['cilium/cluster-config/east'],
      '{"id":7,"capabilities":{"syncedCanaries":true,"maxConnectedClusters":255,"serviceExportsEnabled":false}}',
    );
    // MCS-API is off here: the service-exports canary is written all the same, as Cilium does, and the store stays
    // empty.
    for (const r of ['nodes', 'services', 'serviceexports', 'identities', 'ip']) {
      assert.match(kv[`cilium/synced/east/cilium/state/${r}/v1`] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, r);
    }
    assert.deepEqual(
      Object.keys(kv).filter((k) => k.startsWith('cilium/state/serviceexports/')),
      [],
      'no service export entries with MCS-API off',
    );
    assert.match(kv['cilium/.heartbeat'] ?? '', /^\d{4}-\d\d-\d\dT/);
    // Leases: every key carries one, identity master keys included (Cilium 1.20).
    const raw = await mesh.kv.range({ key: Buffer.from('cilium/'), range_end: Buffer.from('cilium0') });
    assert.ok(
      raw.kvs.some((k) => k.key.toString().startsWith('cilium/state/identities/v1/id/')),
      'an identity master key was written',
    );
    for (const k of raw.kvs) assert.notEqual(k.lease, '0', `${k.key.toString()} carries the lease`);
  });

  it('follows updates and deletes of every resource', async () => {
    // Pod IP change: old key gone, new one present.
    const ep = golden('ipcache').input as AnyObject & {
      status: { networking: { addressing: { ipv4?: string; ipv6?: string }[] } };
    };
    const moved = structuredClone(ep);
    moved.status.networking.addressing = [{ ipv4: '10.70.3.22' }];
    await objects.apply(moved);
    await eventually(
      () => dump(mesh, 'cilium/state/ip/v1/'),
      (kv) =>
        'cilium/state/ip/v1/default/10.70.3.22' in kv &&
        !('cilium/state/ip/v1/default/10.70.3.21' in kv) &&
        !('cilium/state/ip/v1/default/fd00:10:70:3::e1' in kv),
      'ipcache to follow the endpoint',
    );
    // Service loses its global annotation: withdrawn. Gets it back via the legacy alias: published.
    const [svcObj] = golden('service').input as [AnyObject];
    const local = structuredClone(svcObj);
    local.metadata.annotations = {};
    await objects.apply(local);
    await eventually(
      () => dump(mesh, 'cilium/state/services/'),
      (kv) => Object.keys(kv).length === 0,
      'service withdrawn',
    );
    local.metadata.annotations = { 'io.cilium/global-service': 'true' };
    await objects.apply(local);
    await eventually(
      () => dump(mesh, 'cilium/state/services/'),
      (kv) => Object.keys(kv).length === 1,
      'service back',
    );
    // shared=false: not published.
    local.metadata.annotations = { 'io.cilium/global-service': 'true', 'service.cilium.io/shared': 'false' };
    await objects.apply(local);
    await eventually(
      () => dump(mesh, 'cilium/state/services/'),
      (kv) => Object.keys(kv).length === 0,
      'non-shared withdrawn',
    );
    // Node and identity deletes.
    await objects.delete('CiliumNode', undefined, 'worker-a');
    await objects.delete('CiliumIdentity', undefined, '459001');
    await eventually(
      () => dump(mesh, 'cilium/state/'),
      (kv) => !('cilium/state/nodes/v1/east/worker-a' in kv) && !('cilium/state/identities/v1/id/459001' in kv),
      'node and identity deleted',
    );
  });

  it('namespace filter: clustermesh.cilium.io/global=false withdraws a namespace, and the default can be off', async () => {
    await objects.applyAll([ns('quiet'), cep('quiet', 'q1', '10.70.9.1', 459002)]);
    await eventually(
      () => dump(mesh, 'cilium/state/ip/'),
      (kv) => 'cilium/state/ip/v1/default/10.70.9.1' in kv,
      'quiet endpoint exported',
    );
    await objects.apply(ns('quiet', { 'clustermesh.cilium.io/global': 'false' }));
    await eventually(
      () => dump(mesh, 'cilium/state/ip/'),
      (kv) => !('cilium/state/ip/v1/default/10.70.9.1' in kv),
      'quiet endpoint withdrawn',
    );
    // Changed while withdrawn, then the namespace turns global again: the current addresses are exported.
    await objects.apply(cep('quiet', 'q1', '10.70.9.11', 459002));
    await objects.apply(ns('quiet', { 'clustermesh.cilium.io/global': 'true' }));
    await eventually(
      () => dump(mesh, 'cilium/state/ip/'),
      (kv) => 'cilium/state/ip/v1/default/10.70.9.11' in kv && !('cilium/state/ip/v1/default/10.70.9.1' in kv),
      'quiet endpoint exported again with its new address',
    );
    await stopAll();
    // With the default off, only namespaces annotated global=true export.
    await objects.applyAll([
      ns('loud', { 'clustermesh.cilium.io/global': 'true' }),
      cep('loud', 'l1', '10.70.9.2', 459003),
      ns('plain'),
      cep('plain', 'p1', '10.70.9.3', 459004),
    ]);
    await startApiserver({ defaultGlobalNamespace: false });
    const kv = await dump(mesh, 'cilium/state/ip/');
    assert.ok('cilium/state/ip/v1/default/10.70.9.2' in kv);
    assert.ok(!('cilium/state/ip/v1/default/10.70.9.3' in kv));
    assert.ok(
      !('cilium/state/ip/v1/default/10.70.3.22' in kv),
      'shop has no annotation: not exported with default off',
    );
    await stopAll();
  });

  it('identities: none without a namespace label, none until their namespace exists, and global only on "true"', async () => {
    const identity = (id: number, labels: Record<string, string>): AnyObject => ({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumIdentity',
      metadata: { name: String(id) },
      'security-labels': { 'k8s:io.cilium.k8s.policy.cluster': 'east', ...labels },
    });
    const nsLabel = (n: string): Record<string, string> => ({ 'k8s:app': 'x', 'k8s:io.kubernetes.pod.namespace': n });
    await objects.applyAll([
      identity(459010, { 'k8s:app': 'no-namespace' }),
      identity(459011, nsLabel('later')),
      ns('odd', { 'clustermesh.cilium.io/global': 'yes' }),
      identity(459012, nsLabel('odd')),
      ns('blank', { 'clustermesh.cilium.io/global': '' }),
      identity(459013, nsLabel('blank')),
      ns('upper', { 'clustermesh.cilium.io/global': 'TRUE' }),
      identity(459014, nsLabel('upper')),
    ]);
    await startApiserver();
    const key = (id: number): string => `cilium/state/identities/v1/id/${id}`;
    let kv = await dump(mesh, 'cilium/state/identities/');
    assert.ok(!(key(459010) in kv), 'an identity without a namespace label is never exported');
    assert.ok(!(key(459011) in kv), 'an identity whose namespace does not exist yet is not exported');
    assert.ok(!(key(459012) in kv), 'namespace annotation "yes" is not global');
    assert.ok(!(key(459013) in kv), 'namespace annotation "" is not global');
    assert.ok(key(459014) in kv, 'namespace annotation "TRUE" is global');
    await objects.apply(ns('later'));
    await eventually(
      () => dump(mesh, 'cilium/state/identities/'),
      (m) => key(459011) in m,
      'the identity is exported once its namespace appears',
    );
    await objects.delete('Namespace', undefined, 'later');
    kv = await eventually(
      () => dump(mesh, 'cilium/state/identities/'),
      (m) => !(key(459011) in m),
      'the identity is withdrawn when its namespace goes',
    );
    assert.ok(key(459014) in kv, 'other identities stay');
    await stopAll();
  });

  it('overlapping IPs: the first claimant keeps the key until it releases it, also across a restart', async () => {
    const api = await startApiserver();
    await objects.apply(cep('shop', 'first', '10.70.8.8', 459005));
    await eventually(
      () => dump(mesh, 'cilium/state/ip/'),
      (kv) => (kv['cilium/state/ip/v1/default/10.70.8.8'] ?? '').includes('"first"'),
      'first claims',
    );
    await objects.apply(cep('shop', 'a-second', '10.70.8.8', 459006));
    await api.flush();
    await new Promise((r) => setTimeout(r, 300));
    assert.match(
      (await dump(mesh, 'cilium/state/ip/'))['cilium/state/ip/v1/default/10.70.8.8'] ?? '',
      /"K8sPodName":"first"/,
    );
    // Restart: the informer lists "a-second" before "first" (key order), yet "first" keeps the key.
    await stopAll();
    await startApiserver();
    assert.match(
      (await dump(mesh, 'cilium/state/ip/'))['cilium/state/ip/v1/default/10.70.8.8'] ?? '',
      /"K8sPodName":"first"/,
    );
    await objects.delete('CiliumEndpoint', 'shop', 'first');
    await eventually(
      () => dump(mesh, 'cilium/state/ip/'),
      (kv) => (kv['cilium/state/ip/v1/default/10.70.8.8'] ?? '').includes('"a-second"'),
      'second takes over',
    );
    await objects.delete('CiliumEndpoint', 'shop', 'a-second');
    await eventually(
      () => dump(mesh, 'cilium/state/ip/'),
      (kv) => !('cilium/state/ip/v1/default/10.70.8.8' in kv),
      'IP released',
    );
    await stopAll();
  });

  it('stopped in the middle of its initial sync, a restarted apiserver converges to exactly the state', async () => {
    await objects.applyAll(Array.from({ length: 120 }, (_, i) => cep('mid', `m${i}`, `10.70.6.${i + 1}`, 459300 + i)));
    const source = new LocalClusterSource(state);
    const first = new ClustermeshApiserver({
      clusterName: CLUSTER.name,
      clusterId: CLUSTER.id,
      maxConnectedClusters: 255,
      source,
      kvstore: mesh,
      leaseTtlSeconds: 30,
    });
    await first.start();
    await first.stop(); // as good as a crash: whatever was queued is abandoned
    await source.close();
    // Meanwhile some endpoints go away and one moves.
    for (let i = 0; i < 10; i++) await objects.delete('CiliumEndpoint', 'mid', `m${i}`);
    await objects.apply(cep('mid', 'm10', '10.70.6.250', 459310));
    await startApiserver();
    const ips = Object.keys(await dump(mesh, 'cilium/state/ip/v1/default/10.70.6.')).map((k) => k.split('/').pop());
    const want = ['10.70.6.250', ...Array.from({ length: 109 }, (_, i) => `10.70.6.${i + 12}`)];
    assert.deepEqual(ips.sort(), want.sort());
    await stopAll();
  });

  it('restart: converges to the state (deletes while down) without rewriting unchanged keys', async () => {
    await objects.applyAll(Array.from({ length: 50 }, (_, i) => cep('shop', `r${i}`, `10.70.7.${i + 1}`, 459100 + i)));
    await startApiserver();
    const before = await mesh.kv.range({ key: Buffer.from('cilium/state/'), range_end: Buffer.from('cilium/state0') });
    const modBefore = new Map(before.kvs.map((k) => [k.key.toString(), k.mod_revision]));
    await stopAll(); // the keys stay, under the still-alive lease
    await objects.delete('CiliumEndpoint', 'shop', 'r0');
    await objects.apply(cep('shop', 'r1', '10.70.7.201', 459101));
    await startApiserver();
    const afterRes = await mesh.kv.range({
      key: Buffer.from('cilium/state/'),
      range_end: Buffer.from('cilium/state0'),
    });
    const keys = new Set(afterRes.kvs.map((k) => k.key.toString()));
    assert.ok(!keys.has('cilium/state/ip/v1/default/10.70.7.1'), 'deleted while down');
    assert.ok(!keys.has('cilium/state/ip/v1/default/10.70.7.2'), 'moved while down');
    assert.ok(keys.has('cilium/state/ip/v1/default/10.70.7.201'));
    let rewritten = 0;
    for (const k of afterRes.kvs) {
      const key = k.key.toString();
      if (modBefore.has(key) && modBefore.get(key) !== k.mod_revision) rewritten++;
    }
    assert.equal(rewritten, 0, 'unchanged keys must not be rewritten');
    await stopAll();
  });
});
