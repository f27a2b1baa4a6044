/**
 * The agent's ipcache: IP or CIDR -> security identity and where the address lives. Local endpoints (this cluster's
 * CiliumEndpoints) win over remote entries for the same address; among remotes, the first one in keeps it and the
 * others are shadowed until it is released (the same rule the apiserver applies between endpoints).
 */
import { canonicalPrefix, ipcacheKeyName, ipFamily, type IPIdentityPair } from '../../wire/index.js';
import { ClaimTable } from './claims.js';
import type { ClusterDirectory } from './cluster-directory.js';

const LOCAL_RANK = 0;
const REMOTE_RANK = 1;

export type EntrySource = 'local' | 'remote';

export interface IpcacheEntry {
  /** The address as a prefix: `10.1.2.3/32`, `10.8.0.0/16`, `fd00::1/128`. */
  prefix: string;
  identity: number;
  hostIP: string;
  encryptKey: number;
  cluster: string;
  clusterID: number;
  namespace: string;
  pod: string;
  source: EntrySource;
}

interface Stored {
  pair: IPIdentityPair;
  cluster: string;
  source: EntrySource;
}

export class InvalidPrefixError extends Error {
  override name = 'InvalidPrefixError';
}

/** `ip` -> `ip/32` (or /128); `ip/len` -> the network address with host bits cleared. */
export function normalizePrefix(key: string): string {
  const prefix = canonicalPrefix(key);
  if (prefix === undefined) throw new InvalidPrefixError(`"${key}" is not an IP address or CIDR`);
  return prefix;
}

function localOwner(endpoint: string): string {
  return `local:${endpoint}`;
}

function remoteOwner(cluster: string): string {
  return `remote:${cluster}`;
}

export class Ipcache {
  private readonly table = new ClaimTable<string, Stored>();
  /** Prefix lengths in use per family with their key counts, so a lookup probes only those. */
  private readonly lengths = new Map<4 | 6, Map<number, number>>([
    [4, new Map()],
    [6, new Map()],
  ]);
  /** Local endpoint -> the prefixes it claims, to release the ones it no longer has on update. */
  private readonly localClaims = new Map<string, Set<string>>();

  constructor(private readonly clusters: ClusterDirectory) {}

  /** Sets the addresses of one local endpoint (`namespace/name`), releasing those it no longer has. */
  upsertLocal(endpoint: string, pairs: readonly IPIdentityPair[]): void {
    const next = new Set<string>();
    for (const pair of pairs) {
      const prefix = normalizePrefix(ipcacheKeyName(pair));
      next.add(prefix);
      this.claim(prefix, localOwner(endpoint), LOCAL_RANK, {
        pair,
        cluster: this.clusters.localName,
        source: 'local',
      });
    }
    for (const old of this.localClaims.get(endpoint) ?? []) {
      if (!next.has(old)) this.release(old, localOwner(endpoint));
    }
    if (next.size > 0) this.localClaims.set(endpoint, next);
    else this.localClaims.delete(endpoint);
  }

  deleteLocal(endpoint: string): void {
    for (const old of this.localClaims.get(endpoint) ?? []) this.release(old, localOwner(endpoint));
    this.localClaims.delete(endpoint);
  }

  upsertRemote(cluster: string, key: string, pair: IPIdentityPair): void {
    this.claim(normalizePrefix(key), remoteOwner(cluster), REMOTE_RANK, { pair, cluster, source: 'remote' });
  }

  deleteRemote(cluster: string, key: string): void {
    this.release(normalizePrefix(key), remoteOwner(cluster));
  }

  /** The entry of exactly this IP or prefix. */
  get(key: string): IpcacheEntry | undefined {
    const prefix = normalizePrefix(key);
    const c = this.table.get(prefix);
    return c ? this.view(prefix, c.value) : undefined;
  }

  /** The entry of the longest prefix containing `ip`. */
  lookup(ip: string): IpcacheEntry | undefined {
    const family = ipFamily(ip);
    if (family === undefined) throw new InvalidPrefixError(`"${ip}" is not an IP address`);
    const lens = [...(this.lengths.get(family)?.keys() ?? [])].sort((a, b) => b - a);
    for (const len of lens) {
      const prefix = normalizePrefix(`${ip}/${len}`);
      const c = this.table.get(prefix);
      if (c) return this.view(prefix, c.value);
    }
    return undefined;
  }

  /** Visible entries, sorted by prefix. */
  list(): IpcacheEntry[] {
    const out: IpcacheEntry[] = [];
    for (const [prefix, c] of this.table.entries()) out.push(this.view(prefix, c.value));
    return out.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  }

  /** Every claim of a prefix, the visible one first (for debugging conflicts). */
  claims(key: string): IpcacheEntry[] {
    const prefix = normalizePrefix(key);
    return this.table.all(prefix).map((c) => this.view(prefix, c.value));
  }

  get size(): number {
    return this.table.size;
  }

  private claim(prefix: string, owner: string, rank: number, value: Stored): void {
    if (!this.table.has(prefix)) this.countLength(prefix, 1);
    this.table.set(prefix, owner, rank, value);
  }

  private release(prefix: string, owner: string): void {
    if (this.table.delete(prefix, owner) && !this.table.has(prefix)) this.countLength(prefix, -1);
  }

  private countLength(prefix: string, delta: number): void {
    const [ip = '', len = ''] = prefix.split('/');
    const m = this.lengths.get(ipFamily(ip) ?? 4)!;
    const n = (m.get(Number(len)) ?? 0) + delta;
    if (n > 0) m.set(Number(len), n);
    else m.delete(Number(len));
  }

  private view(prefix: string, s: Stored): IpcacheEntry {
    return {
      prefix,
      identity: s.pair.ID,
      hostIP: s.pair.HostIP,
      encryptKey: s.pair.Key,
      cluster: s.cluster,
      clusterID: this.clusters.idOf(s.cluster, s.pair.ID),
      namespace: s.pair.K8sNamespace ?? '',
      pod: s.pair.K8sPodName ?? '',
      source: s.source,
    };
  }
}
