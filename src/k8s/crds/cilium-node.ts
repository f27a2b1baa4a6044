/**
 * The CiliumNode CRD (cilium.io/v2, cluster-scoped): a node's addresses, pod CIDRs and IPAM state as Cilium sees it.
 *
 * Beyond Cilium's generated CRD: the cloud-provider IPAM sections (`eni`, `azure`, `alibaba-cloud`, in spec and
 * status) are kept as written without a schema of their own. cmesh neither reads nor writes them, and copying three
 * cloud APIs' structures would buy nothing; every other part is as closed as Cilium's.
 */
import { CILIUM_CATEGORY, CILIUM_GROUP, CILIUM_VERSION, addressPair, cidr, encryption } from './cilium-schema-parts.js';
import { AGE_COLUMN, arr, crd, int, mapOf, obj, opaque, rootSchema, str } from './schema.js';

const count = (description: string) => int(description, { minimum: 0 });

const allocationIp = obj(
  {
    owner: str('Who uses the IP (set once it is allocated).'),
    resource: str('The resource the IP belongs to, e.g. an ENI.'),
  },
  'An IP available for allocation, or allocated.',
);

const ipamSpec = obj(
  {
    'max-above-watermark': count('Most addresses to allocate beyond the pre-allocate watermark.'),
    'max-allocate': count('Most IPs the node may have.'),
    'min-allocate': count('IPs to allocate when the node starts.'),
    'pod-cidr-allocation-threshold': count('Free IPs below which another pod CIDR is allocated.'),
    'pod-cidr-release-threshold': count('Free IPs above which unused pod CIDRs are released.'),
    podCIDRs: arr(str(), 'CIDRs the node allocates pod IPs from.'),
    pool: mapOf(allocationIp, 'IPs available to the node, by IP.'),
    pools: obj(
      {
        allocated: arr(
          obj(
            {
              cidrs: arr(cidr('A pod CIDR.'), 'Pod CIDRs allocated from the pool.'),
              pool: str('The IPAM pool.', { minLength: 1 }),
            },
            'CIDRs allocated to the node from one pool.',
            { required: ['pool'] },
          ),
          'CIDRs allocated to the node, per pool.',
        ),
        requested: arr(
          obj(
            {
              needed: obj(
                { 'ipv4-addrs': int('IPv4 addresses needed.'), 'ipv6-addrs': int('IPv6 addresses needed.') },
                'How many addresses the node needs from the pool.',
              ),
              pool: str('The IPAM pool.', { minLength: 1 }),
            },
            'A request for addresses from one pool.',
            { required: ['pool'] },
          ),
          'Addresses the node requests, per pool.',
        ),
      },
      'Multi-pool IPAM.',
    ),
    'pre-allocate': count('IPs to keep available for allocation.'),
  },
  'IP address management of the node.',
);

const ipamStatus = obj(
  {
    'operator-status': obj({ error: str('Why the operator could not allocate.') }, 'The operator’s IPAM status.'),
    'pod-cidrs': mapOf(
      obj({ status: str('The pod CIDR state.', { enum: ['released', 'depleted', 'in-use'] }) }, 'A pod CIDR.'),
      'Pod CIDRs of the node and their state.',
    ),
    'release-ips': mapOf(
      str(undefined, { enum: ['marked-for-release', 'ready-for-release', 'do-not-release', 'released'] }),
      'IPs considered for release and their state.',
    ),
    used: mapOf(allocationIp, 'IPs of the pool in use.'),
  },
  'The IPAM status of the node.',
);

export const CILIUM_NODE_CRD = crd({
  group: CILIUM_GROUP,
  version: CILIUM_VERSION,
  names: {
    kind: 'CiliumNode',
    plural: 'ciliumnodes',
    singular: 'ciliumnode',
    shortNames: ['cn', 'ciliumn'],
    categories: [CILIUM_CATEGORY],
  },
  scope: 'Cluster',
  status: true,
  printerColumns: [
    {
      name: 'CiliumInternalIP',
      type: 'string',
      jsonPath: '.spec.addresses[?(@.type=="CiliumInternalIP")].ip',
      description: 'Cilium internal IP for this node',
    },
    {
      name: 'InternalIP',
      type: 'string',
      jsonPath: '.spec.addresses[?(@.type=="InternalIP")].ip',
      description: 'IP of the node',
    },
    { ...AGE_COLUMN, description: 'Time duration since creation of Ciliumnode' },
  ],
  schema: rootSchema(
    'A node managed by Cilium: its configuration in spec, what was realized in status.',
    {
      spec: obj(
        {
          addresses: arr(
            obj(
              { ip: str('An IP of the node.'), type: str('InternalIP, ExternalIP, CiliumInternalIP, ...') },
              'A node address.',
            ),
            'Every address of the node.',
          ),
          'alibaba-cloud': opaque('AlibabaCloud IPAM settings (not checked here).'),
          azure: opaque('Azure IPAM settings (not checked here).'),
          bootid: str('The boot ID of the node.'),
          encryption: encryption('Encryption settings of the node.'),
          eni: opaque('AWS ENI settings (not checked here).'),
          health: addressPair('Addresses of the health endpoint.'),
          ingress: addressPair('Addresses of the Ingress listener.'),
          'instance-id': str('The node’s identifier at its provider.'),
          ipam: ipamSpec,
          nodeidentity: int('The numeric identity of the node, if any.', { format: 'int64' }),
        },
        'The desired configuration of the node.',
      ),
      status: obj(
        {
          'alibaba-cloud': opaque('AlibabaCloud status (not checked here).'),
          azure: opaque('Azure status (not checked here).'),
          eni: opaque('AWS ENI status (not checked here).'),
          ipam: ipamStatus,
        },
        'The realized configuration and status of the node.',
      ),
    },
    { required: ['metadata', 'spec'] },
  ),
});
