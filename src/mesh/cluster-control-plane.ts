/**
 * The Kubernetes control plane of a local cluster: the ControlPlane (control-plane.ts) configured from the cluster's
 * record and folders, its PKI created once at `cluster create`, and its admin context in `$CMESH_HOME/kubeconfig`.
 */
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import { ControlPlane } from './control-plane.js';
import type { ClusterPaths } from './home.js';
import { resolveKubeBinaries } from './kube-binaries.js';
import { ADMIN_USER, createKubePki, kubeconfigFile, kubePkiPaths } from './kube-pki.js';
import { addMeshContext, contextName } from './mesh-kubeconfig.js';

export function kubeServer(record: ClusterRecord): string {
  return `https://127.0.0.1:${record.ports.kubeApiserver}`;
}

/** The admin kubeconfig of one cluster (system:masters), as `$CMESH_HOME/kubeconfig` holds it too. */
export function clusterAdminKubeconfig(paths: ClusterPaths): string {
  return kubeconfigFile(kubePkiPaths(paths.kube), ADMIN_USER);
}

/** Creates the control plane's PKI and adds the cluster's context to `$CMESH_HOME/kubeconfig` (create time). */
export async function createClusterPki(record: ClusterRecord, paths: ClusterPaths, home: string): Promise<void> {
  await createKubePki({
    dir: paths.kube,
    server: kubeServer(record),
    serviceCidr: record.serviceCidr,
    contextName: contextName(record.name),
  });
  await addMeshContext(home, clusterAdminKubeconfig(paths));
}

export async function clusterControlPlane(record: ClusterRecord, paths: ClusterPaths): Promise<ControlPlane> {
  return new ControlPlane({
    clusterName: record.name,
    dir: paths.kube,
    logDir: paths.logs,
    runDir: paths.run,
    binaries: await resolveKubeBinaries(),
    etcdUrl: `http://127.0.0.1:${record.ports.stateEtcdClient}`,
    apiserverPort: record.ports.kubeApiserver,
    podCidr: record.podCidr,
    serviceCidr: record.serviceCidr,
    detached: true,
  });
}
