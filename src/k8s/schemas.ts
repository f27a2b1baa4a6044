/**
 * zod schemas for every supported kind, and validateObject(), the one gate objects pass before they are written
 * to (or accepted from) a cluster's state. Unknown fields pass through untouched; the fields cmesh relies on are
 * checked the way the Kubernetes apiserver (or Cilium's CRD schema) would.
 */
import { ipFamily } from '../wire/ip.js';
import { z } from 'zod';
import { selectorIssues } from './label-selector.js';
import {
  checkCiliumLabelKey,
  checkDns1035Label,
  checkDns1123Label,
  checkDns1123Subdomain,
  checkLabelValue,
  checkQualifiedName,
} from './names.js';
import { KINDS, isKindName, type AnyObject, type KindName } from './types.js';
import { ValidationError, formatPath, type FieldIssue } from './validation-error.js';

const MAX_PORT = 65535;
/** Cilium's numeric identities fit in 24 bits (cluster ID << 16 | local ID). */
const MAX_IDENTITY = 0xffffff;
const MAX_ENCRYPTION_KEY = 255;
const IANA_SVC_NAME_MAX = 15;
const ENDPOINT_SLICE_MAX_ADDRESSES = 100;

// ---- field helpers ----

/** How a bad input is quoted in a message. */
function got(input: unknown): string {
  return input === undefined ? '(missing)' : `(got ${JSON.stringify(input)})`;
}

type Check = (s: string) => string | undefined;

/** A string checked by one of the names.ts rules, with that rule's message. */
function checked(check: Check) {
  return z.string().check((ctx) => {
    const bad = check(ctx.value);
    if (bad) ctx.issues.push({ code: 'custom', message: bad, input: ctx.value });
  });
}

function ipString(family?: 4 | 6) {
  return z.string().check((ctx) => {
    const v = ipFamily(ctx.value);
    if (v === undefined || (family !== undefined && v !== family)) {
      ctx.issues.push({
        code: 'custom',
        message: `"${ctx.value}" is not a valid ${family ? `IPv${family}` : 'IP'} address`,
        input: ctx.value,
      });
    }
  });
}

/** Why `s` is not a CIDR (of `family` when given), or undefined. */
export function checkCidr(s: string, family?: 4 | 6): string | undefined {
  const slash = s.indexOf('/');
  const kind = family ? `IPv${family} CIDR` : 'CIDR';
  if (slash < 0) return `"${s}" is not a valid ${kind}: missing "/<prefix length>"`;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const v = ipFamily(ip);
  if (v === undefined || (family !== undefined && v !== family))
    return `"${s}" is not a valid ${kind}: bad address "${ip}"`;
  const max = v === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
    return `"${s}" is not a valid ${kind}: prefix length must be 0..${max}`;
  }
  return undefined;
}

function cidrString(family?: 4 | 6) {
  return checked((s) => checkCidr(s, family));
}

const port = z
  .number({ error: (iss) => `must be a port number ${got(iss.input)}` })
  .int({ error: (iss) => `must be an integer port number ${got(iss.input)}` })
  .min(1, { error: (iss) => `port must be 1..${MAX_PORT} ${got(iss.input)}` })
  .max(MAX_PORT, { error: (iss) => `port must be 1..${MAX_PORT} ${got(iss.input)}` });

const protocol = z.enum(['TCP', 'UDP', 'SCTP'], {
  error: (iss) => `protocol must be TCP, UDP or SCTP ${got(iss.input)}`,
});

/** IANA service names (container and named target ports): 1-15 of [a-z0-9-], a letter among them, no "--". */
export function checkPortName(s: string): string | undefined {
  if (s.length === 0 || s.length > IANA_SVC_NAME_MAX) return `"${s}" must be 1..${IANA_SVC_NAME_MAX} characters`;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s)) {
    return `"${s}" must be lower-case alphanumerics or '-', starting and ending with an alphanumeric`;
  }
  if (s.includes('--')) return `"${s}" must not contain consecutive '-'`;
  if (!/[a-z]/.test(s)) return `"${s}" must contain at least one letter`;
  return undefined;
}

const nonNegativeInt = z.number().int().min(0);

const labelMap = z.record(z.string(), z.string()).check((ctx) => {
  for (const [k, v] of Object.entries(ctx.value)) {
    const badKey = checkQualifiedName(k);
    if (badKey) ctx.issues.push({ code: 'custom', message: `invalid label key: ${badKey}`, path: [k], input: k });
    const badVal = checkLabelValue(v);
    if (badVal) ctx.issues.push({ code: 'custom', message: `invalid label value: ${badVal}`, path: [k], input: v });
  }
});

const annotationMap = z.record(z.string(), z.string()).check((ctx) => {
  for (const k of Object.keys(ctx.value)) {
    const bad = checkQualifiedName(k);
    if (bad) ctx.issues.push({ code: 'custom', message: `invalid annotation key: ${bad}`, path: [k], input: k });
  }
});

const ownerReference = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  name: z.string().min(1),
  uid: z.string().min(1),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});

function metadata(nameCheck: Check) {
  return z.looseObject({
    name: checked(nameCheck),
    namespace: checked(checkDns1123Label).optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: nonNegativeInt.optional(),
    creationTimestamp: z.string().optional(),
    labels: labelMap.optional(),
    annotations: annotationMap.optional(),
    ownerReferences: z.array(ownerReference).optional(),
  });
}

function labelSelector(ciliumKeys: boolean) {
  return z.unknown().check((ctx) => {
    for (const i of selectorIssues(ctx.value, { ciliumKeys })) {
      ctx.issues.push({ code: 'custom', message: i.message, path: i.path, input: ctx.value });
    }
  });
}

const addressPair = z.looseObject({ ipv4: ipString(4).optional(), ipv6: ipString(6).optional() });
const encryption = z.looseObject({ key: z.number().int().min(0).max(MAX_ENCRYPTION_KEY).optional() });

/** Reports duplicates of `keyOf` among list items (Kubernetes rejects duplicate port names and the like). */
function unique<T>(what: string, keyOf: (item: T) => string | undefined) {
  return (ctx: z.core.ParsePayload<T[]>) => {
    const seen = new Set<string>();
    ctx.value.forEach((item, i) => {
      const k = keyOf(item);
      if (k === undefined) return;
      if (seen.has(k)) ctx.issues.push({ code: 'custom', message: `duplicate ${what} "${k}"`, path: [i], input: item });
      seen.add(k);
    });
  };
}

// ---- kinds ----

function kindSchema<S extends z.core.$ZodLooseShape>(kind: KindName, nameCheck: Check, shape: S) {
  return z.looseObject({
    apiVersion: z.literal(KINDS[kind].apiVersion),
    kind: z.literal(kind),
    metadata: metadata(nameCheck),
    ...shape,
  });
}

const namespace = kindSchema('Namespace', checkDns1123Label, {
  spec: z.looseObject({ finalizers: z.array(z.string()).optional() }).optional(),
  status: z.looseObject({ phase: z.string().optional() }).optional(),
});

const containerPort = z.looseObject({
  name: checked(checkPortName).optional(),
  containerPort: port,
  protocol: protocol.optional(),
  hostPort: port.optional(),
});

const container = z.looseObject({
  name: checked(checkDns1123Label),
  image: z.string().optional(),
  ports: z
    .array(containerPort)
    .check(unique('port name', (p) => p.name))
    .optional(),
});

const pod = kindSchema('Pod', checkDns1123Subdomain, {
  spec: z
    .looseObject({
      nodeName: checked(checkDns1123Subdomain).optional(),
      serviceAccountName: checked(checkDns1123Subdomain).optional(),
      hostNetwork: z.boolean().optional(),
      containers: z
        .array(container)
        .check(unique('container name', (c) => c.name))
        .optional(),
    })
    .optional(),
  status: z
    .looseObject({
      phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']).optional(),
      podIP: ipString().optional(),
      podIPs: z.array(z.looseObject({ ip: ipString() })).optional(),
      hostIP: ipString().optional(),
      hostIPs: z.array(z.looseObject({ ip: ipString() })).optional(),
      conditions: z
        .array(z.looseObject({ type: z.string().min(1), status: z.enum(['True', 'False', 'Unknown']) }))
        .optional(),
    })
    .optional(),
});

const clusterIP = z.string().check((ctx) => {
  if (ctx.value === 'None' || ctx.value === '') return;
  if (ipFamily(ctx.value) === undefined) {
    ctx.issues.push({
      code: 'custom',
      message: `"${ctx.value}" must be a valid IP address, "None" or empty`,
      input: ctx.value,
    });
  }
});

const targetPort = z.union([port, checked(checkPortName)], {
  error: (iss) => `targetPort must be a port number 1..${MAX_PORT} or a port name ${got(iss.input)}`,
});

const servicePort = z.looseObject({
  name: checked(checkDns1123Label).optional(),
  port,
  protocol: protocol.optional(),
  targetPort: targetPort.optional(),
  nodePort: port.optional(),
  appProtocol: z.string().optional(),
});

const service = kindSchema('Service', checkDns1035Label, {
  spec: z
    .looseObject({
      type: z
        .enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'], {
          error: (iss) => `type must be ClusterIP, NodePort, LoadBalancer or ExternalName ${got(iss.input)}`,
        })
        .optional(),
      clusterIP: clusterIP.optional(),
      clusterIPs: z.array(clusterIP).optional(),
      selector: labelMap.optional(),
      ports: z
        .array(servicePort)
        .check(unique('port name', (p) => p.name))
        .check(unique('port/protocol', (p) => `${p.port}/${p.protocol ?? 'TCP'}`))
        .check((ctx) => {
          if (ctx.value.length < 2) return;
          ctx.value.forEach((p, i) => {
            if (!p.name) {
              ctx.issues.push({
                code: 'custom',
                message: 'name is required when a service has more than one port',
                path: [i, 'name'],
                input: p,
              });
            }
          });
        })
        .optional(),
      externalIPs: z.array(ipString()).optional(),
      ipFamilies: z.array(z.enum(['IPv4', 'IPv6'])).optional(),
      sessionAffinity: z.enum(['None', 'ClientIP']).optional(),
      externalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
      internalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
      externalName: z.string().optional(),
    })
    .optional(),
  status: z
    .looseObject({
      loadBalancer: z
        .looseObject({
          ingress: z.array(z.looseObject({ ip: ipString().optional(), hostname: z.string().optional() })).optional(),
        })
        .optional(),
    })
    .optional(),
});

const endpoint = z.looseObject({
  addresses: z.array(z.string()).min(1, { error: 'must list at least one address' }).max(ENDPOINT_SLICE_MAX_ADDRESSES),
  conditions: z
    .looseObject({
      ready: z.boolean().optional(),
      serving: z.boolean().optional(),
      terminating: z.boolean().optional(),
    })
    .optional(),
  hostname: checked(checkDns1123Label).optional(),
  nodeName: checked(checkDns1123Subdomain).optional(),
  zone: z.string().optional(),
  targetRef: z.looseObject({}).optional(),
});

const endpointSlice = kindSchema('EndpointSlice', checkDns1123Subdomain, {
  addressType: z.enum(['IPv4', 'IPv6', 'FQDN'], {
    error: (iss) => `addressType must be IPv4, IPv6 or FQDN ${got(iss.input)}`,
  }),
  endpoints: z.array(endpoint),
  ports: z
    .array(
      z.looseObject({
        name: checked(checkDns1123Label).optional(),
        port: port.optional(),
        protocol: protocol.optional(),
        appProtocol: z.string().optional(),
      }),
    )
    .check(unique('port name', (p) => p.name ?? ''))
    .optional(),
}).check((ctx) => {
  // Addresses must match the slice's address type; the type is only known at this level.
  const family = ctx.value.addressType === 'IPv4' ? 4 : ctx.value.addressType === 'IPv6' ? 6 : undefined;
  ctx.value.endpoints.forEach((ep, i) => {
    ep.addresses.forEach((a, j) => {
      const bad =
        family === undefined
          ? checkDns1123Subdomain(a)
          : ipFamily(a) === family
            ? undefined
            : `"${a}" is not a valid IPv${family} address (addressType is ${ctx.value.addressType})`;
      if (bad) ctx.issues.push({ code: 'custom', message: bad, path: ['endpoints', i, 'addresses', j], input: a });
    });
  });
});

function checkIdentityName(s: string): string | undefined {
  if (!/^[1-9]\d*$/.test(s) || Number(s) > MAX_IDENTITY) {
    return `"${s}" must be a numeric identity 1..${MAX_IDENTITY} (decimal, no leading zeros)`;
  }
  return undefined;
}

const securityLabels = z.record(z.string(), z.string()).check((ctx) => {
  for (const k of Object.keys(ctx.value)) {
    const bad = checkCiliumLabelKey(k);
    if (bad) ctx.issues.push({ code: 'custom', message: `invalid label key: ${bad}`, path: [k], input: k });
  }
});

const ciliumIdentity = kindSchema('CiliumIdentity', checkIdentityName, {
  'security-labels': securityLabels,
});

const ciliumEndpoint = kindSchema('CiliumEndpoint', checkDns1123Subdomain, {
  status: z
    .looseObject({
      id: nonNegativeInt.optional(),
      identity: z
        .looseObject({ id: z.number().int().min(1).max(MAX_IDENTITY), labels: z.array(z.string()).optional() })
        .optional(),
      networking: z
        .looseObject({
          addressing: z.array(addressPair),
          node: ipString().optional(),
        })
        .optional(),
      encryption: encryption.optional(),
      'named-ports': z
        .array(z.looseObject({ name: z.string(), port, protocol: protocol.optional() }))
        .check(unique('named port', (p) => p.name))
        .optional(),
      'service-account': z.string().optional(),
      state: z.string().optional(),
    })
    .optional(),
});

const NAME_ADDRESS_TYPES = new Set(['Hostname', 'InternalDNS', 'ExternalDNS']);

const nodeAddress = z
  .looseObject({
    type: z.enum(['InternalIP', 'ExternalIP', 'CiliumInternalIP', 'Hostname', 'InternalDNS', 'ExternalDNS'], {
      error: (iss) =>
        `type must be InternalIP, ExternalIP, CiliumInternalIP, Hostname, InternalDNS or ExternalDNS ${got(iss.input)}`,
    }),
    ip: z.string(),
  })
  .check((ctx) => {
    if (NAME_ADDRESS_TYPES.has(ctx.value.type)) return;
    if (ipFamily(ctx.value.ip) === undefined) {
      ctx.issues.push({
        code: 'custom',
        message: `"${ctx.value.ip}" is not a valid IP address`,
        path: ['ip'],
        input: ctx.value.ip,
      });
    }
  });

const ciliumNode = kindSchema('CiliumNode', checkDns1123Subdomain, {
  spec: z
    .looseObject({
      'instance-id': z.string().optional(),
      addresses: z.array(nodeAddress).optional(),
      health: addressPair.optional(),
      ingress: addressPair.optional(),
      encryption: encryption.optional(),
      ipam: z.looseObject({ podCIDRs: z.array(cidrString()).optional() }).optional(),
      bootid: z.string().optional(),
    })
    .optional(),
  status: z.looseObject({}).optional(),
});

const ciliumExternalWorkload = kindSchema('CiliumExternalWorkload', checkDns1123Subdomain, {
  spec: z
    .looseObject({
      'ipv4-alloc-cidr': cidrString(4).optional(),
      'ipv6-alloc-cidr': cidrString(6).optional(),
    })
    .optional(),
  status: z.looseObject({ id: nonNegativeInt.optional(), ip: ipString().optional() }).optional(),
});

const policyRule = z.looseObject({
  endpointSelector: labelSelector(true).optional(),
  nodeSelector: labelSelector(true).optional(),
  ingress: z.array(z.looseObject({})).optional(),
  ingressDeny: z.array(z.looseObject({})).optional(),
  egress: z.array(z.looseObject({})).optional(),
  egressDeny: z.array(z.looseObject({})).optional(),
  description: z.string().optional(),
});

type PolicyShape = z.infer<typeof policyRule>;

/** Cilium's rule sanitizer: exactly one subject selector; node selectors only in clusterwide policies. */
function policyRules(clusterwide: boolean) {
  return (ctx: z.core.ParsePayload<{ spec?: PolicyShape | undefined; specs?: PolicyShape[] | undefined }>) => {
    const { spec, specs } = ctx.value;
    if (spec === undefined && (specs === undefined || specs.length === 0)) {
      ctx.issues.push({ code: 'custom', message: 'a policy needs spec or a non-empty specs', input: ctx.value });
      return;
    }
    const rules: [PolicyShape, (string | number)[]][] = [];
    if (spec) rules.push([spec, ['spec']]);
    specs?.forEach((r, i) => rules.push([r, ['specs', i]]));
    for (const [r, path] of rules) {
      const hasEp = r.endpointSelector !== undefined;
      const hasNode = r.nodeSelector !== undefined;
      if (!clusterwide && hasNode) {
        ctx.issues.push({
          code: 'custom',
          message: 'nodeSelector is only allowed in a CiliumClusterwideNetworkPolicy',
          path: [...path, 'nodeSelector'],
          input: r,
        });
      } else if (hasEp === hasNode) {
        ctx.issues.push({
          code: 'custom',
          message: clusterwide
            ? 'a rule needs exactly one of endpointSelector or nodeSelector'
            : 'a rule needs an endpointSelector',
          path,
          input: r,
        });
      }
    }
  };
}

const ciliumNetworkPolicy = kindSchema('CiliumNetworkPolicy', checkDns1123Subdomain, {
  spec: policyRule.optional(),
  specs: z.array(policyRule).optional(),
  status: z.looseObject({}).optional(),
}).check(policyRules(false));

const ciliumClusterwideNetworkPolicy = kindSchema('CiliumClusterwideNetworkPolicy', checkDns1123Subdomain, {
  spec: policyRule.optional(),
  specs: z.array(policyRule).optional(),
  status: z.looseObject({}).optional(),
}).check(policyRules(true));

const serviceExport = kindSchema('ServiceExport', checkDns1035Label, {
  spec: z
    .looseObject({
      exportedLabels: z.record(z.string(), z.string()).optional(),
      exportedAnnotations: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  status: z.looseObject({}).optional(),
});

/** Nodes are the agents' (and the API server's) to validate; only the shape cmesh reads is checked. */
const node = kindSchema('Node', checkDns1123Subdomain, {
  spec: z.looseObject({ podCIDR: z.string().optional() }).optional(),
  status: z.looseObject({}).optional(),
});

export const SCHEMAS: Readonly<Record<KindName, z.ZodType>> = {
  Namespace: namespace,
  Node: node,
  Pod: pod,
  Service: service,
  EndpointSlice: endpointSlice,
  CiliumIdentity: ciliumIdentity,
  CiliumEndpoint: ciliumEndpoint,
  CiliumNode: ciliumNode,
  CiliumExternalWorkload: ciliumExternalWorkload,
  CiliumNetworkPolicy: ciliumNetworkPolicy,
  CiliumClusterwideNetworkPolicy: ciliumClusterwideNetworkPolicy,
  ServiceExport: serviceExport,
};

// ---- validateObject ----

/** Messages for zod's built-in issues, phrased like the rest: what is expected, what was found. */
function defaultMessage(iss: z.core.$ZodRawIssue): string | undefined {
  const found = got(iss.input);
  switch (iss.code) {
    case 'invalid_type':
      return iss.input === undefined ? 'is required' : `must be ${article(iss.expected)} ${found}`;
    case 'invalid_value':
      return `must be ${iss.values.map((v) => JSON.stringify(v)).join(' or ')} ${found}`;
    case 'too_small':
      return iss.origin === 'array'
        ? `must have at least ${iss.minimum} item(s)`
        : iss.origin === 'string'
          ? 'must not be empty'
          : `must be >= ${iss.minimum} ${found}`;
    case 'too_big':
      return iss.origin === 'array' ? `must have at most ${iss.maximum} item(s)` : `must be <= ${iss.maximum} ${found}`;
    default:
      return undefined;
  }
}

function article(t: string): string {
  return t === 'object' || t === 'array' || t === 'int' ? `an ${t === 'int' ? 'integer' : t}` : `a ${t}`;
}

function identityOf(obj: unknown): { kind?: string; namespace?: string; name?: string } {
  if (typeof obj !== 'object' || obj === null) return {};
  const o = obj as { kind?: unknown; metadata?: unknown };
  const md = (typeof o.metadata === 'object' && o.metadata !== null ? o.metadata : {}) as {
    name?: unknown;
    namespace?: unknown;
  };
  return {
    ...(typeof o.kind === 'string' ? { kind: o.kind } : {}),
    ...(typeof md.namespace === 'string' ? { namespace: md.namespace } : {}),
    ...(typeof md.name === 'string' ? { name: md.name } : {}),
  };
}

/**
 * Validates an object of any supported kind and returns it typed (unknown fields kept). Throws ValidationError
 * naming the object and every bad field. `metadata.namespace` must be set for namespaced kinds and absent for
 * cluster-scoped ones.
 */
export function validateObject(obj: unknown): AnyObject {
  const id = identityOf(obj);
  const fail = (issues: FieldIssue[]): never => {
    throw new ValidationError(id, issues);
  };
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return fail([{ path: '', message: 'must be an object with apiVersion, kind and metadata' }]);
  }
  const { kind, apiVersion } = obj as { kind?: unknown; apiVersion?: unknown };
  if (typeof kind !== 'string' || kind === '') return fail([{ path: 'kind', message: 'is required' }]);
  if (!isKindName(kind)) {
    return fail([
      { path: 'kind', message: `unsupported kind "${kind}" (supported: ${Object.keys(KINDS).join(', ')})` },
    ]);
  }
  const info = KINDS[kind];
  if (apiVersion !== info.apiVersion) {
    return fail([
      {
        path: 'apiVersion',
        message: `${kind} is served as "${info.apiVersion}" (got ${apiVersion === undefined ? 'nothing' : JSON.stringify(apiVersion)})`,
      },
    ]);
  }
  const res = SCHEMAS[kind].safeParse(obj, { error: defaultMessage });
  const issues: FieldIssue[] = res.success
    ? []
    : res.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
  if (id.namespace === undefined && info.namespaced) {
    issues.push({ path: 'metadata.namespace', message: `is required: ${kind} is namespaced` });
  }
  if (id.namespace !== undefined && !info.namespaced) {
    issues.push({ path: 'metadata.namespace', message: `must not be set: ${kind} is cluster-scoped` });
  }
  if (issues.length > 0 || !res.success) fail(issues);
  return res.data as AnyObject;
}
