import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/kvstore/client.js';
import { ensureClustermeshUsers } from '../../src/kvstore/users.js';
import { createCertificateAuthority, issueCertificate } from '../../src/mesh/certificates.js';
import { TestEtcd } from '../harness/etcd.js';

const DENIED = /permission denied|user name is empty|authentication failed|not found/i;

describe('clustermesh etcd users and roles (real etcd, TLS + client-cert auth)', () => {
  let etcd: TestEtcd;
  let dir: string;
  const clients: Etcd3[] = [];

  async function clientAs(cn: string): Promise<Etcd3> {
    const files = await etcd.tls!.issueClient(cn);
    const c = createEtcdClient({
      endpoints: [etcd.endpoint],
      tls: { ca: etcd.tls!.caFile, cert: files.certFile, key: files.keyFile },
      requestTimeoutMs: 5_000,
    });
    clients.push(c);
    return c;
  }

  before(async () => {
    etcd = await TestEtcd.start({ tls: true });
    dir = await mkdtemp(path.join(tmpdir(), 'cmesh-test-users-'));
    const root = await etcd.client();
    // Keys written before auth is on, as the apiserver and a kvstoremesh would.
    await root.put('cilium/state/nodes/v1/east/n1').value('{}');
    await root.put('cilium/.heartbeat').value('now');
    await root.put('cilium/cluster-config/east').value('{"id":1}');
    await root.put('cilium/cluster-config/west').value('{"id":2}');
    await root.put('cilium/synced/east/cilium/state/nodes/v1').value('now');
    await root.put('cilium/synced/west/cilium/cache/nodes/v1').value('now');
    await root.put('cilium/cache/nodes/v1/west/n9').value('{}');
    await ensureClustermeshUsers(root, 'east');
  });

  after(async () => {
    for (const c of clients) c.close();
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is idempotent: running the setup again on an auth-enabled etcd succeeds', async () => {
    const admin = await clientAs('admin-east');
    await ensureClustermeshUsers(admin, 'east');
    await admin.put('cilium/state/ip/v1/default/10.1.0.1').value('{}');
    assert.equal(await admin.get('cilium/state/ip/v1/default/10.1.0.1').string(), '{}');
  });

  for (const user of ['remote-east', 'remote']) {
    it(`${user} reads cilium/state/, the heartbeat and its own cluster's config and canaries, nothing else`, async () => {
      const c = await clientAs(user);
      assert.equal(await c.get('cilium/state/nodes/v1/east/n1').string(), '{}');
      assert.deepEqual(await c.getAll().prefix('cilium/state/nodes/v1/').keys(), ['cilium/state/nodes/v1/east/n1']);
      assert.equal(await c.get('cilium/.heartbeat').string(), 'now');
      assert.equal(await c.get('cilium/cluster-config/east').string(), '{"id":1}');
      assert.equal(await c.get('cilium/synced/east/cilium/state/nodes/v1').string(), 'now');
      await assert.rejects(c.get('cilium/cluster-config/west').string(), DENIED);
      await assert.rejects(c.getAll().prefix('cilium/cluster-config/').keys(), DENIED);
      await assert.rejects(c.get('cilium/synced/west/cilium/cache/nodes/v1').string(), DENIED);
      await assert.rejects(c.get('cilium/cache/nodes/v1/west/n9').string(), DENIED);
      for (const key of ['cilium/state/nodes/v1/east/evil', 'cilium/.heartbeat', 'cilium/cluster-config/east', 'x']) {
        await assert.rejects(c.put(key).value('evil').exec(), DENIED, `write to ${key}`);
      }
      await assert.rejects(c.delete().key('cilium/state/nodes/v1/east/n1').exec(), DENIED);
    });
  }

  it('local-<cluster> reads the cache, cluster configs and canaries but not cilium/state/, and writes nothing', async () => {
    const c = await clientAs('local-east');
    assert.equal(await c.get('cilium/cache/nodes/v1/west/n9').string(), '{}');
    assert.equal(await c.get('cilium/cluster-config/west').string(), '{"id":2}');
    assert.equal(await c.get('cilium/synced/west/cilium/cache/nodes/v1').string(), 'now');
    await assert.rejects(c.get('cilium/state/nodes/v1/east/n1').string(), DENIED);
    await assert.rejects(c.put('cilium/cache/nodes/v1/west/n10').value('{}').exec(), DENIED);
  });

  it('externalworkload reads everything but writes only under noderegister and the init lock', async () => {
    const c = await clientAs('externalworkload');
    assert.equal(await c.get('cilium/state/nodes/v1/east/n1').string(), '{}');
    await c.put('cilium/state/noderegister/v1/vm1').value('{"Name":"vm1"}');
    await c.put('cilium/.initlock/abc').value('x');
    assert.equal(await c.get('cilium/state/noderegister/v1/vm1').string(), '{"Name":"vm1"}');
    await assert.rejects(c.put('cilium/state/nodes/v1/east/vm1').value('{}').exec(), DENIED);
    await assert.rejects(c.put('cilium/state/noderegister/v2/vm1').value('{}').exec(), DENIED);
    await assert.rejects(c.put('cilium/cluster-config/east').value('{}').exec(), DENIED);
  });

  it('a certificate whose CN is not a user is refused', async () => {
    const c = await clientAs('remote-west');
    await assert.rejects(c.get('cilium/state/nodes/v1/east/n1').string(), DENIED);
  });

  it('refuses a client without a certificate and a client whose certificate is from another CA', async () => {
    const anon = createEtcdClient({
      endpoints: [etcd.endpoint],
      tls: { ca: etcd.tls!.caFile },
      requestTimeoutMs: 3_000,
    });
    clients.push(anon);
    await assert.rejects(anon.get('cilium/state/nodes/v1/east/n1').string());

    const otherCa = await createCertificateAuthority('other-ca');
    const forged = await issueCertificate(otherCa, { commonName: 'admin-east' });
    await writeFile(path.join(dir, 'forged.crt'), forged.certPem);
    await writeFile(path.join(dir, 'forged.key'), forged.keyPem);
    const intruder = createEtcdClient({
      endpoints: [etcd.endpoint],
      tls: { ca: etcd.tls!.caFile, cert: path.join(dir, 'forged.crt'), key: path.join(dir, 'forged.key') },
      requestTimeoutMs: 3_000,
    });
    clients.push(intruder);
    await assert.rejects(intruder.get('cilium/state/nodes/v1/east/n1').string());
    await assert.rejects(intruder.put('cilium/state/nodes/v1/east/evil').value('x').exec());
    const admin = await clientAs('admin-east');
    assert.equal(await admin.get('cilium/state/nodes/v1/east/evil').string(), null);
  });
});
