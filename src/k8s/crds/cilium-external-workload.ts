/**
 * The CiliumExternalWorkload CRD (cilium.io/v2, cluster-scoped): a VM or bare-metal server allowed to join the
 * cluster under this name; its labels give the workload's identity. The clustermesh-apiserver fills in `status`.
 * The registration that fills it in: src/apiserver/external-workload-manager.ts.
 */
import { CILIUM_CATEGORY, CILIUM_GROUP, CILIUM_VERSION, familyCidr } from './cilium-schema-parts.js';
import { crd, int, obj, rootSchema, str } from './schema.js';

export const CILIUM_EXTERNAL_WORKLOAD_CRD = crd({
  group: CILIUM_GROUP,
  version: CILIUM_VERSION,
  names: {
    kind: 'CiliumExternalWorkload',
    plural: 'ciliumexternalworkloads',
    singular: 'ciliumexternalworkload',
    shortNames: ['cew'],
    categories: [CILIUM_CATEGORY],
  },
  scope: 'Cluster',
  status: true,
  printerColumns: [
    { name: 'Cilium ID', type: 'integer', jsonPath: '.status.id' },
    { name: 'IP', type: 'string', jsonPath: '.status.ip' },
  ],
  schema: rootSchema(
    'An external workload (a VM or server) that may join the cluster under this name.',
    {
      spec: obj(
        {
          'ipv4-alloc-cidr': familyCidr(4, 'IPv4 range the workload allocates its tunnel and health addresses from.'),
          'ipv6-alloc-cidr': familyCidr(6, 'IPv6 range the workload allocates its tunnel and health addresses from.'),
        },
        'What the workload may use.',
      ),
      status: obj(
        {
          id: int('The numeric identity allocated for the workload.', { format: 'int64' }),
          ip: str('The address the workload registered with; empty until it registers.'),
        },
        'Written by the clustermesh-apiserver.',
      ),
    },
    { required: ['metadata'] },
  ),
});
