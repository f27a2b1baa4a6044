/** Every CRD a cmesh cluster gets: Cilium's the components read and write, and the MCS API's. */
import { CILIUM_CLUSTERWIDE_NETWORK_POLICY_CRD } from './cilium-clusterwide-network-policy.js';
import { CILIUM_ENDPOINT_CRD } from './cilium-endpoint.js';
import { CILIUM_EXTERNAL_WORKLOAD_CRD } from './cilium-external-workload.js';
import { CILIUM_IDENTITY_CRD } from './cilium-identity.js';
import { CILIUM_NETWORK_POLICY_CRD } from './cilium-network-policy.js';
import { CILIUM_NODE_CRD } from './cilium-node.js';
import type { CustomResourceDefinition } from './schema.js';
import { SERVICE_EXPORT_CRD } from './service-export.js';
import { SERVICE_IMPORT_CRD } from './service-import.js';

export type { CustomResourceDefinition, JsonSchema } from './schema.js';

export const CLUSTER_CRDS: readonly CustomResourceDefinition[] = [
  CILIUM_ENDPOINT_CRD,
  CILIUM_IDENTITY_CRD,
  CILIUM_NODE_CRD,
  CILIUM_NETWORK_POLICY_CRD,
  CILIUM_CLUSTERWIDE_NETWORK_POLICY_CRD,
  CILIUM_EXTERNAL_WORKLOAD_CRD,
  SERVICE_EXPORT_CRD,
  SERVICE_IMPORT_CRD,
];
