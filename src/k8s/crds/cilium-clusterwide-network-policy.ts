/** The CiliumClusterwideNetworkPolicy CRD (cilium.io/v2, cluster-scoped): rules may select nodes as well. */
import { CILIUM_CATEGORY, CILIUM_GROUP, CILIUM_VERSION } from './cilium-schema-parts.js';
import {
  POLICY_CATEGORY,
  POLICY_NEEDS_RULES,
  POLICY_PRINTER_VALID,
  policyRule,
  policyStatus,
} from './cilium-policy-rule.js';
import { AGE_COLUMN, arr, crd, rootSchema } from './schema.js';

const rule = policyRule(true);

export const CILIUM_CLUSTERWIDE_NETWORK_POLICY_CRD = crd({
  group: CILIUM_GROUP,
  version: CILIUM_VERSION,
  names: {
    kind: 'CiliumClusterwideNetworkPolicy',
    plural: 'ciliumclusterwidenetworkpolicies',
    singular: 'ciliumclusterwidenetworkpolicy',
    shortNames: ['ccnp'],
    categories: [CILIUM_CATEGORY, POLICY_CATEGORY],
  },
  scope: 'Cluster',
  status: true,
  printerColumns: [AGE_COLUMN, POLICY_PRINTER_VALID],
  schema: rootSchema(
    'A Cilium network policy for endpoints of every namespace, or for nodes.',
    {
      spec: rule,
      specs: arr(rule, 'Several rules in one policy.'),
      status: policyStatus,
    },
    { required: ['metadata'], 'x-kubernetes-validations': [POLICY_NEEDS_RULES] },
  ),
});
