import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type {
  CiliumEndpoint,
  CiliumIdentity,
  CiliumNode,
  EndpointSlice,
  Service,
  ServiceExport as ServiceExportObject,
} from '../../src/k8s/types.js';
import { serviceToExport } from '../../src/apiserver/service-export-converter.js';
import { identityToKv } from '../../src/apiserver/identity-converter.js';
import { endpointToIpcache } from '../../src/k8s/endpoint-converter.js';
import { ciliumNodeToNode } from '../../src/k8s/node-converter.js';
import { isHeadlessService, serviceToClusterService } from '../../src/k8s/service-converter.js';
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

  it('backends are the endpoints ready or serving (unset counts as true); neither is not a backend', () => {
    const g = golden<[Service, EndpointSlice]>('service');
    const [svc, slice] = structuredClone(g.input);
    slice.endpoints.push({ addresses: ['10.70.3.31'], conditions: { ready: false, serving: false } });
    slice.endpoints.push({ addresses: ['10.70.3.32'] });
    slice.endpoints.push({ addresses: ['10.70.3.33'], conditions: { ready: false, serving: true, terminating: true } });
    slice.endpoints.push({ addresses: ['10.70.3.34'], conditions: { ready: false } });
    const cs = serviceToClusterService(svc, [slice], g.cluster);
    assert.deepEqual(
      Object.keys(cs.backends).sort(),
      ['10.70.3.30', '10.70.3.32', '10.70.3.33', '10.70.3.34'],
      'terminating-but-serving and unset-serving endpoints stay backends (Cilium 1.20)',
    );
  });

  it('a zone without hints has forZones [], with hints their names; the deprecated topology zone is a fallback', () => {
    const g = golden<[Service, EndpointSlice]>('service');
    const [svc, slice] = structuredClone(g.input);
    slice.endpoints = [
      { addresses: ['10.70.3.30'], zone: 'a' },
      { addresses: ['10.70.3.31'], zone: 'b', hints: { forZones: [{ name: 'b' }, { name: 'c' }] } },
      { addresses: ['10.70.3.32'], deprecatedTopology: { 'topology.kubernetes.io/zone': 'd' } },
      { addresses: ['10.70.3.33'] },
    ];
    const value = encodeClusterService(serviceToClusterService(svc, [slice], g.cluster));
    assert.match(
      value,
      /"zones":\{"10\.70\.3\.30":\{"zone":"a","forZones":\[\]\},"10\.70\.3\.31":\{"zone":"b","forZones":\[\{"name":"b"\},\{"name":"c"\}\]\},"10\.70\.3\.32":\{"zone":"d","forZones":\[\]\}\},/,
    );
  });

  it('only TCP, UDP and SCTP backend ports count (unset = TCP); ports without a number are skipped', () => {
    const g = golden<[Service, EndpointSlice]>('service');
    const [svc, slice] = structuredClone(g.input);
    svc.spec!.ports = [
      { name: 'a', port: 1 },
      { name: 'b', port: 2, protocol: 'UDP' },
      { name: 'c', port: 3, protocol: 'SCTP' },
      { name: 'd', port: 4, protocol: 'ICMP' as 'TCP' },
    ];
    slice.ports = [
      { name: 'a', port: 11 },
      { name: 'b', port: 12, protocol: 'UDP' },
      { name: 'c', port: 13, protocol: 'SCTP' },
      { name: 'd', port: 14, protocol: 'ICMP' as 'TCP' },
      { name: 'e', protocol: 'TCP' },
    ];
    const cs = serviceToClusterService(svc, [slice], g.cluster);
    const l4 = { a: { Protocol: 'TCP' }, b: { Protocol: 'UDP' }, c: { Protocol: 'SCTP' } };
    assert.deepEqual(
      cs.frontends['10.96.40.2'],
      { a: { ...l4.a, Port: 1 }, b: { ...l4.b, Port: 2 }, c: { ...l4.c, Port: 3 }, d: { Protocol: 'ICMP', Port: 4 } },
      "the Service's own ports are copied as given, as Cilium's service sync does",
    );
    assert.deepEqual(cs.backends['10.70.3.30'], {
      a: { ...l4.a, Port: 11 },
      b: { ...l4.b, Port: 12 },
      c: { ...l4.c, Port: 13 },
    });
  });

  it('an address in two slices takes the later slice ports', () => {
    const g = golden<[Service, EndpointSlice]>('service');
    const [svc, slice] = structuredClone(g.input);
    const later = structuredClone(slice);
    later.metadata.name = 'cart-later';
    later.ports = [{ name: 'other', port: 9999, protocol: 'TCP' }];
    const cs = serviceToClusterService(svc, [slice, later], g.cluster);
    assert.deepEqual(cs.backends['10.70.3.30'], { other: { Protocol: 'TCP', Port: 9999 } });
  });

  it('a Service with cluster IP None or the service.kubernetes.io/headless label is headless: no frontends', () => {
    const g = golden<[Service, EndpointSlice]>('service');
    const [svc, slice] = structuredClone(g.input);
    svc.metadata.labels = { 'service.kubernetes.io/headless': '' };
    assert.equal(isHeadlessService(svc), true);
    const cs = serviceToClusterService(svc, [slice], g.cluster);
    assert.deepEqual(cs.frontends, {});
    assert.deepEqual(Object.keys(cs.backends), ['10.70.3.30'], 'backends unchanged');
    const none = structuredClone(g.input[0]);
    none.spec!.clusterIP = 'None';
    none.spec!.clusterIPs = ['None'];
    assert.equal(isHeadlessService(none), true);
    assert.equal(isHeadlessService(g.input[0]), false);
  });
});

describe('Service + ServiceExport -> service export value (Cilium 1.20)', () => {
  const g = golden<[Service, EndpointSlice]>('service');
  const exp: ServiceExportObject = {
    apiVersion: 'multicluster.x-k8s.io/v1alpha1',
    kind: 'ServiceExport',
    metadata: { name: 'cart', namespace: 'shop', creationTimestamp: '2026-12-04T10:00:00.123Z' },
    spec: { exportedLabels: { tier: 'api' }, exportedAnnotations: { note: 'x' } },
  };

  it('writes the legacy copies, ipFamilies, internalTrafficPolicy and trafficDistribution in Cilium order', () => {
    const svc = structuredClone(g.input[0]);
    Object.assign(svc.spec!, {
      ipFamilies: ['IPv4'],
      internalTrafficPolicy: 'Local',
      trafficDistribution: 'PreferSameZone',
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
    });
    assert.equal(
      serviceToExport(svc, exp, g.cluster),
      '{"cluster":"east","name":"cart","namespace":"shop","annotations":{"note":"x"},"labels":{"tier":"api"},' +
        '"Labels":{"tier":"api"},"Annotations":{"note":"x"},"exportCreationTimestamp":"2026-12-04T10:00:00Z",' +
        '"ports":[{"name":"grpc","protocol":"TCP","port":9000}],"type":"ClusterSetIP","sessionAffinity":"ClientIP",' +
        '"sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}},"ipFamilies":["IPv4"],' +
        '"internalTrafficPolicy":"Local","trafficDistribution":"PreferSameZone"}',
    );
  });

  it('leaves sessionAffinityConfig out unless clientIP.timeoutSeconds is set', () => {
    const svc = structuredClone(g.input[0]);
    Object.assign(svc.spec!, { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: {} } });
    assert.doesNotMatch(serviceToExport(svc, exp, g.cluster) ?? '', /sessionAffinityConfig/);
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

  it('namespace filter: a present annotation is global only when it reads true, an absent one follows the default', () => {
    assert.equal(isGlobalNamespace({ 'clustermesh.cilium.io/global': 'false' }, true), false);
    assert.equal(isGlobalNamespace({ 'clustermesh.cilium.io/global': 'true' }, false), true);
    assert.equal(isGlobalNamespace({ 'clustermesh.cilium.io/global': 'True' }, false), true);
    for (const v of ['', 'yes', '1', 'on']) {
      assert.equal(isGlobalNamespace({ 'clustermesh.cilium.io/global': v }, true), false, `"${v}" is not global`);
    }
    assert.equal(isGlobalNamespace({}, true), true);
    assert.equal(isGlobalNamespace(undefined, false), false);
  });
});
