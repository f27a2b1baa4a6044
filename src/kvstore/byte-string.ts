/**
 * Values a process holds for long (a SyncStore's desired and written content, a mirror's copy of a remote key) are
 * kept as byte strings: one char per byte (latin1), a flat string on the V8 heap, exactly as long as the value.
 *
 * A Buffer is a view: Buffer.from(string) slices a shared 8 KiB pool, and a value read from etcd slices the whole
 * gRPC response (a list page of 10k values). Holding the view holds all of it. After pod churn (100k endpoints,
 * each replaced a few times) the apiserver's 22 MiB of ipcache values pinned about 150 MiB of pool slabs.
 */

/** Bytes held as a latin1 string (char code = byte value). Branded so that text cannot be passed for it. */
export type ByteString = string & { readonly __byteString: unique symbol };

/** The UTF-8 encoding of `text` as a byte string; ASCII text (nearly every value) is its own encoding. */
export function utf8Bytes(text: string): ByteString {
  // As many UTF-8 bytes as chars: ASCII. Measuring also flattens a string built by concatenation, so the rope's
  // pieces are not what is kept.
  return (
    Buffer.byteLength(text, 'utf8') === text.length ? text : Buffer.from(text, 'utf8').toString('latin1')
  ) as ByteString;
}

/** A copy of `bytes` that does not keep the buffer it is a view into. */
export function copyBytes(bytes: Uint8Array): ByteString {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1') as ByteString;
}

export function bytesToBuffer(bytes: ByteString): Buffer {
  return Buffer.from(bytes, 'latin1');
}
