/** Schema pieces several Cilium CRDs share: selectors, CIDRs, addresses, conditions. */
import { arr, int, mapOf, obj, str, type JsonSchema } from './schema.js';

export const CILIUM_GROUP = 'cilium.io';
export const CILIUM_VERSION = 'v2';
export const CILIUM_CATEGORY = 'cilium';

/** Kubernetes' label value syntax (metav1.LabelSelector's matchLabels values). */
const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';
const LABEL_VALUE_MAX = 63;
/** A DNS-1123 subdomain (object names referred to by name). */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const DNS_SUBDOMAIN_MAX = 253;

export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** Cilium's EndpointSelector: a Kubernetes label selector whose keys may carry a source prefix (`k8s:app`). */
export function labelSelector(description?: string): JsonSchema {
  return obj(
    {
      matchExpressions: arr(
        obj(
          {
            key: str('The label key the requirement applies to.'),
            operator: str("The key's relation to the values.", { enum: SELECTOR_OPERATORS }),
            values: arr(str(), 'Values for In and NotIn (non-empty); empty for Exists and DoesNotExist.', {
              'x-kubernetes-list-type': 'atomic',
            }),
          },
          'One label requirement.',
          { required: ['key', 'operator'] },
        ),
        'Label requirements, ANDed.',
        { 'x-kubernetes-list-type': 'atomic' },
      ),
      matchLabels: mapOf(
        str(undefined, { maxLength: LABEL_VALUE_MAX, pattern: LABEL_VALUE_PATTERN }),
        'Labels that must be present with these values (ANDed).',
      ),
    },
    description,
  );
}

/** An IP prefix (`10.0.0.0/8`, `2001:db8::/32`); the API server parses it. */
export const cidr = (description?: string): JsonSchema => str(description, { format: 'cidr' });

/** A CIDR of one family: `format: cidr` checks the syntax, the CEL rule the family. */
export function familyCidr(family: 4 | 6, description: string): JsonSchema {
  return str(description, {
    format: 'cidr',
    'x-kubernetes-validations': [
      {
        rule: `isCIDR(self) && cidr(self).ip().family() == ${family}`,
        message: `must be an IPv${family} CIDR`,
      },
    ],
  });
}

export const addressPair = (description?: string): JsonSchema =>
  obj({ ipv4: str('An IPv4 address.'), ipv6: str('An IPv6 address.') }, description);

export const encryption = (description: string): JsonSchema =>
  obj({ key: int('Index of the encryption key; 0 when encryption is off.') }, description);
