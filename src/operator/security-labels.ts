/**
 * The security labels of a pod, as Cilium derives them for its identity: the pod's labels (minus the ones that
 * change per replica), its namespace, its namespace's labels, its service account and the cluster name, each with
 * the `k8s:` source.
 */
export const CLUSTER_LABEL = 'io.cilium.k8s.policy.cluster';
export const NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
export const SERVICE_ACCOUNT_LABEL = 'io.cilium.k8s.policy.serviceaccount';
export const NAMESPACE_LABELS_PREFIX = 'io.cilium.k8s.namespace.labels.';

/** Labels Cilium's default label filter drops: they differ between replicas and would split identities. */
const IGNORED_LABEL_PATTERNS: readonly RegExp[] = [
  /^pod-template-hash$/,
  /^pod-template-generation$/,
  /^controller-revision-hash$/,
  /^controller-uid$/,
  /^job-name$/,
  /^batch\.kubernetes\.io\//,
  /^statefulset\.kubernetes\.io\/pod-name$/,
  /^apps\.kubernetes\.io\/pod-index$/,
  /\.kubernetes\.io\/(?!name$|component$|part-of$|instance$)/,
];

export function isIdentityRelevantLabel(key: string): boolean {
  return !IGNORED_LABEL_PATTERNS.some((re) => re.test(key));
}

export interface PodIdentityInput {
  cluster: string;
  namespace: string;
  podLabels: Readonly<Record<string, string>>;
  namespaceLabels?: Readonly<Record<string, string>>;
  serviceAccount?: string;
}

/** Security labels as `k8s:key` -> value (the CiliumIdentity `security-labels` map). */
export function podSecurityLabels(input: PodIdentityInput): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.podLabels)) {
    if (isIdentityRelevantLabel(k)) out[`k8s:${k}`] = v;
  }
  for (const [k, v] of Object.entries(input.namespaceLabels ?? {})) {
    if (isIdentityRelevantLabel(k)) out[`k8s:${NAMESPACE_LABELS_PREFIX}${k}`] = v;
  }
  if (input.serviceAccount) out[`k8s:${SERVICE_ACCOUNT_LABEL}`] = input.serviceAccount;
  out[`k8s:${NAMESPACE_LABEL}`] = input.namespace;
  out[`k8s:${CLUSTER_LABEL}`] = input.cluster;
  return sortRecord(out);
}

/** A canonical key for a label set: the identity allocator's map key. */
export function labelSetKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ''};`)
    .join('');
}

function sortRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k] ?? '';
  return out;
}
