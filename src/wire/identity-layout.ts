import type { MaxConnectedClusters } from './cluster.js';
import { ValidationError } from './errors.js';

/**
 * Numeric security identities: 24 bits, of which the top 8 (255 mode) or 9 (511 mode) carry the cluster ID.
 * Above the 24 bits sits the scope byte (1<<24 marks node-local CIDR identities, 2<<24 remote nodes).
 */

export const IDENTITY_BITS = 24;
/** Identities below this are reserved, well-known or user-reserved and not scoped by cluster. */
export const MINIMAL_NUMERIC_IDENTITY = 256;
export const USER_RESERVED_IDENTITY_MIN = 128;
export const WELL_KNOWN_IDENTITY_MIN = 100;
export const WELL_KNOWN_IDENTITY_MAX = 115;
export const IDENTITY_SCOPE_MASK = 0xff000000;
export const IDENTITY_SCOPE_LOCAL = 1 << 24;
export const IDENTITY_SCOPE_REMOTE_NODE = 2 << 24;
export const MAX_NUMERIC_IDENTITY = 0xffffffff;

export const ReservedIdentity = {
  Unknown: 0,
  Host: 1,
  World: 2,
  Unmanaged: 3,
  Health: 4,
  Init: 5,
  RemoteNode: 6,
  KubeApiServer: 7,
  Ingress: 8,
  WorldIpv4: 9,
  WorldIpv6: 10,
  EncryptedOverlay: 11,
} as const;

const RESERVED_NAMES: readonly (readonly [number, string])[] = [
  [ReservedIdentity.Unknown, 'unknown'],
  [ReservedIdentity.Host, 'host'],
  [ReservedIdentity.World, 'world'],
  [ReservedIdentity.Unmanaged, 'unmanaged'],
  [ReservedIdentity.Health, 'health'],
  [ReservedIdentity.Init, 'init'],
  [ReservedIdentity.RemoteNode, 'remote-node'],
  [ReservedIdentity.KubeApiServer, 'kube-apiserver'],
  [ReservedIdentity.Ingress, 'ingress'],
  [ReservedIdentity.WorldIpv4, 'world-ipv4'],
  [ReservedIdentity.WorldIpv6, 'world-ipv6'],
  [ReservedIdentity.EncryptedOverlay, 'encrypted-overlay'],
];

export const RESERVED_IDENTITY_NAMES: ReadonlyMap<number, string> = new Map(RESERVED_NAMES);
export const RESERVED_IDENTITY_IDS: ReadonlyMap<string, number> = new Map(RESERVED_NAMES.map(([id, n]) => [n, id]));

/** Well-known identities of cluster components (Cilium pre-assigns these; the "2" variants carry the namespace name label). */
export const WELL_KNOWN_IDENTITY_NAMES: ReadonlyMap<number, string> = new Map([
  [100, 'etcd-operator'],
  [101, 'cilium-kvstore'],
  [102, 'kube-dns'],
  [103, 'eks-kube-dns'],
  [104, 'core-dns'],
  [105, 'cilium-operator'],
  [106, 'eks-coredns'],
  [107, 'cilium-etcd-operator'],
  [108, 'etcd-operator2'],
  [109, 'cilium-kvstore2'],
  [110, 'kube-dns2'],
  [111, 'eks-kube-dns2'],
  [112, 'core-dns2'],
  [113, 'cilium-operator2'],
  [114, 'eks-coredns2'],
  [115, 'cilium-etcd-operator2'],
]);

/** Bits to shift a cluster ID into a numeric identity: 16 with 255 clusters, 15 with 511. */
export function clusterIdShift(maxConnectedClusters: MaxConnectedClusters): number {
  return IDENTITY_BITS - Math.log2(maxConnectedClusters + 1);
}

export interface IdentityRange {
  min: number;
  max: number;
}

/** The identities cluster `clusterId` allocates from; cluster 0 (no mesh) starts after the reserved ones. */
export function identityRange(clusterId: number, maxConnectedClusters: MaxConnectedClusters): IdentityRange {
  const size = 2 ** clusterIdShift(maxConnectedClusters);
  return {
    min: clusterId > 0 ? clusterId * size : MINIMAL_NUMERIC_IDENTITY,
    max: (clusterId + 1) * size - 1,
  };
}

/** The cluster ID encoded in an identity's cluster bits. */
export function clusterIdOfIdentity(id: number, maxConnectedClusters: MaxConnectedClusters): number {
  return (id >>> clusterIdShift(maxConnectedClusters)) & maxConnectedClusters;
}

export function reservedIdentityName(id: number): string | undefined {
  return RESERVED_IDENTITY_NAMES.get(id);
}

export function reservedIdentityId(name: string): number | undefined {
  return RESERVED_IDENTITY_IDS.get(name);
}

/** One of Cilium's built-in reserved identities (0..11). */
export function isReservedIdentity(id: number): boolean {
  return RESERVED_IDENTITY_NAMES.has(id);
}

export function isWellKnownIdentity(id: number): boolean {
  return id >= WELL_KNOWN_IDENTITY_MIN && id <= WELL_KNOWN_IDENTITY_MAX;
}

export function isUserReservedIdentity(id: number): boolean {
  return id >= USER_RESERVED_IDENTITY_MIN && id < MINIMAL_NUMERIC_IDENTITY;
}

/** Below 256: reserved, well-known or user-reserved, valid in every cluster. */
export function isClusterIndependentIdentity(id: number): boolean {
  return id >= 0 && id < MINIMAL_NUMERIC_IDENTITY;
}

export function hasLocalScope(id: number): boolean {
  return (id & IDENTITY_SCOPE_MASK) >>> 0 === IDENTITY_SCOPE_LOCAL;
}

/** What a reader accepts from cluster `clusterId`: an identity of its range, or a cluster-independent one. */
export function isIdentityValidForCluster(
  id: number,
  clusterId: number,
  maxConnectedClusters: MaxConnectedClusters,
): boolean {
  if (isClusterIndependentIdentity(id)) return true;
  const { min, max } = identityRange(clusterId, maxConnectedClusters);
  return id >= min && id <= max;
}

/** Throws unless `id` lies in cluster `clusterId`'s allocation range. */
export function assertIdentityInClusterRange(
  id: number,
  clusterId: number,
  maxConnectedClusters: MaxConnectedClusters,
): void {
  const { min, max } = identityRange(clusterId, maxConnectedClusters);
  if (id < min || id > max) {
    throw new ValidationError(`identity ${id} is outside cluster ${clusterId}'s range ${min}..${max}`);
  }
}

const DECIMAL_UINT = /^(0|[1-9][0-9]{0,9})$/;

/** A numeric identity written in decimal (as in `cilium/state/identities/v1/id/<n>`). */
export function parseNumericIdentity(text: string): number {
  const n = DECIMAL_UINT.test(text) ? Number(text) : NaN;
  if (!(n <= MAX_NUMERIC_IDENTITY)) {
    throw new ValidationError(
      `numeric identity ${JSON.stringify(text)} is not a decimal number in 0..${MAX_NUMERIC_IDENTITY}`,
    );
  }
  return n;
}
