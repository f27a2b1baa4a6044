import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { TestEtcd } from '../harness/etcd.js';
import { rangeRaw, txnPutsDeletes } from '../../src/kvstore/kv-calls.js';
import {
  KvWireError,
  decodeRangeResponse,
  decodeTxnResponse,
  encodePutDeleteTxn,
  int64Varint,
} from '../../src/kvstore/kv-wire.js';
import { keyAfter, prefixRangeEnd } from '../../src/kvstore/list-watcher.js';
import { copyBytes, utf8Bytes } from '../../src/kvstore/byte-string.js';

/** etcd3's own (protobufjs) view of a prefix, as the reference. */
async function reference(client: Etcd3, prefix: string) {
  const res = await client.kv.range({ key: Buffer.from(prefix), range_end: prefixRangeEnd(Buffer.from(prefix)) });
  return {
    revision: Number(res.header.revision),
    kvs: res.kvs.map((kv) => ({
      key: kv.key.toString(),
      value: kv.value.toString('hex'),
      modRevision: Number(kv.mod_revision),
      createRevision: Number(kv.create_revision),
      lease: kv.lease,
    })),
  };
}

describe('kv-wire codec against a real etcd', () => {
  let etcd: TestEtcd;
  let client: Etcd3;
  before(async () => {
    etcd = await TestEtcd.start();
    client = await etcd.client(); // closed by etcd.stop()
  });
  after(() => etcd.stop());

  it('writes puts (with a real, 64-bit lease ID) and deletes that etcd applies exactly', async () => {
    const lease = client.lease(60, { autoKeepAlive: false });
    const leaseId = await lease.grant();
    assert.ok(BigInt(leaseId) > BigInt(Number.MAX_SAFE_INTEGER), `etcd lease IDs exceed 2^53 (got ${leaseId})`);
    const big = Buffer.alloc(300_000, 7); // a multi-byte length varint
    const notUtf8 = Buffer.from([0x00, 0x7f, 0x80, 0xc3, 0x28, 0xff]);
    await txnPutsDeletes(
      client,
      [
        { key: 'w/a', value: Buffer.from('{"x":1}') },
        { key: 'w/ü-ключ', value: Buffer.from('utf-8 key') },
        { key: 'w/empty', value: Buffer.alloc(0) },
        { key: 'w/big', value: big },
        { key: 'w/gone', value: Buffer.from('soon deleted') },
        // Values held as byte strings: every byte value, and text that is not ASCII.
        { key: 'w/bytes', value: copyBytes(notUtf8) },
        { key: 'w/text', value: utf8Bytes('prë-ключ') },
      ],
      leaseId,
    );
    await txnPutsDeletes(client, [
      { key: 'w/gone', value: undefined },
      { key: 'w/nolease', value: Buffer.from('plain') },
    ]);
    // A key prefix written before every key (a store's prefix), here with a multi-byte character in both parts.
    await txnPutsDeletes(
      client,
      [
        { key: 'ä1', value: Buffer.from('p1') },
        { key: 'x', value: undefined },
      ],
      undefined,
      Buffer.from('w/prë/'),
    );
    await client.put('w/prë/x').value('to be deleted through the prefix');
    await txnPutsDeletes(client, [{ key: 'x', value: undefined }], undefined, Buffer.from('w/prë/'));
    const ref = await reference(client, 'w/');
    const byKey = new Map(ref.kvs.map((kv) => [kv.key, kv]));
    assert.deepEqual(
      [...byKey.keys()].sort(),
      ['w/a', 'w/big', 'w/bytes', 'w/empty', 'w/nolease', 'w/prë/ä1', 'w/text', 'w/ü-ключ'].sort(),
    );
    assert.equal(byKey.get('w/bytes')?.value, notUtf8.toString('hex'), 'a byte string is written byte for byte');
    assert.equal(byKey.get('w/text')?.value, Buffer.from('prë-ключ').toString('hex'), 'text is written as UTF-8');
    assert.equal(byKey.get('w/prë/ä1')?.value, Buffer.from('p1').toString('hex'));
    assert.equal(byKey.get('w/a')?.value, Buffer.from('{"x":1}').toString('hex'));
    assert.equal(byKey.get('w/big')?.value, big.toString('hex'));
    assert.equal(byKey.get('w/empty')?.value, '');
    assert.equal(byKey.get('w/a')?.lease, leaseId, 'the lease ID round-trips through our varint encoding');
    assert.equal(byKey.get('w/nolease')?.lease, '0');
    await lease.revoke();
  });

  it('reads ranges exactly as etcd3 decodes them, page by page', async () => {
    const lease = client.lease(60, { autoKeepAlive: false });
    const leaseId = await lease.grant();
    for (let i = 0; i < 25; i++)
      await client
        .put(`r/k${String(i).padStart(2, '0')}`)
        .value(`v${i}`)
        .lease(leaseId);
    await client.put('r/k03').value('changed'); // a later mod revision than create revision, no lease
    const ref = await reference(client, 'r/');
    const all = await rangeRaw(client, { key: Buffer.from('r/'), rangeEnd: prefixRangeEnd(Buffer.from('r/')) });
    assert.equal(all.revision, ref.revision);
    assert.equal(all.more, false);
    assert.deepEqual(
      all.kvs.map((kv) => ({ ...kv, value: kv.value.toString('hex') })),
      ref.kvs,
    );
    // Pages of 10 at the first page's revision: a later write is not seen, `more` and `count` say what is left.
    const first = await rangeRaw(client, {
      key: Buffer.from('r/'),
      rangeEnd: prefixRangeEnd(Buffer.from('r/')),
      limit: 10,
    });
    assert.equal(first.kvs.length, 10);
    assert.equal(first.more, true);
    assert.equal(first.count, 25);
    assert.equal(first.lastKey?.toString(), 'r/k09');
    await client.put('r/k99').value('after the first page');
    const second = await rangeRaw(client, {
      key: keyAfter(first.lastKey),
      rangeEnd: prefixRangeEnd(Buffer.from('r/')),
      revision: first.revision,
    });
    assert.deepEqual(
      second.kvs.map((kv) => kv.key),
      ref.kvs.slice(10).map((kv) => kv.key),
      'the rest of the prefix at the first page revision',
    );
    await lease.revoke();
  });

  it('reports etcd errors as etcd3 errors (a compacted revision)', async () => {
    await client.put('c/x').value('1');
    await client.put('c/x').value('2');
    const { header } = await client.kv.range({ key: Buffer.from('c/x') });
    await client.kv.compact({ revision: header.revision, physical: true });
    await assert.rejects(
      rangeRaw(client, { key: Buffer.from('c/'), rangeEnd: prefixRangeEnd(Buffer.from('c/')), revision: 2 }),
      /compacted/,
    );
  });
});

describe('kv-wire codec edge cases', () => {
  it('encodes lease IDs across the whole int64 range', () => {
    assert.deepEqual([...int64Varint('1')], [1]);
    assert.deepEqual([...int64Varint('300')], [0xac, 0x02]);
    assert.equal(int64Varint('9223372036854775807').length, 9);
    assert.equal(int64Varint('-1').length, 10, 'negative int64 values take ten bytes, as protobuf writes them');
  });

  it('skips unknown fields and rejects truncated messages', () => {
    // RangeResponse{ 7: varint 5 (unknown), 2: KeyValue{ key "k", 9: bytes "zz" (unknown), mod_revision 42 },
    //                8: fixed32 (unknown), more: true }
    const kv = Buffer.from([0x0a, 1, 0x6b, 0x4a, 2, 0x7a, 0x7a, 0x18, 42]);
    const msg = Buffer.from([0x38, 5, 0x12, kv.length, ...kv, 0x45, 1, 2, 3, 4, 0x18, 1]);
    const res = decodeRangeResponse(msg);
    assert.deepEqual(
      res.kvs.map((k) => [k.key, k.modRevision, k.value.length, k.lease]),
      [['k', 42, 0, '0']],
    );
    assert.equal(res.more, true);
    assert.throws(() => decodeRangeResponse(msg.subarray(0, 6)), KvWireError);
    assert.throws(() => decodeRangeResponse(Buffer.from([0x12, 0x80])), KvWireError);
  });

  it('decodes a lease ID above 2^53 and a negative one exactly', () => {
    const leaseVarint = int64Varint('7587862143557424133');
    const kv = Buffer.from([0x0a, 1, 0x6b, 0x30, ...leaseVarint]);
    const res = decodeRangeResponse(Buffer.from([0x12, kv.length, ...kv]));
    assert.equal(res.kvs[0]?.lease, '7587862143557424133');
    const neg = Buffer.from([0x30, ...int64Varint('-2')]);
    assert.equal(decodeRangeResponse(Buffer.from([0x12, neg.length, ...neg])).kvs[0]?.lease, '-2');
  });

  it('encodes an empty transaction and decodes a txn response header', () => {
    assert.equal(encodePutDeleteTxn([], undefined).length, 0);
    // TxnResponse{ header{ revision: 1234 }, succeeded: true }
    const header = Buffer.from([0x18, 0xd2, 0x09]);
    assert.deepEqual(decodeTxnResponse(Buffer.from([0x0a, header.length, ...header, 0x10, 1])), {
      revision: 1234,
      succeeded: true,
    });
  });
});
