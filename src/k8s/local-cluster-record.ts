/**
 * The record of a local cluster (`$CMESH_HOME/clusters/<name>/cluster.json`): written by the mesh layer, read by the
 * components it starts (`--cluster-dir`) to find the state etcd, their ports and the cluster identity.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';

/** Ports a local cluster owns, allocated once at create time so that restarts keep every address stable. */
const portsSchema = z.object({
  stateEtcdClient: z.number().int(),
  stateEtcdPeer: z.number().int(),
  stateEtcdMetrics: z.number().int(),
  operatorHealth: z.number().int(),
  /** kube-apiserver's secure port (https://127.0.0.1:<port>). */
  kubeApiserver: z.number().int(),
  clustermeshEtcdClient: z.number().int().optional(),
  clustermeshEtcdPeer: z.number().int().optional(),
  clustermeshEtcdMetrics: z.number().int().optional(),
  apiserverHealth: z.number().int().optional(),
  kvstoremeshHealth: z.number().int().optional(),
});

const clustermeshSchema = z.object({
  enabled: z.boolean(),
  kvstoremesh: z.boolean(),
  tls: z.boolean(),
  serviceExports: z.boolean(),
  defaultGlobalNamespace: z.boolean(),
});

export const clusterRecordSchema = z.object({
  name: z.string(),
  id: z.number().int(),
  maxConnectedClusters: z.union([z.literal(255), z.literal(511)]),
  podCidr: z.string(),
  serviceCidr: z.string(),
  nodes: z.number().int().min(0),
  createdAt: z.string(),
  ports: portsSchema,
  clustermesh: clustermeshSchema.optional(),
});

export type ClusterRecord = z.infer<typeof clusterRecordSchema>;
export type ClusterPorts = z.infer<typeof portsSchema>;
export type ClustermeshSettings = z.infer<typeof clustermeshSchema>;

export class ClusterRecordError extends Error {
  override name = 'ClusterRecordError';
}

export async function readClusterRecord(file: string): Promise<ClusterRecord> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (err) {
    throw new ClusterRecordError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ClusterRecordError(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = clusterRecordSchema.safeParse(json);
  if (!parsed.success) {
    throw new ClusterRecordError(`${file} is not a valid cluster record: ${parsed.error.message}`);
  }
  return parsed.data;
}

/** Writes atomically (temp file + rename) so that a crash never leaves a half-written record. */
export async function writeClusterRecord(file: string, record: ClusterRecord): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, file);
}
