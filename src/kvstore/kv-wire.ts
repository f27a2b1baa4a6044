/**
 * Protobuf encoding of the two etcd calls on the hot paths: a Range page (every list: 100k keys at start-up) and a
 * Txn of puts and deletes (every SyncStore batch). etcd3 goes through protobufjs with `longs: String` and
 * `defaults: true`, which turns every KeyValue into a message object, four Longs and four decimal strings, and
 * every put into two message objects and a parsed lease Long; that was a third of the apiserver's CPU time at
 * start-up. These functions read and write the wire format (etcd's api/etcdserverpb/rpc.proto and
 * api/mvccpb/kv.proto) directly. Unknown fields are skipped, as protobuf requires.
 */
import type { ByteString } from './byte-string.js';
import type { KeyValue } from './types.js';

const EMPTY = Buffer.alloc(0);

/** Wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

export class KvWireError extends Error {
  override name = 'KvWireError';
}

// ---- encoding ----

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    buf[off++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[off++] = n;
  return off;
}

/** The varint bytes of a signed 64-bit integer given in decimal (lease IDs exceed 2^53). */
export function int64Varint(decimal: string): Buffer {
  let v = BigInt.asUintN(64, BigInt(decimal));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

/** A put (value set) or a delete (value undefined) of one key, as a SyncStore batch holds them. */
export interface TxnOp {
  key: string;
  /** A byte string is written byte for byte (latin1); both have one element per byte, so length is the size. */
  value: Buffer | ByteString | undefined;
}

/**
 * A TxnRequest with no compares whose success branch is `ops`: PutRequest{key, value, lease} for each put,
 * DeleteRangeRequest{key} for each delete. `lease` is the decimal lease ID, or undefined for none. Every key is
 * `keyPrefix` followed by the op's key (a store's prefix, written without building each full key string).
 */
export function encodePutDeleteTxn(
  ops: readonly TxnOp[],
  lease: string | undefined,
  keyPrefix: Buffer = EMPTY,
): Buffer {
  const leaseBytes = lease === undefined || lease === '0' ? undefined : int64Varint(lease);
  const prefixLen = keyPrefix.length;
  const leaseField = leaseBytes ? 1 + leaseBytes.length : 0;
  const keyLens = new Array<number>(ops.length);
  const bodyLens = new Array<number>(ops.length);
  let total = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const keyLen = prefixLen + Buffer.byteLength(op.key);
    keyLens[i] = keyLen;
    // PutRequest / DeleteRangeRequest body.
    let body = 1 + varintSize(keyLen) + keyLen;
    if (op.value !== undefined) body += 1 + varintSize(op.value.length) + op.value.length + leaseField;
    bodyLens[i] = body;
    // RequestOp{request_put | request_delete_range: body}, inside TxnRequest.success.
    const requestOp = 1 + varintSize(body) + body;
    total += 1 + varintSize(requestOp) + requestOp;
  }
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const body = bodyLens[i]!;
    const keyLen = keyLens[i]!;
    const requestOp = 1 + varintSize(body) + body;
    buf[off++] = (2 << 3) | LENGTH_DELIMITED; // TxnRequest.success
    off = writeVarint(buf, off, requestOp);
    // RequestOp.request_put = 2, RequestOp.request_delete_range = 3
    buf[off++] = ((op.value !== undefined ? 2 : 3) << 3) | LENGTH_DELIMITED;
    off = writeVarint(buf, off, body);
    buf[off++] = (1 << 3) | LENGTH_DELIMITED; // key
    off = writeVarint(buf, off, keyLen);
    if (prefixLen > 0) off += keyPrefix.copy(buf, off);
    off += buf.write(op.key, off, keyLen - prefixLen, 'utf8');
    if (op.value !== undefined) {
      buf[off++] = (2 << 3) | LENGTH_DELIMITED; // PutRequest.value
      off = writeVarint(buf, off, op.value.length);
      off += typeof op.value === 'string' ? buf.write(op.value, off, 'latin1') : op.value.copy(buf, off);
      if (leaseBytes) {
        buf[off++] = (3 << 3) | VARINT; // PutRequest.lease
        off += leaseBytes.copy(buf, off);
      }
    }
  }
  if (off !== total) throw new KvWireError(`txn encoding wrote ${off} bytes, expected ${total}`);
  return buf;
}

export interface RangeRequest {
  key: Buffer;
  rangeEnd: Buffer;
  /** 0: no limit. */
  limit?: number;
  /** 0: the current revision. */
  revision?: number;
}

export function encodeRangeRequest(req: RangeRequest): Buffer {
  const limit = req.limit ?? 0;
  const revision = req.revision ?? 0;
  const size =
    1 +
    varintSize(req.key.length) +
    req.key.length +
    1 +
    varintSize(req.rangeEnd.length) +
    req.rangeEnd.length +
    (limit > 0 ? 1 + varintSize(limit) : 0) +
    (revision > 0 ? 1 + varintSize(revision) : 0);
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  buf[off++] = (1 << 3) | LENGTH_DELIMITED;
  off = writeVarint(buf, off, req.key.length);
  off += req.key.copy(buf, off);
  buf[off++] = (2 << 3) | LENGTH_DELIMITED;
  off = writeVarint(buf, off, req.rangeEnd.length);
  off += req.rangeEnd.copy(buf, off);
  if (limit > 0) {
    buf[off++] = (3 << 3) | VARINT;
    off = writeVarint(buf, off, limit);
  }
  if (revision > 0) {
    buf[off++] = (4 << 3) | VARINT;
    off = writeVarint(buf, off, revision);
  }
  return buf;
}

// ---- decoding ----

/** A cursor over one message. */
class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint as a number; exact up to 2^53, which revisions and counts never reach. */
  varint(): number {
    const buf = this.buf;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new KvWireError('truncated varint');
      const b = buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new KvWireError('varint longer than 10 bytes');
  }

  /** A 64-bit varint as a decimal string of the signed value (lease IDs). */
  int64String(): string {
    const start = this.pos;
    const n = this.varint();
    if (n < Number.MAX_SAFE_INTEGER) return String(n);
    let v = 0n;
    for (let i = this.pos - 1; i >= start; i--) v = (v << 7n) | BigInt(this.buf[i]! & 0x7f);
    return BigInt.asIntN(64, v).toString();
  }

  /** Start and end of a length-delimited field's bytes; the cursor moves past them. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw new KvWireError('length-delimited field runs past the end of its message');
    this.pos = end;
    return [start, end];
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.pos += 8;
        break;
      case LENGTH_DELIMITED:
        this.span();
        return;
      case FIXED32:
        this.pos += 4;
        break;
      default:
        throw new KvWireError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new KvWireError('fixed-size field runs past the end of its message');
  }
}

/** ResponseHeader.revision (field 3); the other fields are of no use to us. */
function headerRevision(buf: Buffer, start: number, end: number): number {
  const r = new Reader(buf, start, end);
  let revision = 0;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === ((3 << 3) | VARINT)) revision = r.varint();
    else r.skip(tag & 7);
  }
  return revision;
}

function decodeKeyValue(buf: Buffer, start: number, end: number, keySpan: [number, number]): KeyValue {
  const r = new Reader(buf, start, end);
  let key = '';
  let value: Buffer | undefined;
  let createRevision = 0;
  let modRevision = 0;
  let lease = '0';
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | LENGTH_DELIMITED: {
        const [s, e] = r.span();
        key = buf.toString('utf8', s, e);
        keySpan[0] = s;
        keySpan[1] = e;
        break;
      }
      case (2 << 3) | VARINT:
        createRevision = r.varint();
        break;
      case (3 << 3) | VARINT:
        modRevision = r.varint();
        break;
      case (5 << 3) | LENGTH_DELIMITED: {
        const [s, e] = r.span();
        value = buf.subarray(s, e);
        break;
      }
      case (6 << 3) | VARINT:
        lease = r.int64String();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return { key, value: value ?? Buffer.alloc(0), modRevision, createRevision, lease };
}

export interface RangeResult {
  /** The store's revision when the range was served. */
  revision: number;
  /** Values are views into the response message (no copy). */
  kvs: KeyValue[];
  /** The last key's bytes as etcd sent them (a key string may not round-trip bytes that are not UTF-8). */
  lastKey: Buffer | undefined;
  more: boolean;
  count: number;
}

export function decodeRangeResponse(buf: Buffer): RangeResult {
  const r = new Reader(buf, 0, buf.length);
  const out: RangeResult = { revision: 0, kvs: [], lastKey: undefined, more: false, count: 0 };
  const keySpan: [number, number] = [0, 0];
  while (r.pos < buf.length) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | LENGTH_DELIMITED: {
        const [s, e] = r.span();
        out.revision = headerRevision(buf, s, e);
        break;
      }
      case (2 << 3) | LENGTH_DELIMITED: {
        const [s, e] = r.span();
        out.kvs.push(decodeKeyValue(buf, s, e, keySpan));
        break;
      }
      case (3 << 3) | VARINT:
        out.more = r.varint() !== 0;
        break;
      case (4 << 3) | VARINT:
        out.count = r.varint();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  if (out.kvs.length > 0) out.lastKey = Buffer.from(buf.subarray(keySpan[0], keySpan[1]));
  return out;
}

export interface TxnResult {
  revision: number;
  succeeded: boolean;
}

/** TxnResponse: the header's revision and `succeeded`; the per-op responses (empty for puts) are skipped. */
export function decodeTxnResponse(buf: Buffer): TxnResult {
  const r = new Reader(buf, 0, buf.length);
  const out: TxnResult = { revision: 0, succeeded: false };
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === ((1 << 3) | LENGTH_DELIMITED)) {
      const [s, e] = r.span();
      out.revision = headerRevision(buf, s, e);
    } else if (tag === ((2 << 3) | VARINT)) out.succeeded = r.varint() !== 0;
    else r.skip(tag & 7);
  }
  return out;
}
