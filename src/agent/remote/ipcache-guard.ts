/**
 * Admission of a remote cluster's ipcache entries (issue 25, hole 7). A remote may only claim addresses it announces:
 * the pod CIDRs of its nodes (`IPv4AllocCIDR`, `IPv6AllocCIDR` and the secondary ones) and its nodes' own addresses
 * (`IPAddresses`, health and ingress IPs). Anything else (8.8.8.8, a local node's address) is refused, and an address
 * of the local cluster (a local node's address, an address in a local node's pod CIDR, a local endpoint's IP) is
 * refused even when the remote announces a CIDR that covers it.
 *
 * Ordering: ipcache entries and nodes come from different stores and may arrive in any order (the ip store may list
 * before the nodes store, a node may be re-created after its pods). An entry that is not admitted is therefore held,
 * not dropped: it is re-checked whenever a node of its remote changes and admitted as soon as a node announces it.
 * An admitted entry whose announcing node goes away (deleted, or its CIDR changed) is withdrawn from the tables and
 * held again, so the tables never keep an address no node of the remote announces. Each refusal of an arriving entry
 * (upsert) is logged as a warning and counted in `cmesh_clustermesh_remote_cluster_rejected_ipcache_entries_total`,
 * by reason; a withdrawal is logged but not counted (draining a remote withdraws everything it had). Held entries
 * cost what admitted ones do; they go when the remote deletes them or is drained.
 *
 * A change on the local side (a new local node, a local pod taking an address) does not re-check entries already
 * admitted: the local claim wins in the ipcache anyway (local before remote), and the entry is re-checked at the
 * next change of its remote's nodes.
 */
import { logger } from '../../observe/logger.js';
import {
  parsePrefix,
  rangeCovers,
  wireToCidr,
  type ClusterService,
  type IPIdentityPair,
  type IpRange,
  type Label,
  type Node,
} from '../../wire/index.js';
import { remoteClusterRejectedIpcacheEntries } from './metrics.js';
import type { LocalAddressKind, RemoteClusterSink } from './remote-cluster-types.js';

const log = logger('clustermesh-ipcache-guard');

export type IpcacheRejection = 'outside-announced-cidrs' | LocalAddressKind;

interface HeldEntry {
  entry: IPIdentityPair;
  range: IpRange;
  admitted: boolean;
}

interface RemoteView {
  /** Node name -> what it announces. */
  nodes: Map<string, IpRange[]>;
  /** ipcache key -> the entry, admitted (in the inner sink) or held. */
  entries: Map<string, HeldEntry>;
}

/** The ranges a remote node announces: its pod CIDRs and its own addresses. */
export function announcedRanges(node: Node): IpRange[] {
  const out: IpRange[] = [];
  const cidrs = [
    node.IPv4AllocCIDR,
    ...(node.IPv4SecondaryAllocCIDRs ?? []),
    node.IPv6AllocCIDR,
    ...(node.IPv6SecondaryAllocCIDRs ?? []),
  ];
  for (const c of cidrs) {
    if (!c) continue;
    try {
      out.push(parsePrefix(wireToCidr(c)));
    } catch {
      // decodeNode checked it; a CIDR that does not parse announces nothing.
    }
  }
  const ips = [
    ...(node.IPAddresses ?? []).map((a) => a.IP),
    node.IPv4HealthIP,
    node.IPv6HealthIP,
    node.IPv4IngressIP,
    node.IPv6IngressIP,
  ];
  for (const ip of ips) {
    if (!ip) continue;
    try {
      out.push(parsePrefix(ip));
    } catch {
      // Not an address (e.g. a Hostname-typed entry): announces nothing.
    }
  }
  return out;
}

function sameRanges(a: readonly IpRange[], b: readonly IpRange[]): boolean {
  return a.length === b.length && a.every((r, i) => r.cidr === b[i]!.cidr);
}

export interface RemoteIpcacheGuardOptions {
  localClusterName: string;
  nodeName: string;
}

/**
 * A RemoteClusterSink in front of the tables' sink: passes everything through, but ipcache entries only once a node
 * of their remote announces them (see the module comment). The local cluster's addresses come from the inner sink's
 * `localAddressKind`, when it has one.
 */
export class RemoteIpcacheGuard implements RemoteClusterSink {
  private readonly remotes = new Map<string, RemoteView>();

  constructor(
    private readonly inner: RemoteClusterSink,
    private readonly opts: RemoteIpcacheGuardOptions,
  ) {}

  /** The number of entries of `cluster` held back (not in the tables), for status and tests. */
  heldCount(cluster: string): number {
    let n = 0;
    for (const e of this.remotes.get(cluster)?.entries.values() ?? []) if (!e.admitted) n++;
    return n;
  }

  upsertNode(cluster: string, node: Node): void {
    const v = this.view(cluster);
    const prev = v.nodes.get(node.Name);
    const next = announcedRanges(node);
    v.nodes.set(node.Name, next);
    this.inner.upsertNode(cluster, node);
    if (prev && sameRanges(prev, next)) return;
    // Something the node announced may have gone: every entry is re-checked, not only the held ones.
    const shrank = prev?.some((r) => !next.some((n) => rangeCovers(n, r))) ?? false;
    this.recheck(cluster, v, shrank);
  }

  deleteNode(cluster: string, name: string): void {
    const v = this.view(cluster);
    if (v.nodes.delete(name)) this.recheck(cluster, v, true);
    this.inner.deleteNode(cluster, name);
    this.forgetIfEmpty(cluster, v);
  }

  upsertIpcache(cluster: string, key: string, entry: IPIdentityPair): void {
    const v = this.view(cluster);
    let range: IpRange;
    try {
      range = parsePrefix(key);
    } catch {
      // validateRemoteIpcacheEntry let it through, so the tables decide (they throw on an invalid key).
      this.inner.upsertIpcache(cluster, key, entry);
      return;
    }
    const prev = v.entries.get(key);
    const reason = this.verdict(v, range);
    if (reason === undefined) {
      v.entries.set(key, { entry, range, admitted: true });
      this.inner.upsertIpcache(cluster, key, entry);
      return;
    }
    v.entries.set(key, { entry, range, admitted: false });
    if (prev?.admitted) this.inner.deleteIpcache(cluster, key);
    remoteClusterRejectedIpcacheEntries().inc({
      source_cluster: this.opts.localClusterName,
      source_node_name: this.opts.nodeName,
      target_cluster: cluster,
      reason,
    });
    log.warn(
      { cluster, key, identity: entry.ID, reason },
      reason === 'outside-announced-cidrs'
        ? 'remote ipcache entry outside the pod CIDRs and node addresses the remote announces; held until a node of the remote announces it'
        : 'remote ipcache entry claims an address of the local cluster; refused',
    );
  }

  deleteIpcache(cluster: string, key: string): void {
    const v = this.remotes.get(cluster);
    const prev = v?.entries.get(key);
    if (!v || !prev) {
      this.inner.deleteIpcache(cluster, key);
      return;
    }
    v.entries.delete(key);
    if (prev.admitted) this.inner.deleteIpcache(cluster, key);
    this.forgetIfEmpty(cluster, v);
  }

  upsertService(cluster: string, svc: ClusterService): void {
    this.inner.upsertService(cluster, svc);
  }

  deleteService(cluster: string, namespace: string, name: string): void {
    this.inner.deleteService(cluster, namespace, name);
  }

  upsertIdentity(cluster: string, id: number, labels: readonly Label[]): void {
    this.inner.upsertIdentity(cluster, id, labels);
  }

  deleteIdentity(cluster: string, id: number): void {
    this.inner.deleteIdentity(cluster, id);
  }

  setReachable(cluster: string, reachable: boolean): void {
    this.inner.setReachable(cluster, reachable);
  }

  setClusterId(cluster: string, id: number): void {
    this.inner.setClusterId(cluster, id);
  }

  localAddressKind(range: IpRange): LocalAddressKind | undefined {
    return this.inner.localAddressKind?.(range);
  }

  private verdict(v: RemoteView, range: IpRange): IpcacheRejection | undefined {
    const local = this.inner.localAddressKind?.(range);
    if (local) return local;
    for (const ranges of v.nodes.values()) for (const r of ranges) if (rangeCovers(r, range)) return undefined;
    return 'outside-announced-cidrs';
  }

  /** Admits held entries a node now announces; with `all`, also withdraws admitted ones no node announces any more. */
  private recheck(cluster: string, v: RemoteView, all: boolean): void {
    for (const [key, e] of v.entries) {
      if (e.admitted && !all) continue;
      const ok = this.verdict(v, e.range) === undefined;
      if (ok === e.admitted) continue;
      e.admitted = ok;
      if (ok) {
        log.info({ cluster, key }, 'held remote ipcache entry admitted: a node of the remote now announces it');
        this.inner.upsertIpcache(cluster, key, e.entry);
      } else {
        log.info({ cluster, key }, 'remote ipcache entry withdrawn: no node of the remote announces it any more');
        this.inner.deleteIpcache(cluster, key);
      }
    }
  }

  private view(cluster: string): RemoteView {
    let v = this.remotes.get(cluster);
    if (!v) {
      v = { nodes: new Map(), entries: new Map() };
      this.remotes.set(cluster, v);
    }
    return v;
  }

  private forgetIfEmpty(cluster: string, v: RemoteView): void {
    if (v.nodes.size === 0 && v.entries.size === 0) this.remotes.delete(cluster);
  }
}
