import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ipaddr from 'ipaddr.js';
import {
  canonicalIp,
  cidrToWire,
  ipFamily,
  maskToPrefixLength,
  prefixLengthToMask,
  wireToCidr,
} from '../../src/wire/index.js';

describe('IP addresses in Go canonical form', () => {
  const table: [string, string | undefined][] = [
    ['10.70.3.21', '10.70.3.21'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['010.1.1.1', undefined],
    ['256.1.1.1', undefined],
    ['1.2.3', undefined],
    ['1.2.3.4.5', undefined],
    ['FD00:10:70:3:0:0:0:E1', 'fd00:10:70:3::e1'],
    ['fd00:10:70:3::', 'fd00:10:70:3::'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['0:0:1:0:0:1:0:0', '::1:0:0:1:0:0'],
    ['::', '::'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::ffff:102:304', '1.2.3.4'],
    ['::1.2.3.4', '::102:304'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['fe80::1%eth0', undefined],
    ['1:::2', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['12345::', undefined],
    ['1:', undefined],
    ['', undefined],
    ['hello', undefined],
  ];
  for (const [input, out] of table) {
    it(`${JSON.stringify(input)} -> ${String(out)}`, () => {
      assert.equal(canonicalIp(input), out);
    });
  }

  it('agrees with ipaddr.js on random IPv6 addresses (RFC 5952 form)', () => {
    let seed = 42;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      // Many zero groups so that compression runs and ties are exercised.
      const groups = Array.from({ length: 8 }, () => (rnd() < 0.5 ? 0 : Math.floor(rnd() * 65536)));
      if (groups.slice(0, 6).every((g, j) => g === (j === 5 ? 0xffff : 0))) continue;
      const text = groups.map((g) => g.toString(16)).join(':');
      assert.equal(canonicalIp(text), ipaddr.IPv6.parse(text).toRFC5952String(), text);
    }
  });

  it('knows the family', () => {
    assert.equal(ipFamily('1.2.3.4'), 4);
    assert.equal(ipFamily('::ffff:1.2.3.4'), 4);
    assert.equal(ipFamily('fd00::1'), 6);
    assert.equal(ipFamily('x'), undefined);
  });
});

describe('CIDRs on the wire', () => {
  it('encodes prefixes as base64 masks and back', () => {
    assert.deepEqual(cidrToWire('10.70.3.0/24'), { IP: '10.70.3.0', Mask: '////AA==' });
    assert.deepEqual(cidrToWire('fd00:10:70:3::/64'), { IP: 'fd00:10:70:3::', Mask: '//////////8AAAAAAAAAAA==' });
    assert.deepEqual(cidrToWire('10.70.3.77/24'), { IP: '10.70.3.0', Mask: '////AA==' });
    assert.deepEqual(cidrToWire('0.0.0.0/0'), { IP: '0.0.0.0', Mask: 'AAAAAA==' });
    assert.equal(wireToCidr({ IP: '10.70.3.0', Mask: '////AA==' }), '10.70.3.0/24');
    assert.equal(wireToCidr({ IP: 'fd00:10:70:3::', Mask: '//////////8AAAAAAAAAAA==' }), 'fd00:10:70:3::/64');
    for (let len = 0; len <= 128; len++) {
      assert.equal(maskToPrefixLength(prefixLengthToMask(len, 6), 6), len);
      if (len <= 32) assert.equal(maskToPrefixLength(prefixLengthToMask(len, 4), 4), len);
    }
  });

  const bad: [string, RegExp][] = [
    ['10.70.3.0', /invalid CIDR "10.70.3.0"/],
    ['10.70.3.0/33', /invalid CIDR/],
    ['10.70.3.0/024', /invalid CIDR/],
    ['fd00::/129', /invalid CIDR/],
    ['nope/8', /invalid CIDR/],
  ];
  for (const [cidr, msg] of bad)
    it(`rejects ${cidr}`, () => {
      assert.throws(() => cidrToWire(cidr), msg);
    });

  it('rejects invalid masks with the reason', () => {
    assert.throws(
      () => wireToCidr({ IP: '10.0.0.0', Mask: '/wD/AA==' }),
      /"\/wD\/AA==" is not a contiguous prefix mask/,
    );
    assert.throws(
      () => wireToCidr({ IP: '10.0.0.0', Mask: '//////////8AAAAAAAAAAA==' }),
      /has 16 bytes, expected 4 for an IPv4 address/,
    );
    assert.throws(() => wireToCidr({ IP: 'fd00::', Mask: '////AA==' }), /has 4 bytes, expected 16 for an IPv6 address/);
    assert.throws(() => wireToCidr({ IP: '10.0.0.0', Mask: '////AA' }), /is not base64/);
    assert.throws(
      () => wireToCidr({ IP: '10.0.0.300', Mask: '////AA==' }),
      /IP "10.0.0.300" is not a valid IP address/,
    );
  });
});
