import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { TestEtcd } from '../harness/etcd.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { ListWatcher } from '../../src/kvstore/list-watcher.js';
import { Recorder, currentRevision, etcdContent, sleepMs, waitFor } from './helpers.js';

const WRITES = 3_000;
const KEYS = 400;

describe('ListWatcher across an etcd crash', () => {
  let etcd: TestEtcd;
  let client: Etcd3;
  let writer: Etcd3;
  before(async () => {
    etcd = await TestEtcd.start();
    client = createEtcdClient({ endpoints: [etcd.endpoint] });
    writer = createEtcdClient({ endpoints: [etcd.endpoint], requestTimeoutMs: 2_000 });
  });
  after(async () => {
    client.close();
    writer.close();
    await etcd.stop();
  });

  it('resumes after kill -9 + restart with a backlog in flight: nothing lost, nothing duplicated', async () => {
    const prefix = 'crash/';
    // A slow consumer, so that events are still queued when etcd dies.
    const rec = new Recorder(50);
    const w = new ListWatcher(client, prefix, rec);
    w.start();
    await w.synced;

    let written = 0;
    const writerDone = (async () => {
      while (written < WRITES) {
        const i = written;
        try {
          await writer.kv.txn({
            success: [
              { request_put: { key: Buffer.from(`${prefix}k${i % KEYS}`), value: Buffer.from(`v${i}`) } },
              { request_put: { key: Buffer.from(`${prefix}j${i % KEYS}`), value: Buffer.from(`w${i}`) } },
            ],
          });
          written++;
        } catch {
          await sleepMs(50); // etcd is down: retry the same write
        }
      }
    })();

    await waitFor('a first third of the writes', () => written >= WRITES / 3);
    await etcd.kill();
    await sleepMs(300);
    await etcd.start();
    await waitFor('two thirds of the writes', () => written >= (2 * WRITES) / 3);
    await etcd.kill();
    await etcd.start();
    await writerDone;

    const finalRev = await currentRevision(writer);
    await waitFor('the watcher to catch up', () => w.revision >= finalRev, 30_000);
    const content = await etcdContent(writer, prefix);
    assert.equal(content.size, 2 * KEYS);
    assert.deepEqual(rec.values(), new Map([...content].map(([k, v]) => [k, v.value])));
    assert.deepEqual(rec.violations, []);
    // Every put etcd recorded for a key (its version) was delivered exactly once.
    for (const [key, v] of content) assert.equal(rec.puts.get(key), v.version, key);
    assert.equal(rec.listStarts, 1, 'no re-list was needed');
    assert.ok(rec.errors.length > 0, 'the crash was seen');
    await w.stop();
  });
});
