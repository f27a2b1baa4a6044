/**
 * The CiliumEndpoint CRD (cilium.io/v2, namespaced): one per pod (or external workload), everything in `status`.
 * Like Cilium's, it has no status subresource: its writers replace or patch the whole object.
 *
 * Beyond Cilium's generated CRD: port numbers are bounded to 0-65535 and protocol numbers to 0-255 (uint16 and uint8
 * in Cilium's Go types, plain integers in its CRD).
 */
import { CILIUM_CATEGORY, CILIUM_GROUP, CILIUM_VERSION, addressPair, encryption } from './cilium-schema-parts.js';
import { arr, bool, crd, int, obj, rootSchema, str, stringMap, type JsonSchema } from './schema.js';

const MAX_PORT = 65535;
const MAX_PROTOCOL = 255;

/** Cilium's endpoint states (models.EndpointState). */
export const ENDPOINT_STATES = [
  'creating',
  'waiting-for-identity',
  'not-ready',
  'waiting-to-regenerate',
  'regenerating',
  'restoring',
  'ready',
  'disconnecting',
  'disconnected',
  'invalid',
];

const int64 = (description?: string): JsonSchema => int(description, { format: 'int64' });

const identityTuple = obj(
  {
    'dest-port': int('Destination port.', { minimum: 0, maximum: MAX_PORT }),
    identity: int64('Numeric identity of the peer.'),
    'identity-labels': stringMap('Labels of the peer identity.'),
    protocol: int('IP protocol number.', { minimum: 0, maximum: MAX_PROTOCOL }),
  },
  'A peer by identity, destination port and protocol.',
);

const policyDirection = obj(
  {
    adding: arr(identityTuple, 'Deprecated.'),
    allowed: arr(identityTuple, 'Peers allowed.'),
    denied: arr(identityTuple, 'Peers denied.'),
    enforcing: bool('Whether policy is enforced in this direction.'),
    removing: arr(identityTuple, 'Deprecated.'),
    state: str('enforcing, non-enforcing or disabled.'),
  },
  'The policy of one direction.',
  { required: ['enforcing'] },
);

const status = obj(
  {
    controllers: arr(
      obj(
        {
          configuration: obj(
            {
              'error-retry': bool('Retry on error.'),
              'error-retry-base': int64('Base back-off of retries (a duration).'),
              interval: int64('Regular synchronization interval (a duration).'),
            },
            'The controller configuration.',
          ),
          name: str('Name of the controller.'),
          status: obj(
            {
              'consecutive-failure-count': int64(),
              'failure-count': int64(),
              'last-failure-msg': str(),
              'last-failure-timestamp': str(),
              'last-success-timestamp': str(),
              'success-count': int64(),
            },
            'The controller status.',
          ),
          uuid: str('UUID of the controller.'),
        },
        'A failing controller.',
      ),
      'Failing controllers of this endpoint.',
    ),
    encryption: encryption('Encryption settings of the endpoint.'),
    'external-identifiers': obj(
      {
        'cni-attachment-id': str('ID of the CNI attachment.'),
        'container-id': str('ID given by the container runtime.'),
        'container-name': str('Name given by the container runtime.'),
        'docker-endpoint-id': str('Docker endpoint ID.'),
        'docker-network-id': str('Docker network ID.'),
        'k8s-namespace': str('Namespace of the pod.'),
        'k8s-pod-name': str('Name of the pod.'),
        'pod-name': str('Deprecated: namespace/name of the pod.'),
      },
      'Identifiers of the endpoint besides the pod name.',
    ),
    health: obj(
      {
        bpf: str(),
        connected: bool('Whether the endpoint is reachable.'),
        overallHealth: str(),
        policy: str(),
      },
      'Health of the endpoint and its parts.',
    ),
    id: int64('The agent-local endpoint ID.'),
    identity: obj(
      {
        id: int64('The numeric security identity.'),
        labels: arr(str(), 'The identity labels, source:key=value.'),
      },
      'The security identity of the endpoint.',
    ),
    log: arr(
      obj({ code: str('ok or failed.'), message: str(), state: str(), timestamp: str() }, 'A status change.'),
      'The last warnings and errors.',
    ),
    'named-ports': arr(
      obj(
        {
          name: str('The port name.'),
          port: int('The port number.', { minimum: 0, maximum: MAX_PORT }),
          protocol: str('TCP, UDP, SCTP, ICMP, ICMPV6 or ANY.'),
        },
        'A named L4 port.',
      ),
      'Named ports of the endpoint, for policies that name them.',
    ),
    networking: obj(
      {
        addressing: arr(addressPair('The IPv4 and/or IPv6 address.'), 'Addresses of the endpoint.'),
        node: str('IP of the node the endpoint runs on.'),
      },
      'Addressing of the endpoint.',
      { required: ['addressing'] },
    ),
    policy: obj({ egress: policyDirection, ingress: policyDirection }, 'Allowed and denied peers per direction.'),
    'service-account': str('The service account of the pod.'),
    state: str('The endpoint state.', { enum: ENDPOINT_STATES }),
    'visibility-policy-status': str('Status of the visibility policy.'),
  },
  'The status of the endpoint.',
);

export const CILIUM_ENDPOINT_CRD = crd({
  group: CILIUM_GROUP,
  version: CILIUM_VERSION,
  names: {
    kind: 'CiliumEndpoint',
    plural: 'ciliumendpoints',
    singular: 'ciliumendpoint',
    shortNames: ['cep', 'ciliumep'],
    categories: [CILIUM_CATEGORY],
  },
  scope: 'Namespaced',
  printerColumns: [
    { name: 'Security Identity', type: 'integer', jsonPath: '.status.identity.id', description: 'Security identity' },
    {
      name: 'Ingress Enforcement',
      type: 'string',
      jsonPath: '.status.policy.ingress.state',
      description: 'Ingress enforcement in the endpoint',
      priority: 1,
    },
    {
      name: 'Egress Enforcement',
      type: 'string',
      jsonPath: '.status.policy.egress.state',
      description: 'Egress enforcement in the endpoint',
      priority: 1,
    },
    {
      name: 'Visibility Policy',
      type: 'string',
      jsonPath: '.status.visibility-policy-status',
      description: 'Status of visibility policy in the endpoint',
      priority: 1,
    },
    { name: 'Endpoint State', type: 'string', jsonPath: '.status.state', description: 'Endpoint current state' },
    {
      name: 'IPv4',
      type: 'string',
      jsonPath: '.status.networking.addressing[0].ipv4',
      description: 'Endpoint IPv4 address',
    },
    {
      name: 'IPv6',
      type: 'string',
      jsonPath: '.status.networking.addressing[0].ipv6',
      description: 'Endpoint IPv6 address',
    },
  ],
  schema: rootSchema(
    'The state of one Cilium endpoint (a pod or an external workload).',
    { status },
    {
      required: ['metadata'],
    },
  ),
});
