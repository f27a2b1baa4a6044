import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  hostAddress,
  hostRange,
  NoHostAddressError,
  podAddressCandidates,
  podAddressOf,
  requireHostAddress,
} from '../../../src/agent/datapath/host-address.js';
import { CidrError } from '../../../src/wire/ip.js';

describe('host address: pod IP <-> the loopback address the datapath uses', () => {
  it('maps 10.a.b.c to 127.a.b.c, over the whole /8', () => {
    assert.equal(hostAddress('10.1.0.5'), '127.1.0.5');
    assert.equal(hostAddress('10.0.0.0'), '127.0.0.0');
    assert.equal(hostAddress('10.255.255.255'), '127.255.255.255');
    assert.equal(hostAddress('10.42.3.1'), '127.42.3.1');
  });

  it('keeps a loopback pod IP (older clusters, 127.x CIDRs given by hand) as it is', () => {
    for (const ip of ['127.0.0.1', '127.7.0.20', '127.255.255.255', '::1'])
      assert.equal(hostAddress(ip), ip, `${ip} is its own socket address`);
  });

  it('gives no socket address to any other IP', () => {
    for (const ip of [
      '192.168.1.10',
      '172.16.0.1',
      '11.0.0.1',
      '9.255.255.255',
      '128.0.0.1',
      '0.0.0.0',
      'fd00::1',
      '::ffff:10.1.0.5',
      '::ffff:127.0.0.1',
      '',
      'not-an-ip',
      '10.1.0',
      '10.1.0.256',
    ])
      assert.equal(hostAddress(ip), undefined, `${ip} has no socket`);
  });

  it('requireHostAddress names the address and what it was for', () => {
    assert.equal(requireHostAddress('10.3.0.9', 'pod IP'), '127.3.0.9');
    assert.throws(
      () => requireHostAddress('192.168.0.7', 'pod shop/web: pod IP'),
      (err: unknown) =>
        err instanceof NoHostAddressError && err.message.includes('pod shop/web: pod IP 192.168.0.7 has no socket'),
    );
  });

  it('reads a socket peer back as the pod IPs it may stand for, the 10/8 form first', () => {
    assert.deepEqual(podAddressCandidates('127.1.0.5'), ['10.1.0.5', '127.1.0.5']);
    assert.deepEqual(podAddressCandidates('127.255.255.255'), ['10.255.255.255', '127.255.255.255']);
    assert.deepEqual(podAddressCandidates('::1'), ['::1']);
    assert.deepEqual(podAddressCandidates('192.168.1.1'), ['192.168.1.1']);
    for (const ip of ['10.1.0.5', '127.9.8.7', '127.0.0.1']) {
      const back = podAddressCandidates(hostAddress(ip)!);
      assert.ok(back.includes(ip), `${ip} -> ${hostAddress(ip)} -> ${back.join(',')}`);
    }
  });

  it('podAddressOf takes the first candidate the ipcache knows, else the address itself', () => {
    const known = new Set(['10.1.0.5', '127.2.0.5', '10.3.0.5', '127.3.0.5']);
    const has = (ip: string): boolean => known.has(ip);
    assert.equal(podAddressOf('127.1.0.5', has), '10.1.0.5', 'a pod of a cluster in 10/8');
    assert.equal(podAddressOf('127.2.0.5', has), '127.2.0.5', 'a loopback pod of an older cluster');
    assert.equal(podAddressOf('127.3.0.5', has), '10.3.0.5', 'the 10/8 form wins');
    assert.equal(podAddressOf('127.4.0.5', has), '127.4.0.5', 'unknown: the address itself');
    assert.equal(podAddressOf('127.0.0.1', has), '127.0.0.1');
  });

  it('maps a pod CIDR onto its loopback range', () => {
    const r = (cidr: string): string | undefined => hostRange(cidr)?.cidr;
    assert.equal(r('10.7.0.0/17'), '127.7.0.0/17');
    assert.equal(r('10.0.0.0/8'), '127.0.0.0/8');
    assert.equal(r('10.255.255.0/24'), '127.255.255.0/24');
    assert.equal(r('10.9.8.7/32'), '127.9.8.7/32');
    assert.equal(r('127.7.64.0/18'), '127.7.64.0/18', 'a loopback CIDR is its own range');
    for (const cidr of ['192.168.0.0/16', '172.16.0.0/12', '11.0.0.0/8', '8.0.0.0/6', '0.0.0.0/0', 'fd00::/64'])
      assert.equal(r(cidr), undefined, `${cidr} has no loopback range`);
    assert.throws(() => hostRange('10.7.0.1/17'), CidrError);
  });
});
