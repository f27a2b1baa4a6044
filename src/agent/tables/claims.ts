/**
 * A key claimed by several owners at once (the same IP announced by a local endpoint and by two remote clusters).
 * Exactly one claim is visible: the one of the best rank (local before remote), and among equal ranks the one that
 * arrived first, so an entry never flaps between owners while the first one keeps it. A shadowed claim takes over
 * as soon as the visible one is released.
 */

export interface Claim<V> {
  owner: string;
  rank: number;
  value: V;
}

export class ClaimTable<K, V> {
  /** Claims per key in arrival order; the visible one is computed from rank then position. */
  private readonly claims = new Map<K, Claim<V>[]>();

  /** Adds or replaces `owner`'s claim on `key`; a replaced claim keeps its place in the arrival order. */
  set(key: K, owner: string, rank: number, value: V): void {
    const list = this.claims.get(key);
    if (!list) {
      this.claims.set(key, [{ owner, rank, value }]);
      return;
    }
    const i = list.findIndex((c) => c.owner === owner);
    if (i >= 0) list[i] = { owner, rank, value };
    else list.push({ owner, rank, value });
  }

  /** Releases `owner`'s claim; returns whether it had one. */
  delete(key: K, owner: string): boolean {
    const list = this.claims.get(key);
    if (!list) return false;
    const i = list.findIndex((c) => c.owner === owner);
    if (i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) this.claims.delete(key);
    return true;
  }

  /** The visible claim of `key`. */
  get(key: K): Claim<V> | undefined {
    const list = this.claims.get(key);
    if (!list) return undefined;
    let best: Claim<V> | undefined;
    for (const c of list) if (!best || c.rank < best.rank) best = c;
    return best;
  }

  /** Every claim of `key`, visible first. */
  all(key: K): Claim<V>[] {
    const best = this.get(key);
    const list = this.claims.get(key) ?? [];
    return best ? [best, ...list.filter((c) => c !== best)] : [];
  }

  has(key: K): boolean {
    return this.claims.has(key);
  }

  keys(): IterableIterator<K> {
    return this.claims.keys();
  }

  /** Visible claims of every key. */
  *entries(): IterableIterator<[K, Claim<V>]> {
    for (const key of this.claims.keys()) {
      const c = this.get(key);
      if (c) yield [key, c];
    }
  }

  get size(): number {
    return this.claims.size;
  }
}
