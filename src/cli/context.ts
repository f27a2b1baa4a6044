import { Option } from '@commander-js/extra-typings';
import type { ClusterContext } from '../mesh/cluster-context.js';
import { clusterOfContext } from '../mesh/kube-contexts.js';

/**
 * The `--context NAME` option: which local cluster a command talks to, by name (`east`) or context (`cmesh-east`).
 * Typed as always present: when omitted, the program's preAction hook fills it from the current context
 * (current-context.ts) or fails before the action runs.
 */
export function contextOption(
  description = 'the local cluster to use, by name or kubeconfig context (`east` or `cmesh-east`; default: the current context)',
): Option<'--context <name>', undefined, undefined, string, true> {
  const o = new Option('--context <name>', description).argParser(clusterOfContext);
  CLUSTER_CONTEXT_OPTIONS.add(o);
  return o;
}

/**
 * The options contextOption() made: the program's preAction hook fills only these (a component's own `--context`,
 * a kubeconfig context, keeps its meaning).
 */
const CLUSTER_CONTEXT_OPTIONS = new WeakSet<object>();
export function isClusterContextOption(o: object): boolean {
  return CLUSTER_CONTEXT_OPTIONS.has(o);
}

export type { ClusterContext };

export async function openContext(name: string): Promise<ClusterContext> {
  // Loaded here, not at the top: the command tree imports this file for contextOption alone.
  const { openClusterContext } = await import('../mesh/cluster-context.js');
  return openClusterContext(name);
}

/** Runs `fn` with an open context and always closes it (so the CLI process can exit). */
export async function withContext<T>(name: string, fn: (ctx: ClusterContext) => Promise<T>): Promise<T> {
  const ctx = await openContext(name);
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}
