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
  /**
   * Waiting claimants in claim order (Map keeps insertion order). Created on the first contest only: a Map per
   * IP is most of the memory and GC cost of 100k uncontested claims.
   */
  waiters: Map<string, IPIdentityPair> | undefined;
}

/** The IPs one endpoint claims: a bare string for the common single address, saving a Set per endpoint. */
type ClaimedIps = string | readonly string[];

function ipsOf(c: ClaimedIps | undefined): readonly string[] {
  return c === undefined ? [] : typeof c === 'string' ? [c] : c;
}

export class IpcacheClaims {
  private readonly claims = new Map<string, Claim>();
  /** endpoint key -> the IPs it claims (owned or waiting). */
  private readonly byEndpoint = new Map<string, ClaimedIps>();

  constructor(private readonly sink: ClaimSink) {}

  get size(): number {
    return this.claims.size;
  }

  ownerOf(ip: string): string | undefined {
    return this.claims.get(ip)?.owner;
  }

  /** The endpoints waiting for `ip`, oldest first. */
  waitersOf(ip: string): string[] {
    return [...(this.claims.get(ip)?.waiters?.keys() ?? [])];
  }

  /**
   * Replaces the pairs endpoint `ep` claims: IPs it no longer has are released, new ones claimed, owned ones
   * updated in place. `preferredOwner` decides contested IPs at start-up: the owner already recorded in etcd.
   */
  set(ep: string, pairs: readonly IPIdentityPair[], preferredOwner?: (ip: string) => string | undefined): void {
    const prev = this.byEndpoint.get(ep);
    // The common cases, one address before and after, without building arrays.
    if (pairs.length === 1 && (prev === undefined || typeof prev === 'string')) {
      const pair = pairs[0]!;
      if (prev !== undefined && prev !== pair.IP) this.release(ep, prev);
      this.claim(ep, pair.IP, pair, preferredOwner?.(pair.IP));
      this.byEndpoint.set(ep, pair.IP);
      return;
    }
    const nextIps = pairs.map((p) => p.IP);
    for (const ip of ipsOf(prev)) if (!nextIps.includes(ip)) this.release(ep, ip);
    const kept: string[] = [];
    for (const pair of pairs) {
      // The same address listed twice: claimed once, the last entry's value counts.
      if (!kept.includes(pair.IP)) kept.push(pair.IP);
      this.claim(ep, pair.IP, pair, preferredOwner?.(pair.IP));
    }
    if (kept.length === 0) this.byEndpoint.delete(ep);
    else this.byEndpoint.set(ep, kept.length === 1 ? kept[0]! : kept);
  }

  remove(ep: string): void {
    this.set(ep, []);
  }

  private claim(ep: string, ip: string, pair: IPIdentityPair, preferred: string | undefined): void {
    const c = this.claims.get(ip);
    if (!c) {
      this.claims.set(ip, { owner: ep, pair, waiters: undefined });
      this.sink.upsert(ip, pair);
    } else if (c.owner === ep) {
      c.pair = pair;
      this.sink.upsert(ip, pair);
    } else if (preferred === ep) {
      // etcd says this endpoint held the IP before our restart: it takes the key back, the other waits.
      const waiters = new Map([[c.owner, c.pair]]);
      for (const [k, v] of c.waiters ?? []) if (k !== ep) waiters.set(k, v);
      c.waiters = waiters;
      c.owner = ep;
      c.pair = pair;
      this.sink.upsert(ip, pair);
    } else {
      (c.waiters ??= new Map()).set(ep, pair);
    }
  }

  private release(ep: string, ip: string): void {
    const c = this.claims.get(ip);
    if (!c) return;
    if (c.owner !== ep) {
      c.waiters?.delete(ep);
      return;
    }
    const next = c.waiters?.entries().next();
    if (!next || next.done) {
      this.claims.delete(ip);
      this.sink.delete(ip);
      return;
    }
    const [owner, pair] = next.value;
    c.waiters!.delete(owner);
    if (c.waiters!.size === 0) c.waiters = undefined;
    c.owner = owner;
    c.pair = pair;
    this.sink.upsert(ip, pair);
  }
}
