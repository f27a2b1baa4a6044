import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterDirectory } from '../../src/agent/tables/cluster-directory.js';
import { IdentityCache } from '../../src/agent/tables/identity-cache.js';
import { Ipcache, normalizePrefix } from '../../src/agent/tables/ipcache.js';
import type { IPIdentityPair } from '../../src/wire/index.js';

function pair(ip: string, id: number, extra: Partial<IPIdentityPair> = {}): IPIdentityPair {
  return { IP: ip, HostIP: '172.16.0.1', ID: id, Key: 0, Metadata: '', ...extra };
}

function owner(c: Ipcache, key: string): string | undefined {
  const e = c.get(key);
  return e ? `${e.source}:${e.cluster}:${e.identity}` : undefined;
}

describe('Ipcache', () => {
  const dir = (): ClusterDirectory => new ClusterDirectory('c1', 1, 255);

  it('normalizes host and CIDR keys', () => {
    assert.equal(normalizePrefix('10.1.2.3'), '10.1.2.3/32');
    assert.equal(normalizePrefix('10.1.2.3/16'), '10.1.0.0/16');
    assert.equal(normalizePrefix('fd00::0:1'), 'fd00::1/128');
    assert.throws(() => normalizePrefix('nope'), /not an IP/);
  });

  it('a local endpoint wins over remotes; among remotes the first in keeps it', () => {
    const c = new Ipcache(dir());
    c.upsertRemote('c2', '10.9.0.1', pair('10.9.0.1', 131073));
    c.upsertRemote('c3', '10.9.0.1', pair('10.9.0.1', 196609));
    assert.equal(owner(c, '10.9.0.1'), 'remote:c2:131073');
    // An update of the shadowed claim does not take the entry over.
    c.upsertRemote('c3', '10.9.0.1', pair('10.9.0.1', 196610));
    assert.equal(owner(c, '10.9.0.1'), 'remote:c2:131073');
    c.upsertLocal('test/pod-a', [pair('10.9.0.1', 65537, { K8sNamespace: 'test', K8sPodName: 'pod-a' })]);
    assert.equal(owner(c, '10.9.0.1'), 'local:c1:65537');
    assert.equal(c.get('10.9.0.1')?.pod, 'pod-a');
    c.deleteRemote('c2', '10.9.0.1');
    assert.equal(owner(c, '10.9.0.1'), 'local:c1:65537');
    c.deleteLocal('test/pod-a');
    assert.equal(owner(c, '10.9.0.1'), 'remote:c3:196610');
    assert.equal(c.claims('10.9.0.1').length, 1);
    c.deleteRemote('c3', '10.9.0.1');
    assert.equal(c.get('10.9.0.1'), undefined);
    assert.equal(c.size, 0);
  });

  it('a local endpoint update releases the addresses it no longer has', () => {
    const c = new Ipcache(dir());
    c.upsertLocal('test/a', [pair('10.1.0.5', 65537), pair('fd00::5', 65537)]);
    c.upsertRemote('c2', '10.1.0.5', pair('10.1.0.5', 131073));
    assert.equal(c.size, 2);
    c.upsertLocal('test/a', [pair('10.1.0.6', 65537)]);
    assert.equal(owner(c, '10.1.0.5'), 'remote:c2:131073');
    assert.equal(owner(c, '10.1.0.6'), 'local:c1:65537');
    assert.equal(c.get('fd00::5'), undefined);
    assert.deepEqual(
      c.list().map((e) => e.prefix),
      ['10.1.0.5/32', '10.1.0.6/32'],
    );
  });

  it('looks up the longest prefix', () => {
    const c = new Ipcache(dir());
    c.upsertRemote('c2', '10.0.0.0/8', pair('10.0.0.0', 2, { Mask: '/wAAAA==' }));
    c.upsertRemote('c2', '10.2.0.0/16', pair('10.2.0.0', 131074, { Mask: '//8AAA==' }));
    c.upsertRemote('c2', '10.2.0.7', pair('10.2.0.7', 131075));
    assert.equal(c.lookup('10.2.0.7')?.identity, 131075);
    assert.equal(c.lookup('10.2.9.9')?.identity, 131074);
    assert.equal(c.lookup('10.3.0.1')?.identity, 2);
    assert.equal(c.lookup('11.0.0.1'), undefined);
    c.deleteRemote('c2', '10.2.0.0/16');
    assert.equal(c.lookup('10.2.9.9')?.identity, 2);
    assert.equal(c.lookup('fd00::1'), undefined);
  });

  it('reports cluster IDs: known ones, else from the identity', () => {
    const d = dir();
    const c = new Ipcache(d);
    c.upsertRemote('c2', '10.2.0.7', pair('10.2.0.7', 131075));
    assert.equal(c.get('10.2.0.7')?.clusterID, 2);
    d.learn('c2', 7);
    assert.equal(c.get('10.2.0.7')?.clusterID, 7);
  });
});

describe('IdentityCache', () => {
  it('holds reserved, local and remote identities with precedence', () => {
    const ids = new IdentityCache(new ClusterDirectory('c1', 1, 255));
    assert.deepEqual(ids.get(6)?.labels, ['reserved:remote-node']);
    assert.equal(ids.get(0), undefined);
    const labels = [
      { source: 'k8s', key: 'app', value: 'echo' },
      { source: 'k8s', key: 'io.cilium.k8s.policy.cluster', value: 'c2' },
    ];
    ids.upsertRemote('c2', 131073, labels);
    assert.deepEqual(ids.get(131073), {
      id: 131073,
      labels: ['k8s:app=echo', 'k8s:io.cilium.k8s.policy.cluster=c2'],
      cluster: 'c2',
      clusterID: 2,
      source: 'remote',
    });
    // A remote cannot redefine a reserved identity.
    ids.upsertRemote('c2', 6, labels);
    assert.equal(ids.get(6)?.source, 'reserved');
    ids.upsertLocal(65537, [{ source: 'k8s', key: 'app', value: 'web' }]);
    assert.equal(ids.get(65537)?.cluster, 'c1');
    ids.deleteRemote('c2', 131073);
    assert.equal(ids.get(131073), undefined);
    assert.ok(ids.list().every((v, i, a) => i === 0 || a[i - 1]!.id < v.id));
  });
});
