/**
 * Where the real Kubernetes control plane's binaries are (issue 19): kube-apiserver, kube-controller-manager,
 * kube-scheduler and kubectl at one pinned Kubernetes release, and etcd at one pinned release. `scripts/setup.sh`
 * (through `scripts/build-kube.sh`) builds them from source into a cache folder outside the repo keyed by version,
 * or leaves them where `CMESH_KUBE_BIN_DIR` points.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

/** Keep in step with kube/go.mod, kube/etcd/go.mod and scripts/build-kube.sh. */
export const KUBE_VERSION = 'v1.35.4';
export const ETCD_VERSION = 'v3.6.17';

export const KUBE_BINARY_NAMES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'] as const;
export type KubeBinaryName = (typeof KUBE_BINARY_NAMES)[number] | 'etcd';

/** Absolute paths of the five binaries. */
export type KubeBinaries = Record<KubeBinaryName, string>;

export class KubeBinariesMissingError extends Error {
  override name = 'KubeBinariesMissingError';
  constructor(
    readonly missing: readonly string[],
    readonly fromEnv: boolean,
  ) {
    super(
      `Kubernetes ${KUBE_VERSION} / etcd ${ETCD_VERSION} binaries not found: ${missing.join(', ')}. ` +
        (fromEnv
          ? 'CMESH_KUBE_BIN_DIR must name a folder that holds kube-apiserver, kube-controller-manager, ' +
            'kube-scheduler, kubectl and etcd; unset it to use the ones that setup builds. '
          : '') +
        'Run `bash scripts/setup.sh` to build them (the first build takes about 11 minutes).',
    );
  }
}

/** `${XDG_CACHE_HOME:-$HOME/.cache}/cmesh`, where scripts/build-kube.sh builds into. */
export function kubeCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg && xdg !== '' ? xdg : path.join(env.HOME ?? homedir(), '.cache'), 'cmesh');
}

/**
 * The paths of the five binaries, without checking them: every one in `CMESH_KUBE_BIN_DIR` when it is set, else
 * the version-keyed cache folders that scripts/build-kube.sh builds into.
 */
export function kubeBinaryPaths(env: NodeJS.ProcessEnv = process.env): { binaries: KubeBinaries; fromEnv: boolean } {
  const dir = env.CMESH_KUBE_BIN_DIR;
  const fromEnv = dir !== undefined && dir !== '';
  const kubeDir = fromEnv ? path.resolve(dir) : path.join(kubeCacheRoot(env), `kube-${KUBE_VERSION}`, 'bin');
  const etcdDir = fromEnv ? path.resolve(dir) : path.join(kubeCacheRoot(env), `etcd-${ETCD_VERSION}`, 'bin');
  const binaries = Object.fromEntries(KUBE_BINARY_NAMES.map((n) => [n, path.join(kubeDir, n)])) as Omit<
    KubeBinaries,
    'etcd'
  >;
  return { binaries: { ...binaries, etcd: path.join(etcdDir, 'etcd') }, fromEnv };
}

/** Resolves the five binaries and checks that each exists and is executable; throws KubeBinariesMissingError. */
export async function resolveKubeBinaries(env: NodeJS.ProcessEnv = process.env): Promise<KubeBinaries> {
  const { binaries, fromEnv } = kubeBinaryPaths(env);
  const missing: string[] = [];
  for (const file of Object.values(binaries)) {
    try {
      await access(file, constants.X_OK);
    } catch {
      missing.push(file);
    }
  }
  if (missing.length > 0) throw new KubeBinariesMissingError(missing, fromEnv);
  return binaries;
}
