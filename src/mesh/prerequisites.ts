/**
 * What must hold before two clusters are connected (checked before anything is changed): valid and unique names
 * and IDs, the same MaxConnectedClusters, pod CIDRs that do not overlap, and a reachable remote.
 */
import net from 'node:net';
import { validateClusterId, validateClusterName, validateMaxConnectedClusters } from '../wire/cluster.js';
import { parseIpRange, rangesOverlap } from '../wire/ip.js';

export const REACHABILITY_TIMEOUT_MS = 3_000;

/** The facts about a cluster that the prerequisites compare. */
export interface MeshClusterInfo {
  name: string;
  id: number;
  maxConnectedClusters: 255 | 511;
  podCidr: string;
}

export class PrerequisiteError extends Error {
  override name = 'PrerequisiteError';
}

/** Validates one cluster's own facts; `role` says where it comes from in messages. */
export function validateMeshCluster(c: MeshClusterInfo, role: string): void {
  try {
    validateMaxConnectedClusters(c.maxConnectedClusters);
    validateClusterName(c.name, c.id);
    validateClusterId(c.id, c.maxConnectedClusters);
    parseIpRange(c.podCidr);
  } catch (err) {
    throw new PrerequisiteError(`${role} cluster "${c.name}": ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Checks that `local` may connect to every cluster of `incoming`, given the remotes it already has (`existing`;
 * an existing remote with the same name as an incoming one is being replaced, so it is not compared). The
 * incoming clusters are compared with each other too. Throws a PrerequisiteError naming both clusters.
 */
export function checkConnectPrerequisites(
  local: MeshClusterInfo,
  incoming: readonly MeshClusterInfo[],
  existing: readonly MeshClusterInfo[] = [],
): void {
  validateMeshCluster(local, 'local');
  for (const r of incoming) validateMeshCluster(r, 'remote');
  const replaced = new Set(incoming.map((r) => r.name));
  const others: { c: MeshClusterInfo; what: string }[] = [
    { c: local, what: 'local cluster' },
    ...existing.filter((e) => !replaced.has(e.name)).map((c) => ({ c, what: `already connected cluster` })),
  ];
  for (const [i, r] of incoming.entries()) {
    if (r.name === local.name) {
      throw new PrerequisiteError(
        `cannot connect cluster "${local.name}" to itself: choose a different destination cluster`,
      );
    }
    if (r.maxConnectedClusters !== local.maxConnectedClusters) {
      throw new PrerequisiteError(
        `cluster "${local.name}" has MaxConnectedClusters ${local.maxConnectedClusters} but cluster "${r.name}" has ${r.maxConnectedClusters}; every cluster of a mesh needs the same value`,
      );
    }
    const peers = [...others, ...incoming.slice(0, i).map((c) => ({ c, what: 'also imported cluster' }))];
    for (const { c, what } of peers) {
      if (c.name === r.name) {
        throw new PrerequisiteError(
          `cluster name "${r.name}" appears twice: every cluster of a mesh needs a unique name`,
        );
      }
      if (c.id === r.id) {
        throw new PrerequisiteError(
          `cluster ID ${r.id} of cluster "${r.name}" is already used by ${what} "${c.name}"; every cluster of a mesh needs a unique ID`,
        );
      }
      if (rangesOverlap(parseIpRange(r.podCidr), parseIpRange(c.podCidr))) {
        throw new PrerequisiteError(
          `pod CIDR ${r.podCidr} of cluster "${r.name}" overlaps pod CIDR ${c.podCidr} of ${what} "${c.name}"; pod CIDRs must not overlap across a mesh`,
        );
      }
    }
  }
}

/** Resolves when a TCP connection to `endpoint` (http(s)://host:port) opens; throws a PrerequisiteError otherwise. */
export async function checkReachable(
  endpoint: string,
  what: string,
  timeoutMs = REACHABILITY_TIMEOUT_MS,
): Promise<void> {
  const url = new URL(endpoint);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    const sock = net.connect({ host, port });
    const fail = (msg: string, cause?: unknown): void => {
      sock.destroy();
      reject(new PrerequisiteError(`${what} is not reachable at ${endpoint}: ${msg}`, { cause }));
    };
    sock.setTimeout(timeoutMs, () => {
      fail(`no answer within ${timeoutMs} ms`);
    });
    sock.once('connect', () => {
      sock.end();
      resolve();
    });
    sock.once('error', (err) => {
      fail(err.message, err);
    });
  });
}
