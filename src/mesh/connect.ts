/**
 * Connecting clusters: `connect` (two local clusters, both directions, like cilium-cli), `disconnect`, the
 * Helm-style `secret import`, and `rotate-certs`. Every prerequisite is checked before the first file is written;
 * a failure while writing rolls back what this call installed.
 */
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import { createEtcdClient } from '../kvstore/client.js';
import { CertificateError, rotateCertificates } from './certificates-store.js';
import { startClustermeshProcesses } from './clustermesh.js';
import { runningPid, stopDaemon } from './daemon.js';
import { cmeshHome, type ClusterPaths } from './home.js';
import { listClusterNames, loadCluster, pidFile } from './local-cluster.js';
import { PrerequisiteError, checkConnectPrerequisites, checkReachable, type MeshClusterInfo } from './prerequisites.js';
import { installRemote, installedRemoteInfos, listInstalledRemotes, removeRemote } from './remotes.js';
import { extractSecret, secretToMaterial, type ClusterMeshSecret, type RemoteMaterial } from './secret.js';
import { hintFor } from './hints.js';

/** How long the access check (TLS + auth + cluster config read) may take per remote. */
export const ACCESS_CHECK_TIMEOUT_MS = 5_000;

function infoOf(record: ClusterRecord): MeshClusterInfo {
  return {
    name: record.name,
    id: record.id,
    maxConnectedClusters: record.maxConnectedClusters,
    podCidr: record.podCidr,
  };
}

/**
 * Proves that the material works before it is installed: TCP, TLS (server verified with the CA), auth (the
 * certificate's user) and the remote's cluster config, whose ID must match what the material claims.
 */
export async function verifyRemoteAccess(m: RemoteMaterial, what: string): Promise<void> {
  const endpoint = m.endpoints[0] ?? '';
  await checkReachable(endpoint, what);
  const client = createEtcdClient({
    endpoints: m.endpoints,
    tls: { ca: Buffer.from(m.caPem), cert: Buffer.from(m.certPem), key: Buffer.from(m.keyPem) },
    requestTimeoutMs: ACCESS_CHECK_TIMEOUT_MS,
  });
  let raw: string | null;
  try {
    raw = await client.get(`cilium/cluster-config/${m.cluster.name}`).string();
  } catch (err) {
    const msg = (err as Error).message;
    const hint = hintFor(msg);
    throw new PrerequisiteError(`${what} refused access at ${endpoint}: ${msg}${hint ? ` (${hint})` : ''}`, {
      cause: err,
    });
  } finally {
    client.close();
  }
  if (raw === null) {
    throw new PrerequisiteError(
      `${what} has no cluster config at ${endpoint}: its clustermesh-apiserver is not running; run \`cmesh clustermesh enable --context ${m.cluster.name}\``,
    );
  }
  let id: unknown;
  try {
    id = (JSON.parse(raw) as { id?: unknown }).id;
  } catch {
    id = undefined;
  }
  if (id !== m.cluster.id) {
    throw new PrerequisiteError(
      `${what} announces cluster ID ${String(id)} at ${endpoint}, but the secret says ${m.cluster.id}; extract the secret again`,
    );
  }
}

async function localMaterial(name: string, home: string): Promise<RemoteMaterial> {
  try {
    return secretToMaterial(await extractSecret(name, home));
  } catch (err) {
    throw new PrerequisiteError((err as Error).message, { cause: err });
  }
}

/** Installs each material in order; on failure removes what this call installed, then rethrows. */
async function installAll(targets: { record: ClusterRecord; paths: ClusterPaths; m: RemoteMaterial }[]): Promise<void> {
  const done: { paths: ClusterPaths; name: string }[] = [];
  try {
    for (const t of targets) {
      await installRemote(t.record, t.paths, t.m);
      done.push({ paths: t.paths, name: t.m.cluster.name });
    }
  } catch (err) {
    for (const d of done) await removeRemote(d.paths, d.name).catch(() => undefined);
    throw err;
  }
}

export interface ConnectResult {
  source: string;
  destination: string;
}

/**
 * `cmesh clustermesh connect --context A --destination-context B`: A reads B and B reads A. Both clusters need
 * clustermesh enabled with TLS. Reconnecting an already connected pair refreshes its material.
 */
export async function connectClusters(a: string, b: string, home = cmeshHome()): Promise<ConnectResult> {
  if (a === b)
    throw new PrerequisiteError(`cannot connect cluster "${a}" to itself: choose a different destination cluster`);
  const A = await loadCluster(a, home);
  const B = await loadCluster(b, home);
  const mA = await localMaterial(a, home);
  const mB = await localMaterial(b, home);
  checkConnectPrerequisites(infoOf(A.record), [mB.cluster], await installedRemoteInfos(A.paths));
  checkConnectPrerequisites(infoOf(B.record), [mA.cluster], await installedRemoteInfos(B.paths));
  await verifyRemoteAccess(mB, `cluster "${b}"`);
  await verifyRemoteAccess(mA, `cluster "${a}"`);
  await installAll([
    { ...A, m: mB },
    { ...B, m: mA },
  ]);
  return { source: a, destination: b };
}

export interface DisconnectResult {
  source: string;
  destination: string;
  /** The clusters whose configuration no longer names the other. */
  updated: string[];
}

/**
 * `cmesh clustermesh disconnect`: removes both directions (the agents drain the remote's state). The destination
 * need not be a local cluster any more: a remote whose cluster was deleted, or one imported from a secret, is
 * removed from the source alone.
 */
export async function disconnectClusters(a: string, b: string, home = cmeshHome()): Promise<DisconnectResult> {
  if (a === b) throw new PrerequisiteError(`cannot disconnect cluster "${a}" from itself`);
  const A = await loadCluster(a, home);
  const B = (await listClusterNames(home)).includes(b) ? await loadCluster(b, home) : undefined;
  const updated: string[] = [];
  if (await removeRemote(A.paths, b)) updated.push(a);
  if (B && (await removeRemote(B.paths, a))) updated.push(b);
  if (updated.length === 0) {
    const remotes = (await listInstalledRemotes(A.paths)).map((r) => r.cluster.name);
    throw new PrerequisiteError(
      `clusters "${a}" and "${b}" are not connected; "${a}" reads: ${remotes.join(', ') || 'no remote cluster'}`,
    );
  }
  return { source: a, destination: b, updated };
}

/** The local clusters that read `name` (have it installed as a remote), and the remotes `name` itself reads. */
export async function localPeers(name: string, home = cmeshHome()): Promise<string[]> {
  const peers = new Set<string>();
  const self = await loadCluster(name, home);
  const all = await listClusterNames(home);
  for (const r of await listInstalledRemotes(self.paths)) if (all.includes(r.cluster.name)) peers.add(r.cluster.name);
  for (const other of all) {
    if (other === name) continue;
    const o = await loadCluster(other, home);
    if ((await listInstalledRemotes(o.paths)).some((r) => r.cluster.name === name)) peers.add(other);
  }
  return [...peers].sort();
}

export interface ImportOptions {
  /** Skip the TCP/TLS/auth check of each remote (e.g. when the remote is not up yet). */
  skipAccessCheck?: boolean;
}

/**
 * `cmesh clustermesh secret import --context NAME FILE...`: installs every (already validated) secret in cluster
 * `name`, all or nothing: prerequisites against the cluster, its existing remotes and each other first.
 */
export async function importSecrets(
  name: string,
  secrets: readonly ClusterMeshSecret[],
  opts: ImportOptions = {},
  home = cmeshHome(),
): Promise<string[]> {
  if (secrets.length === 0) throw new PrerequisiteError('no secret files given');
  const L = await loadCluster(name, home);
  const materials = secrets.map(secretToMaterial);
  checkConnectPrerequisites(
    infoOf(L.record),
    materials.map((m) => m.cluster),
    await installedRemoteInfos(L.paths),
  );
  if (!opts.skipAccessCheck) {
    for (const m of materials) await verifyRemoteAccess(m, `cluster "${m.cluster.name}"`);
  }
  await installAll(materials.map((m) => ({ ...L, m })));
  return materials.map((m) => m.cluster.name);
}

export interface RotateResult {
  cluster: string;
  caRenewed: boolean;
  /** Local clusters that received the new `remote-<cluster>` certificate. */
  updatedClusters: string[];
}

/**
 * `cmesh clustermesh rotate-certs`: new server and client certificates from the same CA (so connections made
 * with the old ones keep working until they reconnect), then the new remote certificate is installed in every
 * local cluster connected to this one; their agents pick it up on their next connection.
 */
export async function rotateClusterCertificates(name: string, home = cmeshHome()): Promise<RotateResult> {
  const { record, paths } = await loadCluster(name, home);
  if (!record.clustermesh?.enabled || !record.clustermesh.tls) {
    throw new CertificateError(`clustermesh with TLS is not enabled on cluster "${name}"; nothing to rotate`);
  }
  const { caRenewed } = await rotateCertificates(record, paths);
  if (caRenewed && (await runningPid(pidFile(paths, 'clustermesh-etcd'))) !== undefined) {
    // etcd loads its trusted CA once at start; new certificates from a new CA need a restart.
    await stopDaemon(pidFile(paths, 'clustermesh-etcd'));
    await startClustermeshProcesses(record, paths);
  }
  const material = await localMaterial(name, home);
  const updated: string[] = [];
  for (const other of await listClusterNames(home)) {
    if (other === name) continue;
    const o = await loadCluster(other, home);
    if ((await listInstalledRemotes(o.paths)).some((r) => r.cluster.name === name)) {
      await installRemote(o.record, o.paths, material);
      updated.push(other);
    }
  }
  return { cluster: name, caRenewed, updatedClusters: updated };
}
