import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { TestEtcd } from '../harness/etcd.js';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { ListWatcher } from '../../src/kvstore/list-watcher.js';
import { Recorder, currentRevision, etcdContent, sleepMs, waitFor } from './helpers.js';

const run = promisify(execFile);

describe('ListWatcher recovery', () => {
  const servers: TestEtcd[] = [];
  const clients: Etcd3[] = [];
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('re-lists after its revision was compacted while disconnected, with synthetic deletes', async () => {
    const etcd = await TestEtcd.start();
    servers.push(etcd);
    const client = createEtcdClient({ endpoints: [etcd.endpoint] });
    clients.push(client);
    const prefix = 'cmp/';
    for (let i = 0; i < 10; i++) await client.put(`${prefix}k${i}`).value(`v${i}`);
    const rec = new Recorder();
    // Long retry delays leave a window, after the restart, in which the watcher is still disconnected.
    const w = new ListWatcher(client, prefix, rec, { backoff: { initialMs: 6_000, maxMs: 6_000 } });
    w.start();
    await w.synced;
    assert.equal(rec.view.size, 10);

    await etcd.kill();
    await waitFor('the watcher to notice', () => rec.errors.length > 0);
    await etcd.start();
    const writer = await etcd.client();
    await writer.delete().key(`${prefix}k0`);
    await writer.delete().key(`${prefix}k1`);
    await writer.put(`${prefix}k2`).value('changed');
    await writer.put(`${prefix}k10`).value('new');
    await writer.put(`${prefix}k3`).value('temporary');
    await writer.delete().key(`${prefix}k3`);
    await etcd.compact();

    const rev = await currentRevision(writer);
    await waitFor('the re-list', () => rec.listDones.length === 2 && w.revision >= rev, 30_000);
    assert.equal(rec.listStarts, 2);
    const content = await etcdContent(writer, prefix);
    assert.deepEqual(rec.values(), new Map([...content].map(([k, v]) => [k, v.value])));
    assert.deepEqual(rec.deletes.map((d) => d.key).sort(), [`${prefix}k0`, `${prefix}k1`, `${prefix}k3`]);
    // Unchanged keys are not re-delivered by the re-list.
    assert.equal(rec.puts.get(`${prefix}k5`), 1);
    assert.equal(rec.puts.get(`${prefix}k2`), 2);
    assert.equal(rec.puts.get(`${prefix}k10`), 1);
    assert.deepEqual(rec.violations, []);

    await writer.put(`${prefix}after`).value('x');
    await waitFor('watching again', () => rec.view.has(`${prefix}after`));
    await w.stop();
  });

  it('keeps watching with username/password auth after tokens expire and etcd restarts', async () => {
    const etcd = await TestEtcd.start({ extraArgs: ['--auth-token-ttl=2'] });
    servers.push(etcd);
    const ctl = (...args: string[]) =>
      run('etcdctl', [`--endpoints=${etcd.endpoint}`, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
    await ctl('user', 'add', 'root:rootpw');
    await ctl('user', 'grant-role', 'root', 'root');
    await ctl('auth', 'enable');

    const opts = { endpoints: [etcd.endpoint], username: 'root', password: 'rootpw' };
    const client = createEtcdClient(opts);
    const writer = createEtcdClient(opts);
    clients.push(client, writer);
    const prefix = 'auth/';
    await writer.put(`${prefix}a`).value('1');
    const rec = new Recorder();
    // Slow retries: after the restart below, the watch reconnects only once the token has expired again.
    const w = new ListWatcher(client, prefix, rec, { backoff: { initialMs: 8_000, maxMs: 8_000 } });
    w.start();
    await w.synced;
    assert.equal(rec.view.size, 1);

    // Idle past the token TTL: the client's cached token is now invalid; the open stream keeps working.
    await sleepMs(3_500);
    await writer.put(`${prefix}b`).value('2');
    await waitFor('an event after the token expired', () => rec.view.has(`${prefix}b`));
    // A new watch on the same client (stale token) must work too.
    const rec2 = new Recorder();
    const w2 = new ListWatcher(client, prefix, rec2);
    w2.start();
    await w2.synced;
    assert.equal(rec2.view.size, 2);
    await w2.stop();

    // etcd replays its log on restart, which revives simple tokens for one more TTL; the watch reconnects
    // (4-8 s later) after that, with an expired token that etcd answers with "permission denied".
    await sleepMs(2_500);
    await etcd.restart();
    await writer.put(`${prefix}c`).value('3');
    await waitFor('events after the restart', () => rec.view.has(`${prefix}c`), 30_000);
    assert.ok(rec.errors.length >= 1, 'the watch was interrupted by the restart');
    assert.deepEqual(rec.violations, []);
    assert.deepEqual(rec2.violations, []);
    await w.stop();
  });
});
