import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { TestEtcd } from '../harness/etcd.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { ListWatcher, prefixRangeEnd } from '../../src/kvstore/list-watcher.js';
import { Recorder, currentRevision, etcdContent, waitFor } from './helpers.js';

describe('ListWatcher', () => {
  let etcd: TestEtcd;
  let client: Etcd3;
  let writer: Etcd3;
  before(async () => {
    etcd = await TestEtcd.start();
    client = createEtcdClient({ endpoints: [etcd.endpoint] });
    writer = await etcd.client();
  });
  after(async () => {
    client.close();
    await etcd.stop();
  });

  it('computes prefix range ends like etcd', () => {
    assert.deepEqual(prefixRangeEnd(Buffer.from('a/')), Buffer.from('a0'));
    assert.deepEqual(prefixRangeEnd(Buffer.from([0x61, 0xff])), Buffer.from('b'));
    assert.deepEqual(prefixRangeEnd(Buffer.from([0xff])), Buffer.from([0]));
  });

  it('lists more keys than one page at one revision, then watches puts and deletes in order', async () => {
    const prefix = 'lw1/';
    const total = 2_345;
    for (let i = 0; i < total; i += 100) {
      const ops = [];
      for (let j = i; j < Math.min(total, i + 100); j++) {
        ops.push({
          request_put: { key: Buffer.from(`${prefix}k${String(j).padStart(5, '0')}`), value: Buffer.from(`v${j}`) },
        });
      }
      await writer.kv.txn({ success: ops });
    }
    await writer.put('lw10/sibling').value('not mine'); // shares the string prefix 'lw1' but not 'lw1/'
    const rec = new Recorder();
    const w = new ListWatcher(client, prefix, rec, { pageSize: 500 });
    w.start();
    await w.synced;
    assert.equal(rec.listStarts, 1);
    assert.equal(rec.listDones.length, 1);
    assert.equal(rec.view.size, total);
    assert.equal(w.size, total);
    const listRev = rec.listDones[0]!;
    assert.equal(w.revision, listRev);
    assert.equal(rec.view.get(`${prefix}k00007`)?.value.toString(), 'v7');

    await writer.put(`${prefix}k00001`).value('changed');
    await writer.delete().key(`${prefix}k00002`);
    await writer.put(`${prefix}new`).value('fresh');
    await writer.put('lw10/sibling').value('still not mine');
    const rev = await currentRevision(writer);
    await waitFor('watch events', () => w.revision >= rev - 1);
    assert.deepEqual(rec.values(), new Map([...(await etcdContent(writer, prefix))].map(([k, v]) => [k, v.value])));
    assert.equal(rec.view.has('lw10/sibling'), false);
    assert.deepEqual(
      rec.deletes.map((d) => d.key),
      [`${prefix}k00002`],
    );
    assert.equal(rec.puts.get(`${prefix}k00001`), 2);
    assert.deepEqual(rec.violations, []);
    await w.stop();
  });

  it('stop() is idempotent and no handler call happens after it resolves', async () => {
    const prefix = 'lw2/';
    let calls = 0;
    let stopped = false;
    let lateCalls = 0;
    const w = new ListWatcher(client, prefix, {
      onUpsert: async () => {
        calls++;
        if (stopped) lateCalls++;
        await new Promise((r) => setTimeout(r, 2));
      },
      onDelete: () => undefined,
    });
    w.start();
    await w.synced;
    const writes = (async () => {
      for (let i = 0; i < 200; i++) await writer.put(`${prefix}${i}`).value('x');
    })();
    await waitFor('some events', () => calls > 10);
    await Promise.all([w.stop(), w.stop()]);
    stopped = true;
    await writes;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(lateCalls, 0);
    await w.stop();
  });

  it('awaits an async handler before delivering the next event (backpressure)', async () => {
    const prefix = 'lw3/';
    let active = 0;
    let maxActive = 0;
    const seen: number[] = [];
    const w = new ListWatcher(client, prefix, {
      onUpsert: async (kv) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 1));
        seen.push(kv.modRevision);
        active--;
      },
      onDelete: () => undefined,
    });
    w.start();
    await w.synced;
    for (let i = 0; i < 100; i++) await writer.put(`${prefix}${i % 7}`).value(String(i));
    await waitFor('100 events', () => seen.length === 100);
    assert.equal(maxActive, 1);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
    );
    await w.stop();
  });
});
