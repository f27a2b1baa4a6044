/**
 * The annotations that steer what a cluster shares, with Cilium's legacy aliases. The first name of each list is the
 * current one; the others are read too, as Cilium does.
 */
export const GLOBAL_SERVICE_ANNOTATIONS = ['service.cilium.io/global', 'io.cilium/global-service'] as const;
export const SHARED_SERVICE_ANNOTATIONS = ['service.cilium.io/shared', 'io.cilium/shared-service'] as const;
export const SERVICE_AFFINITY_ANNOTATIONS = ['service.cilium.io/affinity', 'io.cilium/service-affinity'] as const;
export const GLOBAL_NAMESPACE_ANNOTATION = 'clustermesh.cilium.io/global';
export const WIREGUARD_PUBKEY_ANNOTATION = 'network.cilium.io/wg-pub-key';

export type ServiceAffinity = 'local' | 'remote' | 'none';
export const SERVICE_AFFINITIES: readonly ServiceAffinity[] = ['local', 'remote', 'none'];

type Annotations = Readonly<Record<string, string>> | undefined;

function first(annotations: Annotations, names: readonly string[]): string | undefined {
  if (!annotations) return undefined;
  for (const n of names) {
    const v = annotations[n];
    if (v !== undefined) return v;
  }
  return undefined;
}

export function isGlobalService(annotations: Annotations): boolean {
  return first(annotations, GLOBAL_SERVICE_ANNOTATIONS)?.toLowerCase() === 'true';
}

/** Shared defaults to true for a global service; only an explicit "false" stops sharing. */
export function isSharedService(annotations: Annotations): boolean {
  if (!isGlobalService(annotations)) return false;
  return first(annotations, SHARED_SERVICE_ANNOTATIONS)?.toLowerCase() !== 'false';
}

export class InvalidAffinityError extends Error {
  override name = 'InvalidAffinityError';
}

/** The service's affinity; unset means none. Any value other than local/remote/none is an error. */
export function serviceAffinity(annotations: Annotations): ServiceAffinity {
  const v = first(annotations, SERVICE_AFFINITY_ANNOTATIONS);
  if (v === undefined || v === '') return 'none';
  const lower = v.toLowerCase();
  if ((SERVICE_AFFINITIES as readonly string[]).includes(lower)) return lower as ServiceAffinity;
  throw new InvalidAffinityError(
    `invalid service affinity "${v}" (annotation ${SERVICE_AFFINITY_ANNOTATIONS[0]}): expected local, remote or none`,
  );
}

/** Cilium's default for --clustermesh-default-global-namespace: a namespace without the annotation exports. */
export const DEFAULT_GLOBAL_NAMESPACE = true;

/**
 * Whether a namespace exports anything, as Cilium 1.20 decides it: when its `clustermesh.cilium.io/global` annotation
 * is present, only the value `true` (any case) makes it global (any other value, `""` included, stops every export);
 * when absent, the apiserver's --clustermesh-default-global-namespace.
 */
export function isGlobalNamespace(annotations: Annotations, defaultGlobal: boolean): boolean {
  const v = annotations?.[GLOBAL_NAMESPACE_ANNOTATION];
  if (v === undefined) return defaultGlobal;
  return v.toLowerCase() === 'true';
}
