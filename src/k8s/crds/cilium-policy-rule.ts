/**
 * The schema of one Cilium policy rule (api.Rule), shared by CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy:
 * every field Cilium defines, with its types, enums, patterns and ranges, and no field left open: a misspelt field
 * anywhere in a rule is refused by the API server (pruned when the client does not ask for strict validation).
 *
 * Where this differs from Cilium's generated CRD, and why:
 * - `port` is anchored at both ends: Cilium's pattern anchors only its named-port branch, so its numeric branch
 *   accepts any string that starts with 1-4 digits ("99999"); here a port is 0-65535 or a port name, as Cilium's
 *   sanitizer then demands anyway.
 * - CIDRs are checked with `format: cidr` (the API server parses them) instead of Cilium's long regular expressions.
 * - A namespaced policy's rules may not carry `nodeSelector` (a CEL rule), which Cilium's sanitizer refuses later.
 */
import { DNS_SUBDOMAIN_MAX, DNS_SUBDOMAIN_PATTERN, cidr, labelSelector } from './cilium-schema-parts.js';
import { arr, bool, exactlyOneOf, int, mapOf, obj, str, stringMap, type JsonSchema } from './schema.js';

export const POLICY_CATEGORY = 'ciliumpolicy';

const MAX_PORT = 65535;
/** 0-65535 (0 selects every port) or an IANA-style port name with at least one letter. */
export const PORT_PATTERN =
  '^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}|([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*)$';
export const POLICY_PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'VRRP', 'IGMP', 'ANY'];
export const POLICY_ENTITIES = [
  'all',
  'world',
  'cluster',
  'host',
  'init',
  'ingress',
  'unmanaged',
  'remote-node',
  'health',
  'none',
  'kube-apiserver',
];
const MAX_PORTS_PER_RULE = 40;
const MAX_ICMP_FIELDS = 40;
const ICMP_TYPE_PATTERN =
  '^([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]|EchoReply|DestinationUnreachable|Redirect|Echo|EchoRequest|' +
  'RouterAdvertisement|RouterSelection|TimeExceeded|ParameterProblem|Timestamp|TimestampReply|Photuris|' +
  'ExtendedEchoRequest|ExtendedEchoReply|PacketTooBig|MulticastListenerQuery|MulticastListenerReport|' +
  'MulticastListenerDone|RouterSolicitation|NeighborSolicitation|NeighborAdvertisement|RedirectMessage|' +
  'RouterRenumbering|ICMPNodeInformationQuery|ICMPNodeInformationResponse|InverseNeighborDiscoverySolicitation|' +
  'InverseNeighborDiscoveryAdvertisement|HomeAgentAddressDiscoveryRequest|HomeAgentAddressDiscoveryReply|' +
  'MobilePrefixSolicitation|MobilePrefixAdvertisement|DuplicateAddressRequestCodeSuffix|' +
  'DuplicateAddressConfirmationCodeSuffix)$';
const DNS_NAME_PATTERN = '^([-a-zA-Z0-9_]+[.]?)+$';
const DNS_WILDCARD_PATTERN = '^([-a-zA-Z0-9_*]+[.]?)+$';
const DNS_NAME_MAX = 255;
const SERVER_NAME_PATTERN = '^(\\*?\\*\\.)?([-a-zA-Z0-9_]+\\.?)+$';
const LOG_VALUE_MAX = 32;
const KAFKA_TOPIC_MAX = 255;
const LISTENER_PRIORITY_MAX = 100;

// ---- L4 ----

const portProtocol = obj(
  {
    port: str('A port number (0 for every port) or the name of a container port.', { pattern: PORT_PATTERN }),
    endPort: int('The last port of a range starting at port.', { format: 'int32', minimum: 0, maximum: MAX_PORT }),
    protocol: str('The L4 protocol; ANY or unset matches TCP, UDP and SCTP.', { enum: POLICY_PROTOCOLS }),
  },
  'An L4 port (or range) and protocol.',
);

const ports = arr(portProtocol, 'L4 ports and protocols.', { maxItems: MAX_PORTS_PER_RULE });

const secretRef = obj(
  { name: str('Name of the secret.'), namespace: str('Namespace of the secret.') },
  'A Kubernetes secret.',
  { required: ['name'] },
);

const tlsContext = (description: string): JsonSchema =>
  obj(
    {
      certificate: str('Item (or file) holding the certificate chain; tls.crt when unset.'),
      privateKey: str('Item (or file) holding the private key; tls.key when unset.'),
      secret: secretRef,
      trustedCA: str('Item (or file) holding the trusted CA; ca.crt when unset.'),
    },
    description,
    { required: ['secret'] },
  );

const fqdnSelector = (description: string): JsonSchema =>
  obj(
    {
      matchName: str('A literal DNS name.', { maxLength: DNS_NAME_MAX, pattern: DNS_NAME_PATTERN }),
      matchPattern: str('A DNS name with * wildcards (**. for every subdomain level).', {
        maxLength: DNS_NAME_MAX,
        pattern: DNS_WILDCARD_PATTERN,
      }),
    },
    description,
    { oneOf: exactlyOneOf('matchName', 'matchPattern') },
  );

const httpRule = obj(
  {
    headerMatches: arr(
      obj(
        {
          mismatch: str('What to do when the header does not match; drop the request when unset.', {
            enum: ['LOG', 'ADD', 'DELETE', 'REPLACE'],
          }),
          name: str('The header name.', { minLength: 1 }),
          secret: secretRef,
          value: str('The exact value to match.'),
        },
        'A header that must be present, matched against a value or a secret.',
        { required: ['name'] },
      ),
      'Headers that must be present and match.',
    ),
    headers: arr(str(), 'Headers that must be present.'),
    host: str('A POSIX regular expression matched against the Host header.'),
    method: str('A POSIX regular expression matched against the method.'),
    path: str('A POSIX regular expression matched against the path.'),
  },
  'HTTP constraints; all optional.',
);

const kafkaRule = obj(
  {
    apiKey: str('The request key, e.g. produce or fetch (case-insensitive).'),
    apiVersion: str('The API version, a positive integer as a string.'),
    clientID: str('The client identifier.'),
    role: str('A group of API keys; exclusive with apiKey.', { enum: ['produce', 'consume'] }),
    topic: str('The topic name.', { maxLength: KAFKA_TOPIC_MAX }),
  },
  'Kafka constraints; all optional.',
);

const l7Rules = obj(
  {
    dns: arr(fqdnSelector('An allowed DNS lookup.'), 'DNS rules.'),
    http: arr(httpRule, 'HTTP rules.'),
    kafka: arr(kafkaRule, 'Kafka rules (deprecated by Cilium).'),
    l7: arr(stringMap('Key-value constraints of an L7 protocol.'), 'Generic L7 rules.'),
    l7proto: str('The L7 protocol the l7 rules apply to.'),
  },
  'L7 rules; at most one kind.',
  { oneOf: exactlyOneOf('http', 'kafka', 'dns', 'l7proto') },
);

const portRule = obj(
  {
    listener: obj(
      {
        envoyConfig: obj(
          {
            kind: str('CiliumEnvoyConfig or CiliumClusterwideEnvoyConfig.', {
              enum: ['CiliumEnvoyConfig', 'CiliumClusterwideEnvoyConfig'],
            }),
            name: str('Name of the envoy config.', { minLength: 1 }),
          },
          'The envoy config that defines the listener.',
          { required: ['name'] },
        ),
        name: str('Name of the listener.', { minLength: 1 }),
        priority: int('Priority among listeners for the same traffic.', {
          minimum: 1,
          maximum: LISTENER_PRIORITY_MAX,
        }),
      },
      'A custom Envoy listener to redirect this traffic to.',
      { required: ['envoyConfig', 'name'] },
    ),
    originatingTLS: tlsContext('TLS for connections the L7 proxy originates.'),
    ports,
    rules: l7Rules,
    serverNames: arr(
      str(undefined, { maxLength: DNS_NAME_MAX, pattern: SERVER_NAME_PATTERN }),
      'Allowed TLS SNI values.',
      { minItems: 1 },
    ),
    terminatingTLS: tlsContext('TLS for connections the L7 proxy terminates.'),
  },
  'Ports and protocols, optionally with L7 rules.',
);

const portDenyRule = obj({ ports }, 'Ports and protocols (no L7 rules in deny rules).');

// ---- L3 ----

const selectors = (description: string): JsonSchema => arr(labelSelector('An endpoint selector.'), description);

const cidrs = (description: string): JsonSchema => arr(cidr('An IP prefix.'), description);

const cidrRules = (description: string): JsonSchema =>
  arr(
    obj(
      {
        cidr: cidr('The prefix.'),
        cidrGroupRef: str('Name of a CiliumCIDRGroup.', {
          maxLength: DNS_SUBDOMAIN_MAX,
          pattern: DNS_SUBDOMAIN_PATTERN,
        }),
        cidrGroupSelector: labelSelector('Selects CiliumCIDRGroups by label.'),
        except: cidrs('Prefixes inside cidr that are excluded.'),
      },
      'A prefix with exceptions, or a CIDR group.',
      { oneOf: exactlyOneOf('cidr', 'cidrGroupRef', 'cidrGroupSelector') },
    ),
    description,
  );

const entities = (description: string): JsonSchema => arr(str('An entity.', { enum: POLICY_ENTITIES }), description);

const groups = (description: string): JsonSchema =>
  arr(
    obj(
      {
        aws: obj(
          {
            labels: stringMap(),
            region: str(),
            securityGroupsIds: arr(str()),
            securityGroupsNames: arr(str()),
          },
          'AWS security groups.',
        ),
      },
      'An outside provider’s group.',
    ),
    description,
  );

const services = arr(
  obj(
    {
      k8sService: obj(
        { namespace: str('Namespace of the service.'), serviceName: str('Name of the service.') },
        'A service by name.',
      ),
      k8sServiceSelector: obj(
        { namespace: str('Namespace of the services.'), selector: labelSelector('Service labels.') },
        'Services by label.',
        { required: ['selector'] },
      ),
    },
    'A Kubernetes service.',
  ),
  'Services whose backends may be reached.',
);

/** Deprecated by Cilium: must be empty. */
const requires = (description: string): JsonSchema =>
  arr(labelSelector(), `${description} Deprecated: must be empty.`, { maxItems: 0 });

const icmps = (description: string): JsonSchema =>
  arr(
    obj(
      {
        fields: arr(
          obj(
            {
              family: str('IPv4 (default) or IPv6.', { enum: ['IPv4', 'IPv6'], default: 'IPv4' }),
              type: {
                description: 'An ICMP type: 0-255 or its CamelCase name.',
                'x-kubernetes-int-or-string': true,
                anyOf: [{ type: 'integer' }, { type: 'string' }],
                pattern: ICMP_TYPE_PATTERN,
              },
            },
            'An ICMP type.',
            { required: ['type'] },
          ),
          'ICMP fields.',
          { maxItems: MAX_ICMP_FIELDS },
        ),
      },
      'ICMP types.',
    ),
    description,
  );

const authentication = obj(
  { mode: str('The required authentication mode.', { enum: ['disabled', 'required', 'test-always-fail'] }) },
  'Authentication the allowed traffic must have.',
  { required: ['mode'] },
);

// ---- sections ----

const ingressRule = obj(
  {
    authentication,
    fromCIDR: cidrs('Source prefixes outside the cluster.'),
    fromCIDRSet: cidrRules('Source prefixes with exceptions, or CIDR groups.'),
    fromEndpoints: selectors('Source endpoints.'),
    fromEntities: entities('Source entities.'),
    fromGroups: groups('Source groups of outside providers.'),
    fromNodes: selectors('Source nodes.'),
    fromRequires: requires('Additional source constraints.'),
    icmps: icmps('Allowed ICMP types.'),
    toPorts: arr(portRule, 'Ports the traffic may reach.'),
  },
  'Traffic allowed into the selected endpoints.',
);

const ingressDenyRule = obj(
  {
    fromCIDR: cidrs('Source prefixes outside the cluster.'),
    fromCIDRSet: cidrRules('Source prefixes with exceptions, or CIDR groups.'),
    fromEndpoints: selectors('Source endpoints.'),
    fromEntities: entities('Source entities.'),
    fromGroups: groups('Source groups of outside providers.'),
    fromNodes: selectors('Source nodes.'),
    fromRequires: requires('Additional source constraints.'),
    icmps: icmps('Denied ICMP types.'),
    toPorts: arr(portDenyRule, 'Ports the traffic may not reach.'),
  },
  'Traffic denied into the selected endpoints, whatever else allows it.',
);

const egressRule = obj(
  {
    authentication,
    icmps: icmps('Allowed ICMP types.'),
    toCIDR: cidrs('Destination prefixes outside the cluster.'),
    toCIDRSet: cidrRules('Destination prefixes with exceptions, or CIDR groups.'),
    toEndpoints: selectors('Destination endpoints.'),
    toEntities: entities('Destination entities.'),
    toFQDNs: arr(fqdnSelector('A DNS name or pattern.'), 'Destinations by DNS name.'),
    toGroups: groups('Destination groups of outside providers.'),
    toNodes: selectors('Destination nodes.'),
    toPorts: arr(portRule, 'Ports the traffic may reach.'),
    toRequires: requires('Additional destination constraints.'),
    toServices: services,
  },
  'Traffic allowed out of the selected endpoints.',
);

const egressDenyRule = obj(
  {
    icmps: icmps('Denied ICMP types.'),
    toCIDR: cidrs('Destination prefixes outside the cluster.'),
    toCIDRSet: cidrRules('Destination prefixes with exceptions, or CIDR groups.'),
    toEndpoints: selectors('Destination endpoints.'),
    toEntities: entities('Destination entities.'),
    toGroups: groups('Destination groups of outside providers.'),
    toNodes: selectors('Destination nodes.'),
    toPorts: arr(portDenyRule, 'Ports the traffic may not reach.'),
    toRequires: requires('Additional destination constraints.'),
    toServices: services,
  },
  'Traffic denied out of the selected endpoints, whatever else allows it.',
);

/** One rule: a subject (endpoints, or nodes in a clusterwide policy) and what it may send and receive. */
export function policyRule(clusterwide: boolean): JsonSchema {
  return obj(
    {
      description: str('Free text for humans.'),
      egress: arr(egressRule, 'Egress allow rules; none means the rule does not apply at egress.'),
      egressDeny: arr(egressDenyRule, 'Egress deny rules.'),
      enableDefaultDeny: obj(
        {
          egress: bool('Whether selected endpoints deny egress not allowed by a policy.'),
          ingress: bool('Whether selected endpoints deny ingress not allowed by a policy.'),
        },
        'Default-deny per direction; on for each direction that has rules when unset.',
      ),
      endpointSelector: labelSelector('The endpoints this rule applies to.'),
      ingress: arr(ingressRule, 'Ingress allow rules; none means the rule does not apply at ingress.'),
      ingressDeny: arr(ingressDenyRule, 'Ingress deny rules.'),
      labels: arr(
        obj({ key: str(), source: str('The label source, e.g. k8s.'), value: str() }, 'A label identifying the rule.', {
          required: ['key'],
        }),
        'Labels that identify the rule.',
      ),
      log: obj(
        {
          value: str('Up to 32 printable characters added to matching Hubble flows.', {
            maxLength: LOG_VALUE_MAX,
            pattern: '^\\PC*$',
          }),
        },
        'Policy-specific flow logging.',
      ),
      nodeSelector: labelSelector(
        clusterwide
          ? 'The nodes this rule applies to (instead of endpointSelector).'
          : 'Only in a CiliumClusterwideNetworkPolicy.',
      ),
    },
    'A policy rule: exactly one of endpointSelector and nodeSelector, and the traffic it allows or denies.',
    {
      oneOf: exactlyOneOf('endpointSelector', 'nodeSelector'),
      ...(clusterwide
        ? {}
        : {
            'x-kubernetes-validations': [
              {
                rule: '!has(self.nodeSelector)',
                message: 'nodeSelector is only allowed in a CiliumClusterwideNetworkPolicy',
                fieldPath: '.nodeSelector',
              },
            ],
          }),
    },
  );
}

const policyNodeStatus = obj(
  {
    annotations: stringMap('The policy’s annotations as realized.'),
    enforcing: bool('Whether every endpoint enforces the policy.'),
    error: str('Why parsing, importing or realizing the policy failed.'),
    lastUpdated: str('When this status was updated.', { format: 'date-time' }),
    localPolicyRevision: int('The policy revision that first implemented the policy.', { format: 'int64' }),
    ok: bool('Whether the policy was parsed and imported.'),
  },
  'The status of the policy on one node.',
);

export const policyStatus = obj(
  {
    conditions: arr(
      obj(
        {
          lastTransitionTime: str('When the condition last changed.', { format: 'date-time' }),
          message: str('Details.'),
          reason: str('Why the condition last changed.'),
          status: str('True, False or Unknown.'),
          type: str('The condition type, e.g. Valid.'),
        },
        'A policy condition.',
        { required: ['status', 'type'] },
      ),
      'Conditions of the policy.',
    ),
    derivativePolicies: mapOf(policyNodeStatus, 'Status of the policies derived from this one.'),
  },
  'The status of the policy.',
);

/** The root rule every policy kind shares: spec or a non-empty specs. */
export const POLICY_NEEDS_RULES = {
  rule: 'has(self.spec) || (has(self.specs) && size(self.specs) > 0)',
  message: 'a policy needs spec or a non-empty specs',
};

export const POLICY_PRINTER_VALID = {
  name: 'Valid',
  type: 'string' as const,
  jsonPath: ".status.conditions[?(@.type=='Valid')].status",
};
