/**
 * The flags every daemon takes to name its cluster (--cluster-name, --cluster-id, --max-connected-clusters), with
 * --cluster-dir as the fallback for each: the local cluster's record (cluster.json) in that folder.
 */
import path from 'node:path';
import { readClusterRecord, type ClusterRecord } from './local-cluster-record.js';

export interface ClusterFlags {
  clusterDir?: string | undefined;
  clusterName?: string | undefined;
  clusterId?: number | undefined;
  maxConnectedClusters?: number | undefined;
}

export interface ResolvedClusterFlags {
  name: string | undefined;
  id: number | undefined;
  maxConnectedClusters: number | undefined;
  /** The local cluster's record, with --cluster-dir: the daemon takes its other settings from it. */
  record: ClusterRecord | undefined;
}

/** Each flag given wins over the record's value. */
export async function resolveClusterFlags(flags: ClusterFlags): Promise<ResolvedClusterFlags> {
  const record = flags.clusterDir ? await readClusterRecord(path.join(flags.clusterDir, 'cluster.json')) : undefined;
  return {
    name: flags.clusterName ?? record?.name,
    id: flags.clusterId ?? record?.id,
    maxConnectedClusters: flags.maxConnectedClusters ?? record?.maxConnectedClusters,
    record,
  };
}

/**
 * The message for required flags left unset ([flag, value] pairs; undefined means unset), or undefined when all
 * are set. `alternative` says what would have provided them.
 */
export function missingFlagsMessage(
  required: readonly (readonly [flag: string, value: unknown])[],
  alternative: string,
): string | undefined {
  const missing = required.filter(([, v]) => v === undefined).map(([f]) => f);
  return missing.length > 0 ? `missing ${missing.join(', ')} (or ${alternative})` : undefined;
}
