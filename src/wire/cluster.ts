import { ValidationError } from './errors.js';

/** How many clusters a mesh may hold; it sets how many bits of a numeric identity carry the cluster ID. */
export type MaxConnectedClusters = 255 | 511;

export const DEFAULT_MAX_CONNECTED_CLUSTERS: MaxConnectedClusters = 255;
export const EXTENDED_MAX_CONNECTED_CLUSTERS: MaxConnectedClusters = 511;
export const MAX_CONNECTED_CLUSTERS_VALUES: readonly MaxConnectedClusters[] = [255, 511];

/** Cluster ID 0 means "not part of a mesh" and may never be used by a meshed cluster. */
export const RESERVED_CLUSTER_ID = 0;
export const CLUSTER_NAME_MAX_LENGTH = 32;
export const DEFAULT_CLUSTER_NAME = 'default';
const CLUSTER_NAME_PATTERN = /^([a-z0-9][-a-z0-9]*)?[a-z0-9]$/;

/** A cluster as the mesh knows it. */
export interface ClusterInfo {
  name: string;
  id: number;
  maxConnectedClusters: MaxConnectedClusters;
}

export function isMaxConnectedClusters(n: unknown): n is MaxConnectedClusters {
  return n === 255 || n === 511;
}

export function validateMaxConnectedClusters(n: unknown): MaxConnectedClusters {
  if (!isMaxConnectedClusters(n)) {
    throw new ValidationError(`max-connected-clusters ${String(n)} is invalid: supported values are 255 and 511`);
  }
  return n;
}

/** A cluster ID usable in a mesh: 1..maxConnectedClusters (0 is reserved). */
export function validateClusterId(id: number, maxConnectedClusters: MaxConnectedClusters): number {
  if (!Number.isInteger(id) || id < 0) {
    throw new ValidationError(`cluster ID ${String(id)} is not a non-negative integer`);
  }
  if (id === RESERVED_CLUSTER_ID) {
    throw new ValidationError(`cluster ID ${RESERVED_CLUSTER_ID} is reserved: expected 1..${maxConnectedClusters}`);
  }
  if (id > maxConnectedClusters) {
    throw new ValidationError(
      `cluster ID ${id} is outside 1..${maxConnectedClusters} (max-connected-clusters ${maxConnectedClusters})`,
    );
  }
  return id;
}

/**
 * A cluster name: at most 32 lower-case alphanumerics and '-', starting and ending alphanumeric;
 * `default` only together with cluster ID 0 (when `id` is given).
 */
export function validateClusterName(name: string, id?: number): string {
  if (name === '') throw new ValidationError('cluster name must not be empty');
  if (name.length > CLUSTER_NAME_MAX_LENGTH) {
    throw new ValidationError(
      `cluster name ${JSON.stringify(name)} is ${name.length} characters long, at most ${CLUSTER_NAME_MAX_LENGTH} allowed`,
    );
  }
  if (!CLUSTER_NAME_PATTERN.test(name)) {
    throw new ValidationError(
      `cluster name ${JSON.stringify(name)} is invalid: it must consist of lower case alphanumeric characters and '-', ` +
        `and start and end with an alphanumeric character`,
    );
  }
  if (id !== undefined && id !== RESERVED_CLUSTER_ID && name === DEFAULT_CLUSTER_NAME) {
    throw new ValidationError(`cluster name "${DEFAULT_CLUSTER_NAME}" cannot be used with cluster ID ${id}`);
  }
  return name;
}

/** Validates a component's own cluster flags (name, ID, MaxConnectedClusters) and returns the typed MaxConnectedClusters. */
export function validateLocalCluster(name: string, id: number, maxConnectedClusters: number): MaxConnectedClusters {
  const maxCC = validateMaxConnectedClusters(maxConnectedClusters);
  validateClusterName(name, id);
  validateClusterId(id, maxCC);
  return maxCC;
}

/** Validates the local cluster's own settings (strictly: a meshed cluster needs an ID). */
export function validateClusterInfo(info: ClusterInfo): ClusterInfo {
  validateMaxConnectedClusters(info.maxConnectedClusters);
  validateClusterId(info.id, info.maxConnectedClusters);
  validateClusterName(info.name, info.id);
  return info;
}
