/**
 * MurmurHash3 x64 128-bit, as Cilium's pkg/murmur3 (the seed initialises both halves). BigInt arithmetic: it
 * runs once per backend when a Maglev table is built, never per packet.
 */

const MASK = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;

function rotl(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & MASK;
}

function mul(a: bigint, b: bigint): bigint {
  return (a * b) & MASK;
}

function fmix(k: bigint): bigint {
  k ^= k >> 33n;
  k = mul(k, 0xff51afd7ed558ccdn);
  k ^= k >> 33n;
  k = mul(k, 0xc4ceb9fe1a85ec53n);
  k ^= k >> 33n;
  return k;
}

function le64(b: Uint8Array, off: number, len = 8): bigint {
  let v = 0n;
  for (let i = len - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i] ?? 0);
  return v;
}

/** Returns [h1, h2] as unsigned 64-bit bigints. */
export function murmur3x64128(data: Uint8Array, seed: number): [bigint, bigint] {
  let h1 = BigInt(seed >>> 0);
  let h2 = h1;
  const nblocks = Math.floor(data.length / 16);
  for (let i = 0; i < nblocks; i++) {
    let k1 = le64(data, i * 16);
    let k2 = le64(data, i * 16 + 8);
    k1 = mul(rotl(mul(k1, C1), 31n), C2);
    h1 ^= k1;
    h1 = (mul((rotl(h1, 27n) + h2) & MASK, 5n) + 0x52dce729n) & MASK;
    k2 = mul(rotl(mul(k2, C2), 33n), C1);
    h2 ^= k2;
    h2 = (mul((rotl(h2, 31n) + h1) & MASK, 5n) + 0x38495ab5n) & MASK;
  }
  const tail = nblocks * 16;
  const rest = data.length & 15;
  if (rest > 8) {
    const k2 = le64(data, tail + 8, rest - 8);
    h2 ^= mul(rotl(mul(k2, C2), 33n), C1);
  }
  if (rest > 0) {
    const k1 = le64(data, tail, Math.min(rest, 8));
    h1 ^= mul(rotl(mul(k1, C1), 31n), C2);
  }
  const len = BigInt(data.length);
  h1 ^= len;
  h2 ^= len;
  h1 = (h1 + h2) & MASK;
  h2 = (h2 + h1) & MASK;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = (h1 + h2) & MASK;
  h2 = (h2 + h1) & MASK;
  return [h1, h2];
}
