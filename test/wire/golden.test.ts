import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  cachedClusterConfig,
  cidrToWire,
  clusterConfigKey,
  decodeClusterConfig,
  decodeClusterService,
  decodeIdentityEntry,
  decodeIPIdentityPair,
  decodeNode,
  encodeClusterConfig,
  encodeClusterService,
  encodeIdentityLabels,
  encodeIPIdentityPair,
  encodeNode,
  identityKey,
  IDENTITIES_PREFIX,
  ipcacheKey,
  IPCACHE_PREFIX,
  keySuffix,
  labelsFromMap,
  localClusterConfig,
  nodeKey,
  NODE_SOURCE_CUSTOM_RESOURCE,
  resourceWatchPrefix,
  serviceKey,
  validateRemoteIdentity,
  validateRemoteIpcacheEntry,
  validateRemoteNode,
  validateRemoteService,
  storePrefix,
  type ClusterConfig,
  type ClusterService,
  type EndpointSlicesExportMode,
  type IPIdentityPair,
  type Node,
} from '../../src/wire/index.js';

/** Copies of the wire spec's golden vectors (Cilium's exact values; see docs/wire-format.md), kept beside the test so the repo is self-contained. */
const GOLDEN_DIR = new URL('./golden/', import.meta.url);

interface Golden {
  cluster?: { name: string; id: number };
  input: unknown;
  expect: Record<string, unknown>;
}

function load(name: string): Golden {
  return JSON.parse(readFileSync(new URL(name, GOLDEN_DIR), 'utf8')) as Golden;
}

/** The wire bytes: the golden files pretty-print, the wire is compact with the same field order. */
function compact(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function onlyEntry(g: Golden): [string, string] {
  const entries = Object.entries(g.expect);
  assert.equal(entries.length, 1);
  const [k, v] = entries[0]!;
  return [k, compact(v)];
}

const EAST = { name: 'east', id: 7, maxConnectedClusters: 255 as const };

describe('golden: cluster-config.json', () => {
  const g = load('cluster-config.json') as Golden & { note: string };
  const input = g.input as {
    clusterName: string;
    clusterID: number;
    maxConnectedClusters: 255;
    serviceExports: boolean;
    endpointSlicesExportMode: EndpointSlicesExportMode;
  };
  const [key, value] = onlyEntry(g);
  const fromInput = (): ClusterConfig =>
    localClusterConfig(
      input.clusterID,
      input.maxConnectedClusters,
      input.serviceExports,
      input.endpointSlicesExportMode,
    );

  it('builds the key and the exact value from the input', () => {
    assert.equal(clusterConfigKey(input.clusterName), key);
    assert.equal(encodeClusterConfig(fromInput()), value);
  });

  it('round-trips byte for byte, and field order of the typed object does not matter', () => {
    assert.equal(encodeClusterConfig(decodeClusterConfig(value)), value);
    const reordered: ClusterConfig = {
      capabilities: {
        endpointSlicesExportMode: 'services-and-endpointslices',
        serviceExportsEnabled: false,
        maxConnectedClusters: 255,
        cached: false,
        syncedCanaries: true,
      },
      id: 3,
    };
    assert.equal(encodeClusterConfig(reordered), value);
  });

  it("builds the KVStoreMesh's cached copy given in the note exactly", () => {
    const cached = /(\{"id".*\})/.exec(g.note)?.[1];
    assert.ok(cached, 'the note carries the cached config');
    assert.equal(encodeClusterConfig(cachedClusterConfig(decodeClusterConfig(value))), cached);
    assert.equal(encodeClusterConfig(cachedClusterConfig(fromInput())), cached);
  });
});

describe('golden: identity.json', () => {
  const g = load('identity.json');
  const input = g.input as { metadata: { name: string }; 'security-labels': Record<string, string> };
  const [key, value] = onlyEntry(g);

  it('builds the master key and the sorted label string from the CiliumIdentity', () => {
    const id = Number(input.metadata.name);
    assert.equal(identityKey(id), key);
    assert.equal(encodeIdentityLabels(labelsFromMap(input['security-labels'])), value);
  });

  it('decodes, validates against its cluster and re-encodes byte for byte', () => {
    const suffix = keySuffix(key, resourceWatchPrefix('identities', 'east'));
    assert.equal(suffix, '459001');
    const entry = validateRemoteIdentity(decodeIdentityEntry(suffix, value), EAST);
    assert.equal(entry.id, 459001);
    assert.equal(encodeIdentityLabels(entry.labels), value);
    assert.ok(key.startsWith(`${IDENTITIES_PREFIX}/id/`));
  });

  it('emits the same bytes whatever order the labels come in', () => {
    const shuffled = labelsFromMap(input['security-labels']).reverse();
    assert.equal(encodeIdentityLabels(shuffled), value);
  });
});

describe('golden: ipcache.json', () => {
  const g = load('ipcache.json');
  const cep = g.input as {
    metadata: { name: string; namespace: string; ownerReferences: { kind: string; uid: string }[] };
    status: {
      encryption: { key: number };
      identity: { id: number };
      'named-ports': { name: string; port: number; protocol: string }[];
      networking: { addressing: { ipv4: string; ipv6: string }[]; node: string };
      'service-account': string;
    };
  };

  /** What the apiserver derives from the CiliumEndpoint, built in an order unlike the wire's. */
  function fromEndpoint(ip: string): IPIdentityPair {
    return {
      NamedPorts: cep.status['named-ports'].map((p) => ({ Protocol: p.protocol, Port: p.port, Name: p.name })),
      K8sServiceAccount: cep.status['service-account'],
      K8sPodName: cep.metadata.name,
      K8sNamespace: cep.metadata.namespace,
      Metadata: '',
      Key: cep.status.encryption.key,
      ID: cep.status.identity.id,
      HostIP: cep.status.networking.node,
      IP: ip,
    };
  }

  const addressing = cep.status.networking.addressing[0]!;
  for (const ip of [addressing.ipv4, addressing.ipv6]) {
    it(`builds key and value for ${ip} exactly`, () => {
      const key = ipcacheKey(ip);
      assert.ok(key in g.expect, `missing golden key ${key}`);
      const value = compact(g.expect[key]);
      assert.equal(encodeIPIdentityPair(fromEndpoint(ip)), value);
    });

    it(`round-trips ${ip} and passes remote validation`, () => {
      const key = ipcacheKey(ip);
      const value = compact(g.expect[key]);
      const suffix = keySuffix(key, `${IPCACHE_PREFIX}/default`)!;
      const pair = decodeIPIdentityPair(value, suffix);
      assert.equal(encodeIPIdentityPair(pair), value);
      assert.deepEqual(validateRemoteIpcacheEntry(suffix, pair, EAST), pair);
    });
  }
});

describe('golden: node.json', () => {
  const g = load('node.json');
  const cn = g.input as {
    metadata: { name: string; labels: Record<string, string> };
    spec: {
      addresses: { ip: string; type: string }[];
      bootid: string;
      encryption: { key: number };
      health: { ipv4: string; ipv6: string };
      ipam: { podCIDRs: string[] };
    };
  };
  const [key, value] = onlyEntry(g);

  it('builds key and value from the CiliumNode exactly', () => {
    const [v4, v6] = cn.spec.ipam.podCIDRs;
    const node: Node = {
      BootID: cn.spec.bootid,
      WireguardPubKey: '',
      Annotations: null,
      Labels: cn.metadata.labels,
      EncryptionKey: cn.spec.encryption.key,
      Source: NODE_SOURCE_CUSTOM_RESOURCE,
      ClusterID: 7,
      IPv6IngressIP: '',
      IPv4IngressIP: '',
      IPv6HealthIP: cn.spec.health.ipv6,
      IPv4HealthIP: cn.spec.health.ipv4,
      IPv6SecondaryAllocCIDRs: null,
      IPv6AllocCIDR: cidrToWire(v6!),
      IPv4SecondaryAllocCIDRs: null,
      IPv4AllocCIDR: cidrToWire(v4!),
      IPAddresses: cn.spec.addresses.map((a) => ({ IP: a.ip, Type: a.type })),
      Cluster: 'east',
      Name: cn.metadata.name,
    };
    assert.equal(nodeKey(node.Cluster, node.Name), key);
    assert.equal(encodeNode(node), value);
  });

  it('round-trips byte for byte and passes remote validation', () => {
    const node = decodeNode(value);
    assert.equal(encodeNode(node), value);
    const suffix = keySuffix(key, resourceWatchPrefix('nodes', 'east'))!;
    assert.equal(suffix, 'worker-a');
    assert.equal(validateRemoteNode(suffix, node, EAST), node);
  });
});

describe('golden: service.json', () => {
  const g = load('service.json');
  const [svc, slice] = g.input as [
    {
      metadata: { name: string; namespace: string };
      spec: {
        clusterIP: string;
        selector: Record<string, string>;
        ports: { name: string; port: number; protocol: string }[];
      };
    },
    {
      endpoints: { addresses: string[]; conditions: { ready: boolean } }[];
      ports: { name: string; port: number; protocol: string }[];
    },
  ];
  const [key, value] = onlyEntry(g);

  it('builds key and value from the Service and EndpointSlice exactly', () => {
    const backends: ClusterService['backends'] = {};
    for (const ep of slice.endpoints.filter((e) => e.conditions.ready)) {
      for (const addr of ep.addresses) {
        backends[addr] = Object.fromEntries(slice.ports.map((p) => [p.name, { Port: p.port, Protocol: p.protocol }]));
      }
    }
    const cs: ClusterService = {
      clusterID: 7,
      shared: true,
      includeExternal: true,
      selector: svc.spec.selector,
      labels: {},
      backends,
      frontends: {
        [svc.spec.clusterIP]: Object.fromEntries(
          svc.spec.ports.map((p) => [p.name, { Port: p.port, Protocol: p.protocol }]),
        ),
      },
      name: svc.metadata.name,
      namespace: svc.metadata.namespace,
      cluster: 'east',
    };
    assert.equal(serviceKey(cs.cluster, cs.namespace, cs.name), key);
    assert.equal(encodeClusterService(cs), value);
  });

  it('round-trips byte for byte and passes remote validation', () => {
    const cs = decodeClusterService(value);
    assert.equal(encodeClusterService(cs), value);
    const suffix = keySuffix(key, resourceWatchPrefix('services', 'east'))!;
    assert.equal(suffix, 'shop/cart');
    assert.equal(validateRemoteService(suffix, cs, EAST), cs);
  });
});

describe('golden: endpointslice.json', () => {
  const g = load('endpointslice.json');
  const expect = g.expect as {
    key: string;
    protobuf_before_zstd_hex: string;
    decoded: { cluster: string; clusterID: number; namespace: string; name: string } & Record<string, unknown>;
  };
  const [, slice] = load('service.json').input as [unknown, Record<string, unknown> & { metadata: { name: string } }];

  it('keys the slice by its own name under the endpoint slices store', () => {
    const d = expect.decoded;
    assert.equal(`${storePrefix('endpointslices')}/${d.cluster}/${d.namespace}/${d.name}`, expect.key);
    assert.equal(d.name, slice.metadata.name, 'the key names the EndpointSlice, not the Service');
  });

  it('decodes to the service.json EndpointSlice, copied verbatim with its cluster', () => {
    const { cluster, clusterID, namespace, name, ...rest } = expect.decoded;
    assert.deepEqual({ name: cluster, id: clusterID }, g.cluster, 'cluster and clusterID are the writer cluster');
    const {
      metadata,
      apiVersion: _v,
      kind: _k,
      ...body
    } = slice as Record<string, unknown> & {
      metadata: { name: string; namespace: string; labels: Record<string, string> };
    };
    assert.deepEqual({ namespace, name }, { namespace: metadata.namespace, name: metadata.name }, 'identity fields');
    assert.deepEqual(rest, { labels: metadata.labels, ...body }, 'slice body copied verbatim');
    assert.equal(Buffer.from(expect.protobuf_before_zstd_hex, 'hex').length, 116, 'the note says 116 bytes');
  });

  // Not a pass: reported as a skip until the encoder exists.
  void it.skip('produces the protobuf byte for byte (no endpoint-slice encoder yet: issue 26 point 3)');
});
