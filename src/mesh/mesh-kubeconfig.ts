/**
 * `$CMESH_HOME/kubeconfig`: one context per local cluster, named `cmesh-<cluster>` (as kind names its
 * `kind-<cluster>`), each with the cluster's admin certificate. `cmesh kubeconfig --merge` copies those entries into
 * the user's kubeconfig (~/.kube/config or $KUBECONFIG's first file), replacing older entries of the same names and
 * keeping everything else. Files are written atomically, owner-only: they hold private keys.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { contextName, meshKubeconfigPath } from './kube-contexts.js';
import { writePrivateFileAtomic } from './private-file.js';

export { contextName, meshKubeconfigPath, userKubeconfigPath } from './kube-contexts.js';

export class KubeconfigFileError extends Error {
  override name = 'KubeconfigFileError';
}

interface Named {
  name: string;
  [field: string]: unknown;
}

/** The parts of a kubeconfig this module edits; everything else is kept as read. */
export interface KubeconfigDoc {
  apiVersion?: string;
  kind?: string;
  clusters?: Named[];
  users?: Named[];
  contexts?: (Named & { context?: { cluster?: string; user?: string; [field: string]: unknown } })[];
  'current-context'?: string;
  [field: string]: unknown;
}

export async function readKubeconfig(file: string): Promise<KubeconfigDoc> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { apiVersion: 'v1', kind: 'Config' };
    throw new KubeconfigFileError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new KubeconfigFileError(`${file} is not valid YAML: ${(err as Error).message}; fix or move it`, {
      cause: err,
    });
  }
  if (doc === null || doc === undefined) return { apiVersion: 'v1', kind: 'Config' };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new KubeconfigFileError(`${file} is not a kubeconfig (expected a mapping at the top); fix or move it`);
  }
  const k = doc as KubeconfigDoc;
  for (const list of ['clusters', 'users', 'contexts'] as const) {
    const v: unknown = k[list];
    if (v !== undefined && v !== null && !Array.isArray(v)) {
      throw new KubeconfigFileError(`${file}: "${list}" is not a list; fix or move the file`);
    }
  }
  return k;
}

/**
 * Puts `add`'s clusters, users and contexts into `into`, replacing entries of the same name; sets the current
 * context to `current` when given (or when `into` has none).
 */
export function mergeKubeconfig(into: KubeconfigDoc, add: KubeconfigDoc, current?: string): KubeconfigDoc {
  const out: KubeconfigDoc = { ...into, apiVersion: into.apiVersion ?? 'v1', kind: into.kind ?? 'Config' };
  for (const list of ['clusters', 'users', 'contexts'] as const) {
    const incoming = add[list] ?? [];
    const names = new Set(incoming.map((e) => e.name));
    out[list] = [...(into[list] ?? []).filter((e) => !names.has(e.name)), ...incoming] as Named[];
  }
  const cur = current ?? into['current-context'] ?? add['current-context'];
  if (cur !== undefined && cur !== '') out['current-context'] = cur;
  return out;
}

/** Removes a context and the cluster and user it names (when no other context uses them). */
export function removeContext(from: KubeconfigDoc, context: string): KubeconfigDoc {
  const ctx = (from.contexts ?? []).find((c) => c.name === context);
  const contexts = (from.contexts ?? []).filter((c) => c.name !== context);
  const used = (field: 'cluster' | 'user', name: string | undefined): boolean =>
    name !== undefined && contexts.some((c) => c.context?.[field] === name);
  const out: KubeconfigDoc = {
    ...from,
    contexts,
    clusters: (from.clusters ?? []).filter((c) => c.name !== ctx?.context?.cluster || used('cluster', c.name)),
    users: (from.users ?? []).filter((u) => u.name !== ctx?.context?.user || used('user', u.name)),
  };
  if (out['current-context'] === context) out['current-context'] = contexts[0]?.name ?? '';
  return out;
}

export async function writeKubeconfig(file: string, doc: KubeconfigDoc): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writePrivateFileAtomic(file, stringify(doc));
}

/** Adds (or replaces) a cluster's context in `$CMESH_HOME/kubeconfig` and makes it the current one, as kind does. */
export async function addMeshContext(home: string, clusterKubeconfig: string): Promise<void> {
  const file = meshKubeconfigPath(home);
  const add = await readKubeconfig(clusterKubeconfig);
  await writeKubeconfig(file, mergeKubeconfig(await readKubeconfig(file), add, add['current-context']));
}

/** Removes a deleted cluster's context from `$CMESH_HOME/kubeconfig`. */
export async function removeMeshContext(home: string, cluster: string): Promise<void> {
  const file = meshKubeconfigPath(home);
  const doc = await readKubeconfig(file);
  if (!(doc.contexts ?? []).some((c) => c.name === contextName(cluster))) return;
  await writeKubeconfig(file, removeContext(doc, contextName(cluster)));
}
