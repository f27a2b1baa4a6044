import type { IPIdentityPair } from '../wire/index.js';

/**
 * Who owns each IP in the ipcache. Two endpoints may claim the same IP (a pod being replaced, a stale
 * CiliumEndpoint): the first claimant keeps the key until it releases it; the others wait in claim order and the
 * oldest waiter takes over on release.
 */
export interface ClaimSink {
  upsert(ip: string, pair: IPIdentityPair): void;
  delete(ip: string): void;
}

interface Claim {
  owner: string;
  pair: IPIdentityPair;
  /** Waiting claimants in claim order (Map keeps insertion order). */
  waiters: Map<string, IPIdentityPair>;
}

export class IpcacheClaims {
  private readonly claims = new Map<string, Claim>();
  /** endpoint key -> the IPs it claims (owned or waiting). */
  private readonly byEndpoint = new Map<string, Set<string>>();

  constructor(private readonly sink: ClaimSink) {}

  get size(): number {
    return this.claims.size;
  }

  ownerOf(ip: string): string | undefined {
    return this.claims.get(ip)?.owner;
  }

  /**
   * Replaces the pairs endpoint `ep` claims: IPs it no longer has are released, new ones claimed, owned ones
   * updated in place. `preferredOwner` decides contested IPs at start-up: the owner already recorded in etcd.
   */
  set(ep: string, pairs: readonly IPIdentityPair[], preferredOwner?: (ip: string) => string | undefined): void {
    const prevIps = this.byEndpoint.get(ep);
    // The common case, a new endpoint with one address, without building maps and sets.
    if (prevIps === undefined && pairs.length === 1) {
      const pair = pairs[0]!;
      this.claim(ep, pair.IP, pair, preferredOwner?.(pair.IP));
      this.byEndpoint.set(ep, new Set([pair.IP]));
      return;
    }
    const next = new Map(pairs.map((p) => [p.IP, p]));
    for (const ip of prevIps ?? []) if (!next.has(ip)) this.release(ep, ip);
    for (const [ip, pair] of next) this.claim(ep, ip, pair, preferredOwner?.(ip));
    if (next.size > 0) this.byEndpoint.set(ep, new Set(next.keys()));
    else this.byEndpoint.delete(ep);
  }

  remove(ep: string): void {
    this.set(ep, []);
  }

  private claim(ep: string, ip: string, pair: IPIdentityPair, preferred: string | undefined): void {
    const c = this.claims.get(ip);
    if (!c) {
      this.claims.set(ip, { owner: ep, pair, waiters: new Map() });
      this.sink.upsert(ip, pair);
    } else if (c.owner === ep) {
      c.pair = pair;
      this.sink.upsert(ip, pair);
    } else if (preferred === ep) {
      // etcd says this endpoint held the IP before our restart: it takes the key back, the other waits.
      c.waiters = new Map([[c.owner, c.pair], ...[...c.waiters].filter(([k]) => k !== ep)]);
      c.owner = ep;
      c.pair = pair;
      this.sink.upsert(ip, pair);
    } else {
      c.waiters.set(ep, pair);
    }
  }

  private release(ep: string, ip: string): void {
    const c = this.claims.get(ip);
    if (!c) return;
    if (c.owner !== ep) {
      c.waiters.delete(ep);
      return;
    }
    const next = c.waiters.entries().next();
    if (next.done) {
      this.claims.delete(ip);
      this.sink.delete(ip);
      return;
    }
    const [owner, pair] = next.value;
    c.waiters.delete(owner);
    c.owner = owner;
    c.pair = pair;
    this.sink.upsert(ip, pair);
  }
}
