/**
 * Minimal CustomResourceDefinitions for tests of the `kubernetes` source: the group, names and scope of a kind in
 * src/k8s/types.ts with a schema that keeps every field (the real Cilium CRDs are another engineer's work).
 */
import { KINDS, type KindName } from '../../src/k8s/types.js';

export function crdFor(kind: KindName, opts: { statusSubresource?: boolean } = {}): Record<string, unknown> {
  const info = KINDS[kind];
  const version = info.apiVersion.split('/')[1]!;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.resource}.${info.group}` },
    spec: {
      group: info.group,
      scope: info.namespaced ? 'Namespaced' : 'Cluster',
      names: { kind, plural: info.resource, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          ...(opts.statusSubresource ? { subresources: { status: {} } } : {}),
        },
      ],
    },
  };
}
