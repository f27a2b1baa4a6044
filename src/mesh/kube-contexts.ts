/**
 * The names and places of the kubeconfig contexts cmesh writes: `cmesh-<cluster>` in `$CMESH_HOME/kubeconfig`, and
 * the user's kubeconfig as kubectl picks it. No imports beyond node's own: the CLI reads these on every command
 * that omits `--context`.
 */
import { homedir } from 'node:os';
import path from 'node:path';

/** Every local cluster's context is `cmesh-<cluster>`. */
export const CONTEXT_PREFIX = 'cmesh-';
export const contextName = (cluster: string): string => `${CONTEXT_PREFIX}${cluster}`;

/** `cmesh-east` -> `east`; a plain cluster name is returned as given. */
export function clusterOfContext(name: string): string {
  return name.startsWith(CONTEXT_PREFIX) ? name.slice(CONTEXT_PREFIX.length) : name;
}

export function meshKubeconfigPath(home: string): string {
  return path.join(home, 'kubeconfig');
}

/** The user's kubeconfig, as kubectl picks it: the first file of $KUBECONFIG, else ~/.kube/config. */
export function userKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const first = env.KUBECONFIG?.split(path.delimiter).find((f) => f !== '');
  return first ?? path.join(env.HOME ?? homedir(), '.kube', 'config');
}
