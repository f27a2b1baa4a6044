import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { TestEtcd } from '../harness/etcd.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { HEARTBEAT_KEY, HeartbeatWriter, watchHeartbeat, type HeartbeatState } from '../../src/kvstore/heartbeat.js';
import { waitFor } from './helpers.js';

describe('heartbeat', () => {
  let etcd: TestEtcd;
  let client: Etcd3;
  before(async () => {
    etcd = await TestEtcd.start();
    client = createEtcdClient({ endpoints: [etcd.endpoint] });
  });
  after(async () => {
    client.close();
    await etcd.stop();
  });

  it('writes cilium/.heartbeat under a lease; the reader goes stale when updates stop and recovers', async () => {
    const changes: HeartbeatState[] = [];
    const reader = watchHeartbeat(client, { staleAfterMs: 1_500, onChange: (s) => changes.push(s) });
    const writer = new HeartbeatWriter(client, { clusterName: 'c1', intervalMs: 300, leaseTtlSeconds: 5 });
    writer.start();
    await writer.flush();
    const res = await client.kv.range({ key: Buffer.from(HEARTBEAT_KEY) });
    const kv = res.kvs[0];
    assert.ok(kv);
    assert.match(kv.value.toString(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.notEqual(kv.lease, '0');

    await waitFor('a heartbeat to be seen', () => reader.state.lastValue !== undefined);
    // Keeps being fresh while the writer runs (several intervals, longer than staleAfter).
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(reader.state.stale, false);
    assert.equal(changes.length, 0);

    await writer.stop();
    await waitFor('stale', () => reader.state.stale);
    assert.equal(changes.length, 1);
    assert.equal(changes[0]?.stale, true);

    const writer2 = new HeartbeatWriter(client, { clusterName: 'c1', intervalMs: 300, leaseTtlSeconds: 5 });
    writer2.start();
    await waitFor('fresh again', () => !reader.state.stale);
    const last = changes[changes.length - 1];
    assert.equal(last?.stale, false);
    await writer2.stop();
    await reader.stop();
  });
});
