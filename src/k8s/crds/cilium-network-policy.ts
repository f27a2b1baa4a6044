/** The CiliumNetworkPolicy CRD (cilium.io/v2, namespaced): one rule in `spec`, or several in `specs`. */
import { CILIUM_CATEGORY, CILIUM_GROUP, CILIUM_VERSION } from './cilium-schema-parts.js';
import {
  POLICY_CATEGORY,
  POLICY_NEEDS_RULES,
  POLICY_PRINTER_VALID,
  policyRule,
  policyStatus,
} from './cilium-policy-rule.js';
import { AGE_COLUMN, arr, crd, rootSchema } from './schema.js';

const rule = policyRule(false);

export const CILIUM_NETWORK_POLICY_CRD = crd({
  group: CILIUM_GROUP,
  version: CILIUM_VERSION,
  names: {
    kind: 'CiliumNetworkPolicy',
    plural: 'ciliumnetworkpolicies',
    singular: 'ciliumnetworkpolicy',
    shortNames: ['cnp', 'ciliumnp'],
    categories: [CILIUM_CATEGORY, POLICY_CATEGORY],
  },
  scope: 'Namespaced',
  status: true,
  printerColumns: [AGE_COLUMN, POLICY_PRINTER_VALID],
  schema: rootSchema(
    'A Cilium network policy for the endpoints of one namespace.',
    {
      spec: rule,
      specs: arr(rule, 'Several rules in one policy.'),
      status: policyStatus,
    },
    { required: ['metadata'], 'x-kubernetes-validations': [POLICY_NEEDS_RULES] },
  ),
});
