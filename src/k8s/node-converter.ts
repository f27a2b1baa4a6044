import type { CiliumNode } from './types.js';
import { cidrToWire, ipFamily, NODE_SOURCE_CUSTOM_RESOURCE, type Node, type WireCidr } from '../wire/index.js';
import { WIREGUARD_PUBKEY_ANNOTATION } from './cilium-annotations.js';

export interface ClusterIdentity {
  name: string;
  id: number;
}

function emptyToNull(m: Record<string, string> | undefined): Record<string, string> | null {
  return m && Object.keys(m).length > 0 ? m : null;
}

function splitCidrs(
  cidrs: readonly string[],
  family: 4 | 6,
): { primary: WireCidr | null; secondary: WireCidr[] | null } {
  const wires = cidrs.filter((c) => ipFamily(c.split('/')[0] ?? '') === family).map(cidrToWire);
  return { primary: wires[0] ?? null, secondary: wires.length > 1 ? wires.slice(1) : null };
}

/** CiliumNode -> Node, as Cilium's ParseCiliumNode builds it for the kvstore. */
export function ciliumNodeToNode(cn: CiliumNode, cluster: ClusterIdentity): Node {
  const spec = cn.spec ?? {};
  const podCidrs = spec.ipam?.podCIDRs ?? [];
  const v4 = splitCidrs(podCidrs, 4);
  const v6 = splitCidrs(podCidrs, 6);
  return {
    Name: cn.metadata.name,
    Cluster: cluster.name,
    IPAddresses: spec.addresses?.length ? spec.addresses.map((a) => ({ Type: a.type, IP: a.ip })) : null,
    IPv4AllocCIDR: v4.primary,
    IPv4SecondaryAllocCIDRs: v4.secondary,
    IPv6AllocCIDR: v6.primary,
    IPv6SecondaryAllocCIDRs: v6.secondary,
    IPv4HealthIP: spec.health?.ipv4 ?? '',
    IPv6HealthIP: spec.health?.ipv6 ?? '',
    IPv4IngressIP: spec.ingress?.ipv4 ?? '',
    IPv6IngressIP: spec.ingress?.ipv6 ?? '',
    ClusterID: cluster.id,
    Source: NODE_SOURCE_CUSTOM_RESOURCE,
    EncryptionKey: spec.encryption?.key ?? 0,
    Labels: emptyToNull(cn.metadata.labels),
    Annotations: emptyToNull(cn.metadata.annotations),
    WireguardPubKey: cn.metadata.annotations?.[WIREGUARD_PUBKEY_ANNOTATION] ?? '',
    BootID: spec.bootid ?? '',
  };
}
