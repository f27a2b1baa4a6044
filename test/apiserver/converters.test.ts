import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { CiliumEndpoint, CiliumIdentity, CiliumNode, EndpointSlice, Service } from '../../src/k8s/types.js';
import { identityToKv } from '../../src/apiserver/identity-converter.js';
import { endpointToIpcache } from '../../src/k8s/endpoint-converter.js';
import { ciliumNodeToNode } from '../../src/k8s/node-converter.js';
import { serviceToClusterService } from '../../src/k8s/service-converter.js';
import { isGlobalNamespace, isSharedService, serviceAffinity } from '../../src/k8s/cilium-annotations.js';
import {
  encodeClusterService,
  encodeIPIdentityPair,
  encodeNode,
  identityKey,
  ipcacheKey,
  nodeKey,
  serviceKey,
} from '../../src/wire/index.js';

interface Golden<I> {
  cluster: { name: string; id: number };
  input: I;
  expect: Record<string, unknown>;
}

function golden<I>(name: string): Golden<I> {
  return JSON.parse(readFileSync(new URL(`../wire/golden/${name}.json`, import.meta.url), 'utf8')) as Golden<I>;
}

/** The compact form of an expected value: JSON.stringify keeps the golden file's field order; strings stay as is. */
function compact(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

describe('apiserver converters reproduce the golden files byte for byte', () => {
  it('CiliumIdentity -> identity master key', () => {
    const g = golden<CiliumIdentity>('identity');
    const kv = identityToKv(g.input);
    const [[key, value]] = Object.entries(g.expect) as [[string, unknown]];
    assert.equal(identityKey(kv.id), key);
    assert.equal(kv.labels, compact(value));
  });

  it('CiliumEndpoint -> one ipcache entry per address', () => {
    const g = golden<CiliumEndpoint>('ipcache');
    const pairs = endpointToIpcache(g.input);
    const got = Object.fromEntries(pairs.map((p) => [ipcacheKey(p.IP), encodeIPIdentityPair(p)]));
    const want = Object.fromEntries(Object.entries(g.expect).map(([k, v]) => [k, compact(v)]));
    assert.deepEqual(got, want);
  });

  it('CiliumEndpoint without service account omits it; without identity still yields ID 0 entries', () => {
    const g = golden<CiliumEndpoint>('ipcache');
    const cep = structuredClone(g.input);
    delete cep.status!['service-account'];
    const [p] = endpointToIpcache(cep);
    const s = encodeIPIdentityPair(p!);
    assert.doesNotMatch(s, /K8sPodUID|K8sServiceAccount/);
    delete cep.status!.identity;
    const noId = endpointToIpcache(cep);
    assert.deepEqual(
      noId.map((e) => [e.IP, e.ID]),
      [
        ['10.70.3.21', 0],
        ['fd00:10:70:3::e1', 0],
      ],
      'one ID 0 entry per address, as Cilium 1.20 writes for an endpoint without an identity',
    );
    delete cep.status!.networking;
    assert.deepEqual(endpointToIpcache(cep), [], 'no address, no entry');
  });

  it('CiliumEndpoint named ports keep their protocol as given, unset included', () => {
    const g = golden<CiliumEndpoint>('ipcache');
    const cep = structuredClone(g.input);
    cep.status!['named-ports'] = [
      { name: 'x', port: 1 },
      { name: 'y', port: 2, protocol: 'SCTP' },
    ];
    const [p] = endpointToIpcache(cep);
    assert.match(
      encodeIPIdentityPair(p!),
      /"NamedPorts":\[\{"Name":"x","Port":1,"Protocol":""\},\{"Name":"y","Port":2,"Protocol":"SCTP"\}\]\}$/,
    );
  });

  it('CiliumNode -> Node', () => {
    const g = golden<CiliumNode>('node');
    const node = ciliumNodeToNode(g.input, g.cluster);
    const [[key, value]] = Object.entries(g.expect) as [[string, unknown]];
    assert.equal(nodeKey(g.cluster.name, node.Name), key);
    assert.equal(encodeNode(node), compact(value));
  });

  it('CiliumNode wireguard annotation becomes WireguardPubKey', () => {
    const g = golden<CiliumNode>('node');
    const cn = structuredClone(g.input);
    cn.metadata.annotations = { 'network.cilium.io/wg-pub-key': 'abc=' };
    const node = ciliumNodeToNode(cn, g.cluster);
    assert.equal(node.WireguardPubKey, 'abc=');
  });

  it('Service + EndpointSlice -> ClusterService', () => {
    const g = golden<[Service, EndpointSlice]>('service');
    const [svc, slice] = g.input;
    const cs = serviceToClusterService(svc, [slice], g.cluster);
    const [[key, value]] = Object.entries(g.expect) as [[string, unknown]];
    assert.equal(serviceKey(g.cluster.name, cs.namespace, cs.name), key);
    assert.equal(encodeClusterService(cs), compact(value));
  });

  it('not-ready endpoints are not backends', () => {
    const g = golden<[Service, EndpointSlice]>('service');
    const [svc, slice] = structuredClone(g.input);
    slice.endpoints.push({ addresses: ['10.70.3.31'], conditions: { ready: false } });
    slice.endpoints.push({ addresses: ['10.70.3.32'] });
    const cs = serviceToClusterService(svc, [slice], g.cluster);
    assert.deepEqual(Object.keys(cs.backends).sort(), ['10.70.3.30', '10.70.3.32']);
  });
});

describe('service annotations', () => {
  it('global/shared with legacy aliases', () => {
    assert.equal(isSharedService({ 'service.cilium.io/global': 'true' }), true);
    assert.equal(isSharedService({ 'io.cilium/global-service': 'true' }), true);
    assert.equal(isSharedService({ 'io.cilium/global-service': 'true', 'io.cilium/shared-service': 'false' }), false);
    assert.equal(isSharedService({ 'service.cilium.io/global': 'true', 'service.cilium.io/shared': 'false' }), false);
    assert.equal(isSharedService({ 'service.cilium.io/shared': 'true' }), false);
    assert.equal(isSharedService(undefined), false);
  });

  it('affinity: local/remote/none, legacy alias, anything else rejected', () => {
    assert.equal(serviceAffinity({ 'service.cilium.io/affinity': 'local' }), 'local');
    assert.equal(serviceAffinity({ 'io.cilium/service-affinity': 'remote' }), 'remote');
    assert.equal(serviceAffinity({}), 'none');
    assert.throws(
      () => serviceAffinity({ 'service.cilium.io/affinity': 'nearest' }),
      /invalid service affinity "nearest".*local, remote or none/,
    );
  });

  it('namespace filter: annotation wins over the default', () => {
    assert.equal(isGlobalNamespace({ 'clustermesh.cilium.io/global': 'false' }, true), false);
    assert.equal(isGlobalNamespace({ 'clustermesh.cilium.io/global': 'true' }, false), true);
    assert.equal(isGlobalNamespace({}, true), true);
    assert.equal(isGlobalNamespace(undefined, false), false);
  });
});
