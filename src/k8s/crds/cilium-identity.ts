/**
 * The CiliumIdentity CRD (cilium.io/v2, cluster-scoped): the name is the numeric identity, `security-labels` the
 * labels (with their sources) that define it.
 */
import { CILIUM_CATEGORY, CILIUM_GROUP, CILIUM_VERSION } from './cilium-schema-parts.js';
import { AGE_COLUMN, crd, rootSchema, stringMap } from './schema.js';

export const CILIUM_IDENTITY_CRD = crd({
  group: CILIUM_GROUP,
  version: CILIUM_VERSION,
  names: {
    kind: 'CiliumIdentity',
    plural: 'ciliumidentities',
    singular: 'ciliumidentity',
    shortNames: ['ciliumid'],
    categories: [CILIUM_CATEGORY],
  },
  scope: 'Cluster',
  status: true,
  printerColumns: [
    {
      name: 'Namespace',
      type: 'string',
      jsonPath: '.metadata.labels.io\\.kubernetes\\.pod\\.namespace',
      description: 'The namespace of the entity',
    },
    { ...AGE_COLUMN, description: 'The age of the identity' },
  ],
  schema: rootSchema(
    'A security identity allocated by Cilium; the object name is the numeric identity.',
    { 'security-labels': stringMap('The labels that define the identity, source:key -> value.') },
    { required: ['metadata', 'security-labels'] },
  ),
});
