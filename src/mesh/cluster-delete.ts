/**
 * `cmesh cluster delete`: every name is checked before anything is touched, and a cluster connected to other local
 * clusters is disconnected from them first, so that no peer keeps reading (and reporting) a cluster that is gone.
 */
import { disconnectClusters, localPeers } from './connect.js';
import { cmeshHome } from './home.js';
import { deleteCluster, listClusterNames, LocalClusterError } from './local-cluster.js';

export interface DeletedCluster {
  name: string;
  /** Local clusters it was disconnected from before the delete. */
  disconnected: string[];
}

/** Throws, naming every unknown one, unless every name is a local cluster. */
export async function requireClusters(names: readonly string[], home = cmeshHome()): Promise<void> {
  const known = await listClusterNames(home);
  const unknown = [...new Set(names)].filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new LocalClusterError(
      `no local cluster named ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${known.join(', ') || 'none'}); nothing was changed`,
    );
  }
}

export async function deleteClusters(
  names: readonly string[],
  home = cmeshHome(),
  onStep?: (s: string) => void,
): Promise<DeletedCluster[]> {
  await requireClusters(names, home);
  const out: DeletedCluster[] = [];
  for (const name of [...new Set(names)]) {
    const disconnected: string[] = [];
    for (const peer of await localPeers(name, home)) {
      onStep?.(`disconnecting cluster ${name} from ${peer}`);
      await disconnectClusters(peer, name, home);
      disconnected.push(peer);
    }
    onStep?.(`deleting cluster ${name}`);
    await deleteCluster(name, home);
    out.push({ name, disconnected });
  }
  return out;
}
