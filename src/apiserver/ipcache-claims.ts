/** What an endpoint claims for one address: the address and what its key would hold (a pair, or its encoding). */
export interface ClaimedEntry {
  readonly IP: string;
}

export interface ClaimSink<E extends ClaimedEntry> {
  upsert(ip: string, entry: E): void;
  delete(ip: string): void;
  /** The entry last upserted for `ip` (the owner's): needed only when another endpoint takes the IP over. */
  published(ip: string): E | undefined;
}

/** A contested IP: its owner and the endpoints waiting for it, in claim order (Map keeps insertion order). */
interface Contest<E> {
  owner: string;
  waiters: Map<string, E>;
}

/**
 * An uncontested IP is just its owner's key; the owner's entry lives in the sink. Nearly every IP is uncontested,
 * and an object per IP (with the entry it would keep) was a tenth of the apiserver's heap at 100k endpoints.
 */
type Claim<E> = string | Contest<E>;

const ownerOf = <E>(c: Claim<E>): string => (typeof c === 'string' ? c : c.owner);

/** The IPs one endpoint claims: a bare string for the common single address, saving a Set per endpoint. */
type ClaimedIps = string | readonly string[];

function ipsOf(c: ClaimedIps | undefined): readonly string[] {
  return c === undefined ? [] : typeof c === 'string' ? [c] : c;
}

/**
 * Who owns each IP in the ipcache. Two endpoints may claim the same IP (a pod being replaced, a stale
 * CiliumEndpoint): the first claimant keeps the key until it releases it; the others wait in claim order and the
 * oldest waiter takes over on release.
 */
export class IpcacheClaims<E extends ClaimedEntry> {
  private readonly claims = new Map<string, Claim<E>>();
  /** endpoint key -> the IPs it claims (owned or waiting). */
  private readonly byEndpoint = new Map<string, ClaimedIps>();

  constructor(private readonly sink: ClaimSink<E>) {}

  get size(): number {
    return this.claims.size;
  }

  ownerOf(ip: string): string | undefined {
    const c = this.claims.get(ip);
    return c === undefined ? undefined : ownerOf(c);
  }

  /** The endpoints waiting for `ip`, oldest first. */
  waitersOf(ip: string): string[] {
    const c = this.claims.get(ip);
    return c === undefined || typeof c === 'string' ? [] : [...c.waiters.keys()];
  }

  /**
   * Replaces the entries endpoint `ep` claims: IPs it no longer has are released, new ones claimed, owned ones
   * updated in place. `preferredOwner` decides contested IPs at start-up: the owner already recorded in etcd.
   */
  set(ep: string, entries: readonly E[], preferredOwner?: (ip: string) => string | undefined): void {
    const prev = this.byEndpoint.get(ep);
    // The common cases, one address before and after, without building arrays.
    if (entries.length === 1 && (prev === undefined || typeof prev === 'string')) {
      const entry = entries[0]!;
      if (prev !== undefined && prev !== entry.IP) this.release(ep, prev);
      this.claim(ep, entry.IP, entry, preferredOwner);
      this.byEndpoint.set(ep, entry.IP);
      return;
    }
    const nextIps = entries.map((p) => p.IP);
    for (const ip of ipsOf(prev)) if (!nextIps.includes(ip)) this.release(ep, ip);
    const kept: string[] = [];
    for (const entry of entries) {
      // The same address listed twice: claimed once, the last entry's value counts.
      if (!kept.includes(entry.IP)) kept.push(entry.IP);
      this.claim(ep, entry.IP, entry, preferredOwner);
    }
    if (kept.length === 0) this.byEndpoint.delete(ep);
    else this.byEndpoint.set(ep, kept.length === 1 ? kept[0]! : kept);
  }

  remove(ep: string): void {
    this.set(ep, []);
  }

  private claim(
    ep: string,
    ip: string,
    entry: E,
    /** Asked only for a contested IP: nearly every claim is uncontested. */
    preferredOwner: ((ip: string) => string | undefined) | undefined,
  ): void {
    const c = this.claims.get(ip);
    if (c === undefined) {
      this.claims.set(ip, ep);
      this.sink.upsert(ip, entry);
      return;
    }
    const owner = ownerOf(c);
    if (owner === ep) {
      this.sink.upsert(ip, entry);
    } else if (preferredOwner?.(ip) === ep) {
      // etcd says this endpoint held the IP before our restart: it takes the key back, the other waits first.
      const displaced = this.sink.published(ip);
      const waiters = new Map<string, E>(displaced ? [[owner, displaced]] : []);
      if (typeof c !== 'string') for (const [k, v] of c.waiters) if (k !== ep) waiters.set(k, v);
      this.claims.set(ip, waiters.size > 0 ? { owner: ep, waiters } : ep);
      this.sink.upsert(ip, entry);
    } else if (typeof c === 'string') {
      this.claims.set(ip, { owner, waiters: new Map([[ep, entry]]) });
    } else {
      c.waiters.set(ep, entry);
    }
  }

  private release(ep: string, ip: string): void {
    const c = this.claims.get(ip);
    if (c === undefined) return;
    if (ownerOf(c) !== ep) {
      if (typeof c !== 'string') {
        c.waiters.delete(ep);
        if (c.waiters.size === 0) this.claims.set(ip, c.owner);
      }
      return;
    }
    if (typeof c === 'string') {
      this.claims.delete(ip);
      this.sink.delete(ip);
      return;
    }
    const [owner, entry] = c.waiters.entries().next().value!;
    c.waiters.delete(owner);
    this.claims.set(ip, c.waiters.size > 0 ? { owner, waiters: c.waiters } : owner);
    this.sink.upsert(ip, entry);
  }
}
