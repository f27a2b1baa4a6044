import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { objectKey, parseObjectKey, kindPrefix } from '../../src/k8s/keys.js';
import { validateObject } from '../../src/k8s/schemas.js';
import { KIND_NAMES, KINDS, resolveKind } from '../../src/k8s/types.js';
import { ValidationError } from '../../src/k8s/validation-error.js';

function golden(name: string): { input: unknown } {
  return JSON.parse(readFileSync(`test/wire/golden/${name}.json`, 'utf8')) as { input: unknown };
}

function rejects(obj: unknown, ...patterns: RegExp[]): ValidationError {
  let caught: unknown;
  try {
    validateObject(obj);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ValidationError, `expected a ValidationError, got ${String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

const meta = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}) });

describe('validateObject', () => {
  it('accepts the golden inputs and keeps unknown fields', () => {
    const inputs = [
      golden('identity').input,
      golden('ipcache').input,
      golden('node').input,
      ...(golden('service').input as unknown[]),
    ];
    for (const input of inputs) assert.deepEqual(validateObject(input), input);
    const withExtra = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'x', finalizers: ['a'] },
      extra: { y: 1 },
    };
    assert.deepEqual(validateObject(withExtra), withExtra);
  });

  it('names the object and the field path', () => {
    const e = rejects(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta('cart', 'shop'),
        spec: {
          ports: [
            { name: 'a', port: 80 },
            { name: 'b', port: 70000, protocol: 'ICMP' },
          ],
        },
      },
      /^Service shop\/cart is invalid: /,
      /spec\.ports\[1\]\.port: port must be 1\.\.65535 \(got 70000\)/,
      /spec\.ports\[1\]\.protocol: protocol must be TCP, UDP or SCTP \(got "ICMP"\)/,
    );
    assert.equal(e.kind, 'Service');
    assert.equal(e.namespace, 'shop');
    assert.equal(e.objectName, 'cart');
    assert.deepEqual(
      e.issues.map((i) => i.path),
      ['spec.ports[1].port', 'spec.ports[1].protocol'],
    );
  });

  const cases: { name: string; obj: unknown; message: RegExp }[] = [
    {
      name: 'an unsupported kind',
      obj: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('x', 'y') },
      message: /kind: unsupported kind "Deployment"/,
    },
    {
      name: 'a wrong apiVersion',
      obj: { apiVersion: 'cilium.io/v1', kind: 'CiliumNode', metadata: meta('x') },
      message: /apiVersion: CiliumNode is served as "cilium.io\/v2" \(got "cilium.io\/v1"\)/,
    },
    {
      name: 'a missing namespace on a namespaced kind',
      obj: { apiVersion: 'v1', kind: 'Pod', metadata: meta('web') },
      message: /metadata\.namespace: is required: Pod is namespaced/,
    },
    {
      name: 'a namespace on a cluster-scoped kind',
      obj: { apiVersion: 'v1', kind: 'Namespace', metadata: meta('shop', 'default') },
      message: /metadata\.namespace: must not be set: Namespace is cluster-scoped/,
    },
    {
      name: 'a name that is not a DNS-1123 subdomain',
      obj: { apiVersion: 'v1', kind: 'Pod', metadata: meta('Web_1', 'shop') },
      message: /metadata\.name: "Web_1" must be a DNS-1123 subdomain/,
    },
    {
      name: 'a namespace name with dots (DNS-1123 label)',
      obj: { apiVersion: 'v1', kind: 'Namespace', metadata: meta('a.b') },
      message: /metadata\.name: "a\.b" must be a DNS-1123 label/,
    },
    {
      name: 'a service name starting with a digit (DNS-1035)',
      obj: { apiVersion: 'v1', kind: 'Service', metadata: meta('1cart', 'shop') },
      message: /metadata\.name: "1cart" must be a DNS-1035 label/,
    },
    {
      name: 'a name longer than 253',
      obj: { apiVersion: 'v1', kind: 'Pod', metadata: meta('a'.repeat(254), 'shop') },
      message: /metadata\.name: must be no more than 253 characters/,
    },
    {
      name: 'a bad label value',
      obj: { apiVersion: 'v1', kind: 'Pod', metadata: { ...meta('p', 'shop'), labels: { app: 'a b' } } },
      message: /metadata\.labels\.app: invalid label value: "a b"/,
    },
    {
      name: 'a bad annotation key',
      obj: { apiVersion: 'v1', kind: 'Pod', metadata: { ...meta('p', 'shop'), annotations: { 'a/b/c': 'x' } } },
      message: /metadata\.annotations\["a\/b\/c"\]: invalid annotation key/,
    },
    {
      name: 'an invalid pod IP',
      obj: { apiVersion: 'v1', kind: 'Pod', metadata: meta('p', 'shop'), status: { podIP: '10.0.0.256' } },
      message: /status\.podIP: "10\.0\.0\.256" is not a valid IP address/,
    },
    {
      name: 'a string container port',
      obj: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: meta('p', 'shop'),
        spec: { containers: [{ name: 'c', ports: [{ containerPort: '80' }] }] },
      },
      message: /spec\.containers\[0\]\.ports\[0\]\.containerPort: must be a port number \(got "80"\)/,
    },
    {
      name: 'a bad clusterIP',
      obj: { apiVersion: 'v1', kind: 'Service', metadata: meta('s', 'shop'), spec: { clusterIP: '10.96.0' } },
      message: /spec\.clusterIP: "10\.96\.0" must be a valid IP address, "None" or empty/,
    },
    {
      name: 'unnamed ports in a multi-port service',
      obj: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta('s', 'shop'),
        spec: { ports: [{ name: 'a', port: 80 }, { port: 81 }] },
      },
      message: /spec\.ports\[1\]\.name: name is required when a service has more than one port/,
    },
    {
      name: 'a bad named targetPort',
      obj: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta('s', 'shop'),
        spec: { ports: [{ port: 80, targetPort: 'HTTP' }] },
      },
      message:
        /spec\.ports\[0\]\.targetPort: targetPort must be a port number 1\.\.65535 or a port name \(got "HTTP"\)/,
    },
    {
      name: 'an endpoint address of the wrong family',
      obj: {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: meta('e', 'shop'),
        addressType: 'IPv4',
        endpoints: [{ addresses: ['fd00::1'] }],
      },
      message: /endpoints\[0\]\.addresses\[0\]: "fd00::1" is not a valid IPv4 address \(addressType is IPv4\)/,
    },
    {
      name: 'an EndpointSlice without addressType',
      obj: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta('e', 'shop'), endpoints: [] },
      message: /addressType: addressType must be IPv4, IPv6 or FQDN \(missing\)/,
    },
    {
      name: 'a non-numeric identity name',
      obj: { apiVersion: 'cilium.io/v2', kind: 'CiliumIdentity', metadata: meta('web'), 'security-labels': {} },
      message: /metadata\.name: "web" must be a numeric identity 1\.\.16777215/,
    },
    {
      name: 'an identity without security-labels',
      obj: { apiVersion: 'cilium.io/v2', kind: 'CiliumIdentity', metadata: meta('1234') },
      message: /security-labels: is required/,
    },
    {
      name: 'a CiliumEndpoint address of the wrong family',
      obj: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumEndpoint',
        metadata: meta('p', 'shop'),
        status: { networking: { addressing: [{ ipv4: 'fd00::1' }], node: '172.20.0.4' } },
      },
      message: /status\.networking\.addressing\[0\]\.ipv4: "fd00::1" is not a valid IPv4 address/,
    },
    {
      name: 'a CiliumNode podCIDR with a bad prefix length',
      obj: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNode',
        metadata: meta('n'),
        spec: { ipam: { podCIDRs: ['10.0.0.0/33'] } },
      },
      message: /spec\.ipam\.podCIDRs\[0\]: "10\.0\.0\.0\/33" is not a valid CIDR: prefix length must be 0\.\.32/,
    },
    {
      name: 'a CiliumNode address type',
      obj: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNode',
        metadata: meta('n'),
        spec: { addresses: [{ type: 'PodIP', ip: '10.0.0.1' }] },
      },
      message: /spec\.addresses\[0\]\.type: type must be InternalIP, ExternalIP, CiliumInternalIP/,
    },
    {
      name: 'a CiliumExternalWorkload IPv6 CIDR in the IPv4 field',
      obj: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumExternalWorkload',
        metadata: meta('vm1'),
        spec: { 'ipv4-alloc-cidr': 'fd00::/64' },
      },
      message: /spec\.ipv4-alloc-cidr: "fd00::\/64" is not a valid IPv4 CIDR/,
    },
    {
      name: 'a policy without spec',
      obj: { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: meta('p', 'shop') },
      message: /a policy needs spec or a non-empty specs/,
    },
    {
      name: 'a policy selector with a bad operator',
      obj: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: meta('p', 'shop'),
        spec: { endpointSelector: { matchExpressions: [{ key: 'k8s:app', operator: 'Is', values: ['x'] }] } },
      },
      message:
        /spec\.endpointSelector\.matchExpressions\[0\]\.operator: must be one of In, NotIn, Exists, DoesNotExist/,
    },
    {
      name: 'a nodeSelector in a namespaced policy',
      obj: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNetworkPolicy',
        metadata: meta('p', 'shop'),
        spec: { nodeSelector: {} },
      },
      message: /spec\.nodeSelector: nodeSelector is only allowed in a CiliumClusterwideNetworkPolicy/,
    },
    {
      name: 'a clusterwide rule with both selectors',
      obj: {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumClusterwideNetworkPolicy',
        metadata: meta('p'),
        specs: [{ endpointSelector: {} }, { endpointSelector: {}, nodeSelector: {} }],
      },
      message: /specs\[1\]: a rule needs exactly one of endpointSelector or nodeSelector/,
    },
    { name: 'a non-object', obj: 'Pod', message: /must be an object with apiVersion, kind and metadata/ },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      rejects(c.obj, c.message);
    });
  }

  it('accepts headless services, FQDN slices and policies with Cilium keys', () => {
    validateObject({ apiVersion: 'v1', kind: 'Service', metadata: meta('h', 'shop'), spec: { clusterIP: 'None' } });
    validateObject({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: meta('e', 'shop'),
      addressType: 'FQDN',
      endpoints: [{ addresses: ['db.example.com'] }],
    });
    validateObject({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumClusterwideNetworkPolicy',
      metadata: meta('p'),
      spec: { endpointSelector: { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'shop' } }, ingress: [{}] },
    });
  });
});

describe('kinds and keys', () => {
  it('resolves kinds, plurals and short names', () => {
    const table: [string, string][] = [
      ['pods', 'Pod'],
      ['po', 'Pod'],
      ['Pod', 'Pod'],
      ['svc', 'Service'],
      ['cep', 'CiliumEndpoint'],
      ['cn', 'CiliumNode'],
      ['ciliumidentities', 'CiliumIdentity'],
      ['cnp', 'CiliumNetworkPolicy'],
      ['ccnp', 'CiliumClusterwideNetworkPolicy'],
      ['cew', 'CiliumExternalWorkload'],
      ['ns', 'Namespace'],
      ['endpointslices', 'EndpointSlice'],
      ['ciliumendpoints.cilium.io', 'CiliumEndpoint'],
      ['serviceexports', 'ServiceExport'],
      ['serviceexports.multicluster.x-k8s.io', 'ServiceExport'],
      ['no', 'Node'],
      ['nodes', 'Node'],
    ];
    for (const [alias, kind] of table) assert.equal(resolveKind(alias), kind, alias);
    assert.equal(resolveKind('deployments'), undefined);
    assert.equal(KIND_NAMES.length, 12);
  });

  it('lays keys out like the Kubernetes apiserver', () => {
    assert.equal(objectKey('Pod', 'shop', 'web'), '/registry/core/pods/shop/web');
    assert.equal(objectKey('CiliumIdentity', undefined, '459001'), '/registry/cilium.io/ciliumidentities/459001');
    assert.equal(objectKey('EndpointSlice', 'shop', 'cart-x'), '/registry/discovery.k8s.io/endpointslices/shop/cart-x');
    assert.equal(kindPrefix('CiliumEndpoint', 'shop'), '/registry/cilium.io/ciliumendpoints/shop/');
    assert.throws(() => objectKey('Pod', undefined, 'web'), /namespaced/);
    assert.throws(() => objectKey('CiliumNode', 'x', 'n'), /cluster-scoped/);
    assert.deepEqual(parseObjectKey('Pod', '/registry/core/pods/shop/web'), {
      namespace: 'shop',
      name: 'web',
      ref: 'shop/web',
    });
    assert.deepEqual(parseObjectKey('CiliumNode', '/registry/cilium.io/ciliumnodes/n1'), { name: 'n1', ref: 'n1' });
    for (const bad of ['shop', 'shop/', '/web', 'shop/web/x', '']) {
      assert.equal(parseObjectKey('Pod', `/registry/core/pods/${bad}`), undefined, `pods/${bad} names no Pod`);
    }
    assert.equal(parseObjectKey('Pod', '/registry/core/services/shop/web'), undefined, 'another kind');
    for (const bad of ['', 'n1/x']) {
      assert.equal(parseObjectKey('CiliumNode', `/registry/cilium.io/ciliumnodes/${bad}`), undefined, bad);
    }
    for (const k of KIND_NAMES) assert.equal(KINDS[k].kind, k);
  });
});
