/**
 * The MCS API's ServiceImport CRD (multicluster.x-k8s.io/v1alpha1, namespaced): a service of the cluster set as
 * this cluster consumes it.
 */
import { AGE_COLUMN, arr, crd, int, obj, rootSchema, str } from './schema.js';
import { MCS_GROUP, MCS_VERSION, conditions } from './mcs-schema-parts.js';

const MAX_IPS = 2;
const MAX_AFFINITY_TIMEOUT_S = 86400;

const servicePort = obj(
  {
    appProtocol: str('The application protocol (IANA name or a domain-prefixed name).'),
    name: str('Name of the port (a DNS label); optional with a single port.'),
    port: int('The port the service is exposed on.', { format: 'int32' }),
    protocol: str('TCP (default), UDP or SCTP.'),
  },
  'A port the service is exposed on.',
  { required: ['port'] },
);

export const SERVICE_IMPORT_CRD = crd({
  group: MCS_GROUP,
  version: MCS_VERSION,
  names: {
    kind: 'ServiceImport',
    plural: 'serviceimports',
    singular: 'serviceimport',
    shortNames: ['svcim', 'svcimport'],
  },
  scope: 'Namespaced',
  status: true,
  printerColumns: [
    { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'The type of this ServiceImport' },
    { name: 'IP', type: 'string', jsonPath: '.spec.ips', description: 'The VIP for this ServiceImport' },
    AGE_COLUMN,
  ],
  schema: rootSchema('A service imported from the clusters of a cluster set.', {
    spec: obj(
      {
        internalTrafficPolicy: str('Cluster (default) or Local.'),
        ipFamilies: arr(str('IPv4 or IPv6.'), 'IP families of the service.', { maxItems: MAX_IPS }),
        ips: arr(str(), 'The VIPs of a ClusterSetIP service.', { maxItems: MAX_IPS }),
        ports: arr(servicePort, 'Ports of the service.', { 'x-kubernetes-list-type': 'atomic' }),
        sessionAffinity: str('ClientIP or None (default); ignored for Headless.'),
        sessionAffinityConfig: obj(
          {
            clientIP: obj(
              {
                timeoutSeconds: int(`Seconds a ClientIP session sticks (1-${MAX_AFFINITY_TIMEOUT_S}).`, {
                  format: 'int32',
                }),
              },
              'ClientIP session affinity.',
            ),
          },
          'Session affinity settings.',
        ),
        trafficDistribution: str('A hint how to distribute traffic, e.g. PreferClose.'),
        type: str('ClusterSetIP or Headless.', { enum: ['ClusterSetIP', 'Headless'] }),
      },
      'The service as the cluster set offers it.',
      { required: ['ports', 'type'] },
    ),
    status: obj(
      {
        clusters: arr(
          obj({ cluster: str('Name of an exporting cluster (a DNS label).') }, 'An exporting cluster.', {
            required: ['cluster'],
          }),
          'The clusters the service is imported from.',
          { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['cluster'] },
        ),
        conditions: conditions(),
      },
      'Where the imported service comes from.',
    ),
  }),
});
