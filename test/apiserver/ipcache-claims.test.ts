import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IpcacheClaims } from '../../src/apiserver/ipcache-claims.js';
import type { IPIdentityPair } from '../../src/wire/index.js';

function pair(ip: string, id: number, pod = 'p'): IPIdentityPair {
  return { IP: ip, HostIP: '', ID: id, Key: 0, Metadata: '', K8sNamespace: 'ns', K8sPodName: pod };
}

/** A sink that records what the ipcache would hold, and every write. */
function recordingClaims(): { claims: IpcacheClaims<IPIdentityPair>; table: Map<string, number>; writes: string[] } {
  const table = new Map<string, number>();
  const pairs = new Map<string, IPIdentityPair>();
  const writes: string[] = [];
  const claims = new IpcacheClaims<IPIdentityPair>({
    upsert: (ip, p) => {
      table.set(ip, p.ID);
      pairs.set(ip, p);
      writes.push(`+${ip}=${p.ID}`);
    },
    delete: (ip) => {
      table.delete(ip);
      pairs.delete(ip);
      writes.push(`-${ip}`);
    },
    published: (ip) => pairs.get(ip),
  });
  return { claims, table, writes };
}

describe('IpcacheClaims', () => {
  it('gives a contested IP to the first claimant and hands it to the oldest waiter on release', () => {
    const { claims, table } = recordingClaims();
    claims.set('ns/a', [pair('10.0.0.1', 1)]);
    claims.set('ns/b', [pair('10.0.0.1', 2)]);
    claims.set('ns/c', [pair('10.0.0.1', 3)]);
    assert.equal(claims.ownerOf('10.0.0.1'), 'ns/a');
    assert.deepEqual(claims.waitersOf('10.0.0.1'), ['ns/b', 'ns/c']);
    assert.equal(table.get('10.0.0.1'), 1);
    claims.remove('ns/a');
    assert.equal(claims.ownerOf('10.0.0.1'), 'ns/b');
    assert.equal(table.get('10.0.0.1'), 2);
    claims.remove('ns/c'); // a waiter leaving changes nothing in the table
    assert.deepEqual(claims.waitersOf('10.0.0.1'), []);
    claims.remove('ns/b');
    assert.equal(table.has('10.0.0.1'), false, 'the last claimant gone, the key is deleted');
    assert.equal(claims.size, 0);
  });

  it('moves an endpoint from one address to another, releasing the old one', () => {
    const { claims, table, writes } = recordingClaims();
    claims.set('ns/a', [pair('10.0.0.1', 1)]);
    claims.set('ns/a', [pair('10.0.0.2', 1)]);
    assert.deepEqual([...table.keys()], ['10.0.0.2']);
    assert.deepEqual(writes, ['+10.0.0.1=1', '-10.0.0.1', '+10.0.0.2=1']);
  });

  it('handles dual-stack endpoints, shrinking to one address and growing back', () => {
    const { claims, table } = recordingClaims();
    claims.set('ns/a', [pair('10.0.0.1', 1), pair('fd00::1', 1)]);
    claims.set('ns/b', [pair('fd00::1', 2)]);
    claims.set('ns/a', [pair('10.0.0.1', 5)]);
    assert.deepEqual(Object.fromEntries(table), { '10.0.0.1': 5, 'fd00::1': 2 });
    claims.set('ns/a', [pair('10.0.0.3', 5), pair('fd00::1', 5)]);
    assert.equal(claims.ownerOf('fd00::1'), 'ns/b', 'the address went to b while a had let it go');
    assert.deepEqual(claims.waitersOf('fd00::1'), ['ns/a']);
    assert.equal(table.has('10.0.0.1'), false);
    claims.remove('ns/b');
    assert.deepEqual(Object.fromEntries(table), { '10.0.0.3': 5, 'fd00::1': 5 });
  });

  it('lets the owner recorded in etcd take a contested IP back at start-up', () => {
    const { claims, table } = recordingClaims();
    claims.set('ns/new', [pair('10.0.0.9', 7)]);
    claims.set('ns/old', [pair('10.0.0.9', 8)], () => 'ns/old');
    assert.equal(claims.ownerOf('10.0.0.9'), 'ns/old');
    assert.deepEqual(claims.waitersOf('10.0.0.9'), ['ns/new']);
    assert.equal(table.get('10.0.0.9'), 8);
    claims.remove('ns/old');
    assert.equal(claims.ownerOf('10.0.0.9'), 'ns/new', 'the displaced endpoint takes the IP once it is free');
    assert.equal(table.get('10.0.0.9'), 7, 'with its own pair');
  });

  it('claims an address listed twice once, with the last value', () => {
    const { claims, table } = recordingClaims();
    claims.set('ns/a', [pair('10.0.0.1', 1), pair('10.0.0.1', 2)]);
    assert.equal(table.get('10.0.0.1'), 2);
    claims.remove('ns/a');
    assert.equal(claims.size, 0);
    assert.equal(table.size, 0);
  });
});
