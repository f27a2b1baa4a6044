import assert from 'node:assert/strict';
import { describe, it, after } from 'node:test';
import { TestEtcd } from './etcd.js';

describe('etcd test harness', () => {
  const servers: TestEtcd[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('starts a server, survives kill -9 and restart with its data, and compacts', async () => {
    const etcd = await TestEtcd.start();
    servers.push(etcd);
    const c = await etcd.client();
    await c.put('k').value('v1');
    await c.put('k').value('v2');
    await etcd.kill();
    assert.equal(etcd.proc.isRunning(), false);
    await assert.rejects(etcd.client({ dialTimeout: 500 }).then((x) => x.get('k').string()));
    await etcd.start();
    const c2 = await etcd.client();
    assert.equal(await c2.get('k').string(), 'v2');
    const rev = await etcd.compact();
    assert.ok(rev >= 3);
    await assert.rejects(c2.kv.range({ key: Buffer.from('k'), revision: String(rev - 1) }), /compacted/);
  });

  it('serves TLS with client-certificate auth and refuses a client without a certificate', async () => {
    const etcd = await TestEtcd.start({ tls: true });
    servers.push(etcd);
    assert.match(etcd.endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
    const c = await etcd.client();
    await c.put('secure').value('yes');
    assert.equal(await c.get('secure').string(), 'yes');
    const { readFile } = await import('node:fs/promises');
    const { Etcd3 } = await import('etcd3');
    const anon = new Etcd3({
      hosts: [etcd.endpoint],
      credentials: { rootCertificate: await readFile(etcd.tls!.caFile) },
      dialTimeout: 1000,
    });
    try {
      await assert.rejects(anon.get('secure').string());
    } finally {
      anon.close();
    }
  });
});
