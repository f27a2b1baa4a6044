/**
 * The remotes installed in one local cluster. For each remote `r`, `<cluster>/certs/remotes/<r>/` keeps what was
 * received (r's CA, the `remote-<r>` certificate and key, and `remote.json` with r's facts and endpoints), and the
 * config files the components follow are derived from it:
 * - without KVStoreMesh: `<cluster>/clustermesh/<r>` -> r's etcd with r's CA and certificate;
 * - with KVStoreMesh: `<cluster>/kvstoremesh/<r>` -> r's etcd, and `<cluster>/clustermesh/<r>` -> the local
 *   clustermesh etcd with the `local-<cluster>` certificate (the agents read the cache there).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import { localUser } from '../kvstore/users.js';
import { caFiles, remoteMaterialDir, userCertFiles } from './certificates-store.js';
import { clustermeshEndpoint, kvstoremeshConfigDir } from './clustermesh-tls.js';
import { writeEtcdConfigFile } from './etcd-config-file.js';
import { writePrivateFileAtomic } from './private-file.js';
import type { ClusterPaths } from './home.js';
import type { MeshClusterInfo } from './prerequisites.js';
import type { RemoteMaterial } from './secret.js';

const REMOTE_INFO_FILE = 'remote.json';

const remoteInfoSchema = z.object({
  cluster: z.object({
    name: z.string(),
    id: z.number().int(),
    maxConnectedClusters: z.union([z.literal(255), z.literal(511)]),
    podCidr: z.string(),
  }),
  endpoints: z.array(z.string()).min(1),
});

export type InstalledRemote = z.infer<typeof remoteInfoSchema>;

function materialFiles(paths: ClusterPaths, remote: string): { ca: string; cert: string; key: string; info: string } {
  const dir = remoteMaterialDir(paths, remote);
  return {
    ca: path.join(dir, 'ca.crt'),
    cert: path.join(dir, 'client.crt'),
    key: path.join(dir, 'client.key'),
    info: path.join(dir, REMOTE_INFO_FILE),
  };
}

/** Every remote installed in the cluster, by name. */
export async function listInstalledRemotes(paths: ClusterPaths): Promise<InstalledRemote[]> {
  let names: string[];
  try {
    names = await readdir(path.join(paths.certs, 'remotes'));
  } catch {
    return [];
  }
  const out: InstalledRemote[] = [];
  for (const n of names.sort()) {
    const f = materialFiles(paths, n).info;
    if (!existsSync(f)) continue;
    const parsed = remoteInfoSchema.safeParse(JSON.parse(await readFile(f, 'utf8')));
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}

export async function installedRemoteInfos(paths: ClusterPaths): Promise<MeshClusterInfo[]> {
  return (await listInstalledRemotes(paths)).map((r) => r.cluster);
}

/** Writes the remote's material, then its config files (so a watcher never sees a config before its files). */
export async function installRemote(record: ClusterRecord, paths: ClusterPaths, m: RemoteMaterial): Promise<void> {
  const files = materialFiles(paths, m.cluster.name);
  await mkdir(path.dirname(files.ca), { recursive: true, mode: 0o700 });
  await writePrivateFileAtomic(files.ca, m.caPem);
  await writePrivateFileAtomic(files.key, m.keyPem);
  await writePrivateFileAtomic(files.cert, m.certPem);
  const info: InstalledRemote = { cluster: m.cluster, endpoints: m.endpoints };
  await writePrivateFileAtomic(files.info, JSON.stringify(info, null, 2) + '\n');
  await writeRemoteConfig(record, paths, info);
}

async function writeRemoteConfig(record: ClusterRecord, paths: ClusterPaths, r: InstalledRemote): Promise<void> {
  const files = materialFiles(paths, r.cluster.name);
  const direct = { endpoints: r.endpoints, caFile: files.ca, certFile: files.cert, keyFile: files.key };
  const agentFile = path.join(paths.clustermeshConfig, r.cluster.name);
  const kvsmFile = path.join(kvstoremeshConfigDir(paths), r.cluster.name);
  await mkdir(paths.clustermeshConfig, { recursive: true, mode: 0o700 });
  if (record.clustermesh?.enabled && record.clustermesh.kvstoremesh) {
    await mkdir(kvstoremeshConfigDir(paths), { recursive: true, mode: 0o700 });
    await writeEtcdConfigFile(kvsmFile, direct);
    const local = userCertFiles(paths, localUser(record.name));
    await writeEtcdConfigFile(agentFile, {
      endpoints: [clustermeshEndpoint(record)],
      ...(record.clustermesh.tls ? { caFile: caFiles(paths).cert, certFile: local.cert, keyFile: local.key } : {}),
    });
  } else {
    await writeEtcdConfigFile(agentFile, direct);
    await rm(kvsmFile, { force: true });
  }
}

/**
 * Rewrites every remote's config files for the cluster's current settings (e.g. after KVStoreMesh was turned on
 * or off). Files whose content does not change are rewritten identically, which watchers ignore.
 */
export async function writeRemoteConfigs(record: ClusterRecord, paths: ClusterPaths): Promise<void> {
  for (const r of await listInstalledRemotes(paths)) await writeRemoteConfig(record, paths, r);
}

/** Removes the remote's config files first (the agents and kvstoremesh drain it), then its material. */
export async function removeRemote(paths: ClusterPaths, remote: string): Promise<boolean> {
  const known = existsSync(materialFiles(paths, remote).info) || existsSync(path.join(paths.clustermeshConfig, remote));
  await rm(path.join(paths.clustermeshConfig, remote), { force: true });
  await rm(path.join(kvstoremeshConfigDir(paths), remote), { force: true });
  await rm(remoteMaterialDir(paths, remote), { recursive: true, force: true });
  return known;
}
