import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Etcd3 } from 'etcd3';
import { TestEtcd } from '../harness/etcd.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { LeaseManager } from '../../src/kvstore/lease.js';
import { SyncStore, rfc3339Now } from '../../src/kvstore/sync-store.js';
import { etcdContent, waitFor } from './helpers.js';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/** A full garbage collection, without starting the test process with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose_gc');
  (runInNewContext('gc') as () => void)();
}

describe('SyncStore', () => {
  let etcd: TestEtcd;
  let client: Etcd3;
  let reader: Etcd3;
  const stores: SyncStore[] = [];
  before(async () => {
    etcd = await TestEtcd.start();
    client = createEtcdClient({ endpoints: [etcd.endpoint], requestTimeoutMs: 3_000 });
    reader = createEtcdClient({ endpoints: [etcd.endpoint] });
  });
  after(async () => {
    for (const s of stores) await s.close();
    client.close();
    reader.close();
    await etcd.stop();
  });
  const newStore = (opts: ConstructorParameters<typeof SyncStore>[1]) => {
    const s = new SyncStore(client, { leaseTtlSeconds: 10, ...opts });
    stores.push(s);
    return s;
  };

  it('formats RFC3339 like Go (second precision, UTC)', () => {
    assert.equal(rfc3339Now(new Date('2024-05-06T07:08:09.123Z')), '2024-05-06T07:08:09Z');
  });

  it('batches into transactions of at most 128 ops, coalesces, and writes only what changed', async () => {
    const s = newStore({ prefix: 'ss1/state', clusterName: 'c1' });
    for (let i = 0; i < 300; i++) s.upsert(`k${String(i).padStart(3, '0')}`, `v${i}`);
    s.upsert('x', 'x1');
    s.upsert('x', 'x2');
    s.upsert('x', 'x3');
    s.upsert('y', 'y1');
    s.delete('y');
    s.delete('never-written');
    await s.synced();
    const content = await etcdContent(reader, 'ss1/state/');
    assert.equal(content.size, 301);
    assert.equal(content.get('ss1/state/x')?.value, 'x3');
    assert.equal(content.get('ss1/state/x')?.version, 1, 'coalesced into one write');
    assert.equal(content.has('ss1/state/y'), false);
    const revisions = new Set([...content.values()].map((v) => v.modRevision));
    assert.ok(revisions.size <= 3, `301 keys in ${revisions.size} transactions`);
    const leases = new Set([...content.values()].map((v) => v.lease));
    assert.equal(leases.size, 1);
    assert.notEqual([...leases][0], '0');

    const canary = (await etcdContent(reader, 'cilium/synced/c1/ss1/state')).get('cilium/synced/c1/ss1/state');
    assert.ok(canary, 'canary written');
    assert.match(canary.value, RFC3339);
    assert.equal(canary.lease, [...leases][0]);
    assert.ok(canary.modRevision > Math.max(...revisions));

    // Identical upserts are dropped: nothing in etcd changes.
    for (let i = 0; i < 300; i++) s.upsert(`k${String(i).padStart(3, '0')}`, `v${i}`);
    s.upsert('k007', 'changed');
    await s.flush();
    const again = await etcdContent(reader, 'ss1/state/');
    for (const [k, v] of content) {
      if (k === 'ss1/state/k007') continue;
      assert.equal(again.get(k)?.modRevision, v.modRevision, k);
    }
    assert.equal(again.get('ss1/state/k007')?.value, 'changed');

    for (let i = 0; i < 10; i++) s.delete(`k${String(i).padStart(3, '0')}`);
    await s.flush();
    assert.equal((await etcdContent(reader, 'ss1/state/')).size, 291);
    assert.equal(s.size, 291);
  });

  it('writes keys without a lease when asked (identity master keys)', async () => {
    const s = newStore({ prefix: 'ss2/id', clusterName: 'c1', noLease: true });
    s.upsert('1000', 'k8s:app=a;');
    await s.synced();
    const content = await etcdContent(reader, 'ss2/id/');
    assert.equal(content.get('ss2/id/1000')?.lease, '0');
  });

  it('writes the canary only after every initial upsert, across an etcd crash mid-sync', async () => {
    const s = newStore({ prefix: 'ss3/state', clusterName: 'c1', maxTxnOps: 16, maxTxnsInFlight: 1 });
    const total = 2_000;
    for (let i = 0; i < total; i++) s.upsert(`k${i}`, `value-${i}`);
    let syncedAtMs = 0;
    const syncedAt = () => syncedAtMs;
    const synced = s.synced(() => {
      syncedAtMs = Date.now();
    });
    await waitFor('the sync to be under way', () => s.queueSize < total - 200);
    assert.equal(syncedAt(), 0, 'not synced yet');
    await etcd.kill();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(s.queueSize > 0, 'still keys to write while etcd is down');
    assert.equal(syncedAt(), 0, 'not synced yet');
    await etcd.start();
    await synced;
    assert.ok(syncedAt() > 0);
    const content = await etcdContent(reader, 'ss3/state/');
    assert.equal(content.size, total);
    const canary = (await etcdContent(reader, 'cilium/synced/c1/ss3/state')).get('cilium/synced/c1/ss3/state');
    assert.ok(canary);
    const maxRev = Math.max(...[...content.values()].map((v) => v.modRevision));
    assert.ok(canary.modRevision > maxRev, 'canary written after every key');
  });

  it('grants a new lease and rewrites every key (and the canary) when the lease is revoked', async () => {
    const lease = new LeaseManager(client, { ttlSeconds: 3 });
    const a = newStore({ prefix: 'ss4/a', clusterName: 'c1', lease });
    const b = newStore({ prefix: 'ss4/b', clusterName: 'c1', lease });
    for (let i = 0; i < 50; i++) a.upsert(`k${i}`, `a${i}`);
    b.upsert('only', 'b');
    await Promise.all([a.synced(), b.synced()]);
    const before = await etcdContent(reader, 'ss4/');
    const oldLease = before.get('ss4/a/k0')!.lease;
    assert.equal(before.get('ss4/b/only')?.lease, oldLease);

    await reader.leaseClient.leaseRevoke({ ID: oldLease });
    await waitFor('keys rewritten under a new lease', async () => {
      const now = await etcdContent(reader, 'ss4/');
      return now.size === 51 && [...now.values()].every((v) => v.lease !== oldLease && v.lease !== '0');
    });
    await waitFor('canary rewritten', async () => {
      const c = await etcdContent(reader, 'cilium/synced/c1/ss4/a');
      return c.get('cilium/synced/c1/ss4/a')?.lease === lease.id;
    });
    // Still functional afterwards.
    a.delete('k0');
    await a.flush();
    assert.equal((await etcdContent(reader, 'ss4/a/')).size, 49);
    await lease.close();
  });

  it('drain() deletes every key and the canary', async () => {
    const s = newStore({ prefix: 'ss5/state', clusterName: 'c1' });
    for (let i = 0; i < 200; i++) s.upsert(`k${i}`, 'v');
    await s.synced();
    assert.equal((await etcdContent(reader, 'ss5/state/')).size, 200);
    await s.drain();
    assert.equal((await etcdContent(reader, 'ss5/state/')).size, 0);
    assert.equal((await etcdContent(reader, 'cilium/synced/c1/ss5/state')).size, 0);
  });

  it('writes values byte for byte, text as UTF-8, and keeps no view of the buffer a value came in', async () => {
    const s = newStore({ prefix: 'ss6/state', clusterName: 'c1' });
    const notUtf8 = Buffer.from([0x00, 0x7f, 0x80, 0xc3, 0x28, 0xff]);
    // A short value in a large buffer, as a value read from a gRPC response or cut from Buffer.from's pool is.
    let slab: ArrayBuffer | undefined = new ArrayBuffer(4 * 1024 * 1024);
    const slabRef = new WeakRef(slab);
    let view: Buffer | undefined = Buffer.from(slab, 1000, 16).fill(0x41);
    s.upsert('bytes', notUtf8);
    s.upsert('text', 'prë-ключ');
    s.upsert('view', view);
    notUtf8.fill(0); // the caller may reuse its buffer once upsert() returns
    slab = undefined;
    view = undefined;
    await s.synced();
    const raw = async (k: string) => (await reader.get(`ss6/state/${k}`).buffer())?.toString('hex');
    assert.equal(await raw('bytes'), '007f80c328ff', 'bytes are written as given, not re-encoded');
    assert.equal(await raw('text'), Buffer.from('prë-ключ').toString('hex'), 'text is written as UTF-8');
    assert.equal(await raw('view'), '41'.repeat(16));
    s.upsert('text', Buffer.from('prë-ключ'));
    s.upsert('bytes', Buffer.from([0x00, 0x7f, 0x80, 0xc3, 0x28, 0xff]));
    await s.flush();
    const content = await etcdContent(reader, 'ss6/state/');
    assert.equal(content.get('ss6/state/text')?.version, 1, 'the same bytes given as text or as a Buffer: no rewrite');
    assert.equal(content.get('ss6/state/bytes')?.version, 1, 'the same bytes in a new Buffer: no rewrite');
    collectGarbage();
    assert.equal(slabRef.deref(), undefined, 'the 4 MiB buffer the value was a view into is not kept alive');
  });
});
