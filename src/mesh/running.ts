/**
 * Checks made before a command talks to a local cluster's processes, so that a stopped cluster is reported as
 * stopped (with the command that starts it) instead of as a connection error from deep inside a client library.
 */
import { existsSync } from 'node:fs';
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import { cmeshHome, type ClusterPaths } from './home.js';
import {
  agentSocket,
  loadCluster,
  LocalClusterError,
  logFile,
  nodeNames,
  processStates,
  runState,
} from './local-cluster.js';

export class ClusterNotRunningError extends Error {
  override name = 'ClusterNotRunningError';
}

const ROLE_NAMES: Readonly<Record<string, string>> = {
  'state-etcd': 'state etcd',
  'clustermesh-etcd': 'clustermesh etcd',
  apiserver: 'clustermesh-apiserver',
  kvstoremesh: 'KVStoreMesh',
  operator: 'operator',
  'kube-apiserver': 'kube-apiserver',
  'kube-controller-manager': 'kube-controller-manager',
  'kube-scheduler': 'kube-scheduler',
};

/** "state etcd", "agent of node east-node-1". */
export function roleName(role: string): string {
  return ROLE_NAMES[role] ?? (role.startsWith('agent-') ? `agent of node ${role.slice('agent-'.length)}` : role);
}

/** Throws ClusterNotRunningError unless every process in `roles` runs. */
export async function requireRunning(
  record: ClusterRecord,
  paths: ClusterPaths,
  roles: readonly string[],
): Promise<void> {
  const procs = await processStates(record, paths);
  const down = roles.filter((r) => !procs.some((p) => p.role === r && p.running));
  if (down.length === 0) return;
  const start = `start it with \`cmesh cluster start ${record.name}\``;
  if (runState(procs) === 'stopped') throw new ClusterNotRunningError(`cluster "${record.name}" is stopped; ${start}`);
  throw new ClusterNotRunningError(
    `cluster "${record.name}": its ${down.map(roleName).join(', ')} ${down.length === 1 ? 'is' : 'are'} not running ` +
      `(see ${logFile(paths, down[0]!)}); ${start}`,
  );
}

/**
 * The API socket of `node`'s agent, or of the cluster's first node whose agent runs; throws ClusterNotRunningError
 * when that agent (or every agent) is down.
 */
export async function liveAgentSocket(name: string, node?: string, home = cmeshHome()): Promise<string> {
  const { record, paths } = await loadCluster(name, home);
  const nodes = nodeNames(record);
  if (node !== undefined && !nodes.includes(node)) {
    throw new LocalClusterError(`cluster "${name}" has no node "${node}" (nodes: ${nodes.join(', ')})`);
  }
  const procs = await processStates(record, paths);
  const candidates = node !== undefined ? [node] : nodes;
  // An agent counts as up when cmesh started it and it runs, or when its socket is there (an agent started by hand
  // with --cluster-dir has no pid file; a clean stop removes the socket).
  const live =
    candidates.find((n) => procs.some((p) => p.role === `agent-${n}` && p.running)) ??
    candidates.find((n) => existsSync(agentSocket(paths, n)));
  if (live === undefined) await requireRunning(record, paths, [`agent-${candidates[0] ?? ''}`]);
  return agentSocket(paths, live ?? candidates[0] ?? '');
}
