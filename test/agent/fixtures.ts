/** Object builders shared by the agent tests. */
import type { CiliumEndpoint, CiliumIdentity, CiliumNode, EndpointSlice, Service } from '../../src/k8s/types.js';
import type { ClusterService, PortConfiguration } from '../../src/wire/index.js';

export interface SvcOpts {
  namespace?: string;
  clusterIP?: string;
  global?: boolean;
  affinity?: string;
  /** Use the legacy annotation names. */
  legacy?: boolean;
  ports?: { name?: string; port: number; protocol?: 'TCP' | 'UDP' }[];
}

export function service(name: string, o: SvcOpts = {}): Service {
  const annotations: Record<string, string> = {};
  if (o.global) annotations[o.legacy ? 'io.cilium/global-service' : 'service.cilium.io/global'] = 'true';
  if (o.affinity) annotations[o.legacy ? 'io.cilium/service-affinity' : 'service.cilium.io/affinity'] = o.affinity;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.namespace ?? 'test', annotations },
    spec: {
      type: 'ClusterIP',
      clusterIP: o.clusterIP ?? '10.96.0.10',
      ports: o.ports ?? [{ name: 'http', port: 80, protocol: 'TCP' }],
      selector: { app: name },
    },
  };
}

export function slice(
  name: string,
  svcName: string,
  ips: readonly string[],
  ports: readonly { name: string; port: number }[] = [{ name: 'http', port: 8080 }],
  namespace = 'test',
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': svcName } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: 'TCP' as const })),
  };
}

export function clusterService(
  cluster: string,
  clusterID: number,
  name: string,
  backends: readonly string[],
  o: { namespace?: string; shared?: boolean; ports?: PortConfiguration } = {},
): ClusterService {
  const ports = o.ports ?? { http: { Protocol: 'TCP', Port: 9090 } };
  return {
    cluster,
    namespace: o.namespace ?? 'test',
    name,
    frontends: { '10.96.100.1': { http: { Protocol: 'TCP', Port: 80 } } },
    backends: Object.fromEntries(backends.map((ip) => [ip, ports])),
    labels: {},
    selector: {},
    includeExternal: true,
    shared: o.shared ?? true,
    clusterID,
  };
}

export function ciliumEndpoint(
  name: string,
  ip: string,
  identity: number,
  o: { namespace?: string; node?: string } = {},
): CiliumEndpoint {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: { name, namespace: o.namespace ?? 'test' },
    status: {
      id: 100,
      identity: { id: identity },
      networking: { addressing: [{ ipv4: ip }], node: o.node ?? '172.16.8.1' },
      state: 'ready',
    },
  };
}

export function ciliumIdentity(id: number, labels: Record<string, string>): CiliumIdentity {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumIdentity',
    metadata: { name: String(id) },
    'security-labels': labels,
  };
}

export function ciliumNode(name: string, podCidr: string, internalIp: string): CiliumNode {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNode',
    metadata: { name },
    spec: { addresses: [{ type: 'InternalIP', ip: internalIp }], ipam: { podCIDRs: [podCidr] } },
  };
}
