import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  flowHash,
  MAGLEV_TABLE_SIZE,
  maglevTable,
  murmur3x64128,
  murmurSeed,
  offsetAndSkip,
} from '../../../src/agent/datapath/index.js';

const backends = (n: number, base = 0): string[] =>
  Array.from({ length: n }, (_, i) => `127.10.0.${base + i + 1}:8080/TCP`);

describe('murmur3 x64 128', () => {
  it('matches the reference vectors', () => {
    assert.deepEqual(murmur3x64128(Buffer.from(''), 0), [0n, 0n]);
    assert.deepEqual(murmur3x64128(Buffer.from('hello'), 0), [0xcbd8a7b341bd9b02n, 0x5b1e906a48ae1d19n]);
    assert.deepEqual(murmur3x64128(Buffer.from('The quick brown fox jumps over the lazy dog'), 0), [
      0xe34bbc7bbc071b6cn,
      0x7a433ca9c49a9347n,
    ]);
  });

  it("derives Cilium's murmur seed from the default hash seed", () => {
    assert.equal(murmurSeed('JLfvgnHc2kaSUFaI'), 0x24b7ef82);
    assert.throws(() => murmurSeed('AAAA'), /12 bytes/);
  });
});

describe('maglev', () => {
  it("uses Cilium's table size and fills every slot", () => {
    const t = maglevTable(backends(3));
    assert.equal(MAGLEV_TABLE_SIZE, 16381);
    assert.equal(t.length, 16381);
    assert.ok(t.every((x) => x >= 0 && x < 3));
  });

  it('is deterministic', () => {
    assert.deepEqual(maglevTable(backends(7)), maglevTable(backends(7)));
    const { offset, skip } = offsetAndSkip('127.10.0.1:8080/TCP', 16381, murmurSeed('JLfvgnHc2kaSUFaI'));
    assert.ok(offset >= 0 && offset < 16381 && skip >= 1 && skip < 16381);
  });

  it('spreads slots evenly', () => {
    const n = 10;
    const t = maglevTable(backends(n));
    const counts = new Array<number>(n).fill(0);
    for (const x of t) counts[x]!++;
    for (const c of counts) assert.ok(Math.abs(c - 16381 / n) <= 2, `count ${c}`);
  });

  it('moves few slots of the remaining backends when one leaves', () => {
    const m = 1021;
    const before = maglevTable(backends(3), m);
    const after = maglevTable(backends(2), m);
    let moved = 0;
    for (let i = 0; i < m; i++) {
      if (before[i] === 2) assert.ok(after[i] === 0 || after[i] === 1);
      else if (after[i] !== before[i]) moved++;
    }
    assert.ok((moved / m) * 100 < 1, `moved ${moved}`);
  });

  it('keeps most flows on their backend when a backend is added', () => {
    const before = maglevTable(backends(10));
    const after = maglevTable([...backends(10), '127.10.9.9:8080/TCP']);
    let moved = 0;
    for (let i = 0; i < before.length; i++) if (after[i] !== before[i] && after[i] !== 10) moved++;
    assert.ok(moved / before.length < 0.02, `moved ${moved}`);
  });

  it('hashes flows deterministically', () => {
    assert.equal(flowHash('127.10.0.1:40000'), flowHash('127.10.0.1:40000'));
    assert.notEqual(flowHash('127.10.0.1:40000'), flowHash('127.10.0.1:40001'));
  });
});
