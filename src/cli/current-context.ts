/**
 * Which local cluster a command talks to when `--context` is omitted: the current context of the user's kubeconfig
 * when it is a cmesh one (`cmesh-<cluster>`, as `cmesh kubeconfig --merge` writes), else the current context of
 * `$CMESH_HOME/kubeconfig` (the cluster created last), as cilium-cli uses kubectl's current context. `--context`
 * accepts a cluster name (`east`) or its context name (`cmesh-east`). Read synchronously from small files, and
 * only when a command runs (a hook), so that `--help` and `--version` never read them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { parse as parseType } from 'yaml';
import { cmeshHome } from '../mesh/home.js';
import { CONTEXT_PREFIX, clusterOfContext, meshKubeconfigPath, userKubeconfigPath } from '../mesh/kube-contexts.js';

// YAML loads only when a command without --context runs: `cmesh --help` and `--version` never need it.
const require = createRequire(import.meta.url);
const parse = (text: string): unknown => (require('yaml') as { parse: typeof parseType }).parse(text);

export class NoContextError extends Error {
  override name = 'NoContextError';
}

function currentContextIn(file: string): string | undefined {
  try {
    const doc = parse(readFileSync(file, 'utf8')) as { 'current-context'?: unknown } | null;
    const cur = doc?.['current-context'];
    return typeof cur === 'string' && cur !== '' ? cur : undefined;
  } catch {
    return undefined; // missing or unreadable: fall through to the next source
  }
}

/** The local cluster named by the current context, or NoContextError saying how to pick one. */
export function currentCluster(): string {
  const user = currentContextIn(userKubeconfigPath());
  if (user?.startsWith(CONTEXT_PREFIX)) return clusterOfContext(user);
  const mesh = currentContextIn(meshKubeconfigPath(cmeshHome()));
  if (mesh?.startsWith(CONTEXT_PREFIX)) return clusterOfContext(mesh);
  throw new NoContextError(
    'no --context given and no current cmesh context: pass --context <cluster> (see `cmesh cluster list`), ' +
      'or create a cluster first (`cmesh cluster create east --id 1`)',
  );
}
