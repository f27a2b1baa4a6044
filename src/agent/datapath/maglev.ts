/**
 * Maglev consistent hashing as Cilium builds its lookup tables: each backend gets a permutation of the table's
 * slots from two murmur3 hashes of its name (offset and skip), and the backends take turns claiming their next
 * free preferred slot until the table is full. Deterministic for a given backend list, and removing a backend
 * moves few flows of the others.
 */
import { murmur3x64128 } from './murmur3.js';

/** Cilium's default table size (a prime; --bpf-lb-maglev-table-size). */
export const MAGLEV_TABLE_SIZE = 16381;
/** Cilium's default --bpf-lb-maglev-hash-seed. */
export const MAGLEV_HASH_SEED = 'JLfvgnHc2kaSUFaI';

export class MaglevError extends Error {
  override name = 'MaglevError';
}

/** The murmur seed from the base64 hash seed (its first 4 bytes, big-endian), as Cilium derives it. */
export function murmurSeed(seed: string): number {
  const d = Buffer.from(seed, 'base64');
  if (d.length !== 12) throw new MaglevError(`Maglev hash seed must decode to 12 bytes, got ${d.length}`);
  return d.readUInt32BE(0);
}

export function offsetAndSkip(backend: string, m: number, seed: number): { offset: number; skip: number } {
  const [h1, h2] = murmur3x64128(Buffer.from(backend), seed);
  return { offset: Number(h1 % BigInt(m)), skip: Number(h2 % BigInt(m - 1)) + 1 };
}

/** The lookup table: slot -> index into `backends`. Empty for no backends. */
export function maglevTable(
  backends: readonly string[],
  m = MAGLEV_TABLE_SIZE,
  seed = murmurSeed(MAGLEV_HASH_SEED),
): Int32Array {
  const l = backends.length;
  if (l === 0) return new Int32Array(0);
  const perm = backends.map((b) => offsetAndSkip(b, m, seed));
  const next = new Int32Array(l);
  const entry = new Int32Array(m).fill(-1);
  for (let n = 0; n < m; n++) {
    const i = n % l;
    const p = perm[i]!;
    let c = (p.offset + next[i]! * p.skip) % m;
    while (entry[c]! >= 0) {
      next[i]!++;
      c = (p.offset + next[i]! * p.skip) % m;
    }
    entry[c] = i;
    next[i]!++;
  }
  return entry;
}

/** FNV-1a over a flow's text: the slot a flow hashes to. */
export function flowHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
