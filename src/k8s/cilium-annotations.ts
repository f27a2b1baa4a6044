/**
 * The annotations that steer what a cluster shares, with Cilium's legacy aliases. The first name of each list is the
 * current one; the others are read too, as Cilium does.
 */
export const GLOBAL_SERVICE_ANNOTATIONS = ['service.cilium.io/global', 'io.cilium/global-service'] as const;
export const SHARED_SERVICE_ANNOTATIONS = ['service.cilium.io/shared', 'io.cilium/shared-service'] as const;
export const SERVICE_AFFINITY_ANNOTATIONS = ['service.cilium.io/affinity', 'io.cilium/service-affinity'] as const;
export const GLOBAL_NAMESPACE_ANNOTATION = 'clustermesh.cilium.io/global';
export const WIREGUARD_PUBKEY_ANNOTATION = 'network.cilium.io/wg-pub-key';

/** Cilium's service.cilium.io/type: provision only this one of the service's types (ServiceTypeExposure). */
export const SERVICE_TYPE_ANNOTATION = 'service.cilium.io/type';

export type ServiceAffinity = 'local' | 'remote' | 'none';
export const SERVICE_AFFINITIES: readonly ServiceAffinity[] = ['local', 'remote', 'none'];
export const BOOLEAN_ANNOTATION_VALUES = ['true', 'false'] as const;
/** The values Cilium accepts for service.cilium.io/type, compared exactly (it ignores the annotation otherwise). */
export const SERVICE_TYPE_EXPOSURES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;

/** Which values an annotation takes: the one list the readers below and the cluster's admission policy share. */
export interface AnnotationValues {
  /** The annotation and its legacy aliases. */
  names: readonly string[];
  values: readonly string[];
  /** Cilium lower-cases the value before comparing (True, TRUE and true are the same). */
  anyCase: boolean;
  /** An empty value counts as unset. */
  emptyAllowed: boolean;
}

export const SERVICE_ANNOTATION_VALUES: readonly AnnotationValues[] = [
  { names: GLOBAL_SERVICE_ANNOTATIONS, values: BOOLEAN_ANNOTATION_VALUES, anyCase: true, emptyAllowed: false },
  { names: SHARED_SERVICE_ANNOTATIONS, values: BOOLEAN_ANNOTATION_VALUES, anyCase: true, emptyAllowed: false },
  { names: SERVICE_AFFINITY_ANNOTATIONS, values: SERVICE_AFFINITIES, anyCase: true, emptyAllowed: true },
  { names: [SERVICE_TYPE_ANNOTATION], values: SERVICE_TYPE_EXPOSURES, anyCase: false, emptyAllowed: false },
];

export const NAMESPACE_ANNOTATION_VALUES: readonly AnnotationValues[] = [
  { names: [GLOBAL_NAMESPACE_ANNOTATION], values: BOOLEAN_ANNOTATION_VALUES, anyCase: true, emptyAllowed: false },
];

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
    `invalid service affinity "${v}" (annotation ${SERVICE_AFFINITY_ANNOTATIONS[0]}): expected ${SERVICE_AFFINITIES.slice(0, -1).join(', ')} or ${SERVICE_AFFINITIES.at(-1)}`,
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
