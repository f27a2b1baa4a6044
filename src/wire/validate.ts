import type { MaxConnectedClusters } from './cluster.js';
import { objectRef } from './object-ref.js';
import type { ClusterService } from './cluster-service.js';
import { ValidationError } from './errors.js';
import type { IdentityEntry } from './identity.js';
import {
  assertIdentityInClusterRange,
  identityRange,
  isIdentityValidForCluster,
  ReservedIdentity,
} from './identity-layout.js';
import type { IPIdentityPair } from './ipcache.js';
import { ipcacheKeyName } from './ipcache.js';
import { CLUSTER_LABEL, clusterOfLabels } from './labels.js';
import type { Node } from './node.js';
import type { ServiceExport } from './service-export.js';

/**
 * Checks of entries received from a remote cluster against that remote (wire spec §4). Each returns the
 * (possibly normalised) value or throws a ValidationError naming the field, the value and the expectation;
 * callers skip the entry with a warning. `keySuffix` is the key relative to the watched prefix.
 */

export interface RemoteClusterIdentity {
  name: string;
  id: number;
  maxConnectedClusters: MaxConnectedClusters;
}

/** Suffix under `cilium/{state,cache}/nodes/v1/<cluster>/`: the node name. */
export function validateRemoteNode(keySuffix: string, node: Node, remote: RemoteClusterIdentity): Node {
  if (node.Cluster !== remote.name) {
    throw new ValidationError(
      `node "${node.Name}" has Cluster "${node.Cluster}", expected remote cluster "${remote.name}"`,
    );
  }
  if (node.Name !== keySuffix) {
    throw new ValidationError(`node key suffix "${keySuffix}" does not match Name "${node.Name}"`);
  }
  if (node.ClusterID !== remote.id) {
    throw new ValidationError(
      `node "${node.Name}" has ClusterID ${node.ClusterID}, expected ${remote.id} of cluster "${remote.name}"`,
    );
  }
  return node;
}

function checkNamespacedName(kind: string, keySuffix: string, namespace: string, name: string): void {
  const got = objectRef(namespace, name);
  if (got !== keySuffix)
    throw new ValidationError(`${kind} key suffix "${keySuffix}" does not match namespace/name "${got}"`);
}

/** Suffix under `cilium/{state,cache}/services/v1/<cluster>/`: `<namespace>/<name>`. */
export function validateRemoteService(
  keySuffix: string,
  svc: ClusterService,
  remote: RemoteClusterIdentity,
): ClusterService {
  if (svc.cluster !== remote.name) {
    throw new ValidationError(
      `service "${svc.namespace}/${svc.name}" has cluster "${svc.cluster}", expected remote cluster "${remote.name}"`,
    );
  }
  checkNamespacedName('service', keySuffix, svc.namespace, svc.name);
  if (svc.clusterID !== remote.id) {
    throw new ValidationError(
      `service "${svc.namespace}/${svc.name}" has clusterID ${svc.clusterID}, expected ${remote.id} of cluster "${remote.name}"`,
    );
  }
  return svc;
}

/** Suffix under `cilium/{state,cache}/serviceexports/v1/<cluster>/`: `<namespace>/<name>`. */
export function validateRemoteServiceExport(
  keySuffix: string,
  se: ServiceExport,
  remote: RemoteClusterIdentity,
): ServiceExport {
  if (se.cluster !== remote.name) {
    throw new ValidationError(
      `service export "${se.namespace}/${se.name}" has cluster "${se.cluster}", expected remote cluster "${remote.name}"`,
    );
  }
  checkNamespacedName('service export', keySuffix, se.namespace, se.name);
  return se;
}

/**
 * Suffix under `cilium/state/ip/v1/default/` (or `cilium/cache/ip/v1/<cluster>/`): the IP or `ip/len`.
 * The identity must be in the remote's range or below 256; a remote's `host` (1) is its node, which for
 * us is a `remote-node` (6), so the returned entry carries 6.
 */
export function validateRemoteIpcacheEntry(
  keySuffix: string,
  pair: IPIdentityPair,
  remote: RemoteClusterIdentity,
): IPIdentityPair {
  const name = ipcacheKeyName(pair);
  if (name !== keySuffix) {
    throw new ValidationError(`ipcache key suffix "${keySuffix}" does not match the value's address "${name}"`);
  }
  if (!isIdentityValidForCluster(pair.ID, remote.id, remote.maxConnectedClusters)) {
    const { min, max } = identityRange(remote.id, remote.maxConnectedClusters);
    throw new ValidationError(
      `ipcache entry "${keySuffix}" has identity ${pair.ID}, outside cluster ${remote.id}'s range ${min}..${max} and not reserved (< 256)`,
    );
  }
  return pair.ID === ReservedIdentity.Host ? { ...pair, ID: ReservedIdentity.RemoteNode } : pair;
}

/** An identity master key from a remote: in the remote's range, and labelled with the remote's name. */
export function validateRemoteIdentity(entry: IdentityEntry, remote: RemoteClusterIdentity): IdentityEntry {
  assertIdentityInClusterRange(entry.id, remote.id, remote.maxConnectedClusters);
  const cluster = clusterOfLabels(entry.labels);
  if (cluster !== remote.name) {
    throw new ValidationError(
      cluster === undefined
        ? `identity ${entry.id} has no k8s:${CLUSTER_LABEL} label, expected "${remote.name}"`
        : `identity ${entry.id} has label k8s:${CLUSTER_LABEL}=${cluster}, expected "${remote.name}"`,
    );
  }
  return entry;
}
