/**
 * The MCS API's ServiceExport CRD (multicluster.x-k8s.io/v1alpha1, namespaced): exports the Service of the same
 * namespace and name to the cluster set.
 */
import { AGE_COLUMN, crd, obj, rootSchema, stringMap } from './schema.js';
import { MCS_GROUP, MCS_VERSION, conditions } from './mcs-schema-parts.js';

export const SERVICE_EXPORT_CRD = crd({
  group: MCS_GROUP,
  version: MCS_VERSION,
  names: {
    kind: 'ServiceExport',
    plural: 'serviceexports',
    singular: 'serviceexport',
    shortNames: ['svcex', 'svcexport'],
  },
  scope: 'Namespaced',
  status: true,
  printerColumns: [AGE_COLUMN],
  schema: rootSchema('Declares that the Service of the same namespace and name is consumable from other clusters.', {
    spec: obj(
      {
        exportedAnnotations: stringMap('Annotations to export (optional for an implementation).'),
        exportedLabels: stringMap('Labels to export (optional for an implementation).'),
      },
      'How the service is exported.',
    ),
    status: obj({ conditions: conditions() }, 'The state of the export, written by the MCS implementation.'),
  }),
});
