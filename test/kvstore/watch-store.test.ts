import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { TestEtcd } from '../harness/etcd.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { invalidEntries } from '../../src/kvstore/metrics.js';
import { WatchStore, type WatchStoreObserver } from '../../src/kvstore/watch-store.js';
import { waitFor } from './helpers.js';

interface Item {
  name: string;
  n: number;
}

function decodeItem(suffix: string, value: Buffer): Item {
  const v = JSON.parse(value.toString()) as Partial<Item>;
  if (v.name !== suffix || typeof v.n !== 'number') throw new Error(`invalid item ${suffix}`);
  return { name: v.name, n: v.n };
}

class Log implements WatchStoreObserver<Item> {
  upserts: { suffix: string; value: Item; prev: Item | undefined }[] = [];
  deletes: { suffix: string; prev: Item }[] = [];
  onUpsert(suffix: string, value: Item, prev: Item | undefined): void {
    this.upserts.push({ suffix, value, prev });
  }
  onDelete(suffix: string, prev: Item): void {
    this.deletes.push({ suffix, prev });
  }
}

const item = (name: string, n: number) => JSON.stringify({ name, n });

async function invalidCount(cluster: string): Promise<number> {
  const m = await invalidEntries().get();
  return m.values.filter((v) => v.labels.source_cluster === cluster).reduce((a, v) => a + v.value, 0);
}

describe('WatchStore', () => {
  let etcd: TestEtcd;
  let writer: Etcd3;
  const clients: Etcd3[] = [];
  const newClient = () => {
    const c = createEtcdClient({ endpoints: [etcd.endpoint] });
    clients.push(c);
    return c;
  };
  before(async () => {
    etcd = await TestEtcd.start();
    writer = await etcd.client();
  });
  after(async () => {
    for (const c of clients) c.close();
    await etcd.stop();
  });

  it('decodes entries, skips invalid ones with a metric, and drops a key that turns invalid', async () => {
    const prefix = 'ws1/state';
    await writer.put(`${prefix}/a`).value(item('a', 1));
    await writer.put(`${prefix}/bad`).value('{not json');
    await writer.put(`${prefix}/mismatch`).value(item('other', 1));
    await writer.put(`${prefix}x/sibling`).value(item('sibling', 1));
    const log = new Log();
    const store = new WatchStore<Item>({ prefix, decode: decodeItem, observer: log, clusterName: 'ws1' });
    store.watch(newClient());
    await store.synced;
    assert.deepEqual([...store.entries()], [['a', { name: 'a', n: 1 }]]);
    assert.equal(await invalidCount('ws1'), 2);

    await writer.put(`${prefix}/b`).value(item('b', 2));
    await writer.put(`${prefix}/a`).value(item('a', 3));
    await waitFor('updates', () => store.get('a')?.n === 3 && store.has('b'));
    assert.deepEqual(log.upserts.at(-1), { suffix: 'a', value: { name: 'a', n: 3 }, prev: { name: 'a', n: 1 } });

    await writer.put(`${prefix}/a`).value('garbage');
    await waitFor('the invalid update to drop the key', () => !store.has('a'));
    assert.deepEqual(log.deletes, [{ suffix: 'a', prev: { name: 'a', n: 3 } }]);
    assert.equal(await invalidCount('ws1'), 3);
    await writer.delete().key(`${prefix}/b`);
    await waitFor('delete', () => !store.has('b'));
    await store.stop();
  });

  it('deletes stale entries when a new session lists again, and reports synced once', async () => {
    const prefix = 'ws2/state/';
    for (const n of ['a', 'b', 'c', 'd']) await writer.put(`${prefix}${n}`).value(item(n, 1));
    const log = new Log();
    let syncedCalls = 0;
    const store = new WatchStore<Item>({
      prefix,
      decode: decodeItem,
      observer: log,
      onSynced: () => syncedCalls++,
    });
    store.watch(newClient());
    await store.synced;
    assert.equal(store.size, 4);
    assert.throws(() => {
      store.watch(newClient());
    }, /already watching/);
    await store.stop();
    assert.equal(store.isSynced, false);

    // While disconnected: b deleted, c changed, e created.
    await writer.delete().key(`${prefix}b`);
    await writer.put(`${prefix}c`).value(item('c', 2));
    await writer.put(`${prefix}e`).value(item('e', 1));
    log.upserts = [];
    store.watch(newClient());
    await waitFor('second session synced', () => store.isSynced);
    assert.deepEqual([...store.entries()].map(([k]) => k).sort(), ['a', 'c', 'd', 'e']);
    assert.deepEqual(log.deletes, [{ suffix: 'b', prev: { name: 'b', n: 1 } }]);
    assert.deepEqual(
      log.upserts.find((u) => u.suffix === 'c'),
      {
        suffix: 'c',
        value: { name: 'c', n: 2 },
        prev: { name: 'c', n: 1 },
      },
    );
    assert.equal(syncedCalls, 1);

    log.deletes = [];
    await store.drain();
    assert.equal(store.size, 0);
    assert.deepEqual(log.deletes.map((d) => d.suffix).sort(), ['a', 'c', 'd', 'e']);
  });
});
