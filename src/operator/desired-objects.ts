/**
 * What the operator wants each object to look like, as pure functions of their inputs: the reconcilers compare
 * these with what is stored and write only the difference.
 */
import type {
  CiliumEndpoint,
  CiliumNode,
  Endpoint,
  EndpointPort,
  EndpointSlice,
  NamedPort,
  Pod,
  PodCondition,
  Protocol,
  Service,
} from '../k8s/types.js';
import type { NodeLayout } from '../k8s/cluster-layout.js';

/** Marks the CiliumNodes the operator owns; it never touches others. */
export const MANAGED_BY_LABEL = 'cmesh.io/managed-by';
export const MANAGED_BY_OPERATOR = 'operator';
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const SLICE_MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const SLICE_MANAGER = 'cmesh-operator';
/** The slice of the first endpoint group is `<service>-cmesh`; further ones get `-<n>`. */
export const SLICE_NAME_SUFFIX = '-cmesh';
/** Kubernetes' API maximum of endpoints in one EndpointSlice. */
export const MAX_ENDPOINTS_PER_SLICE = 1000;
/** What the ServiceAccount admission plugin puts into pods that name none. */
export const DEFAULT_SERVICE_ACCOUNT = 'default';

// ---- nodes ----

export function desiredCiliumNode(node: NodeLayout, bootid: string, existing?: CiliumNode): CiliumNode {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNode',
    metadata: {
      ...(existing?.metadata ?? {}),
      name: node.name,
      labels: {
        ...(existing?.metadata.labels ?? {}),
        [HOSTNAME_LABEL]: node.name,
        [MANAGED_BY_LABEL]: MANAGED_BY_OPERATOR,
      },
    },
    spec: {
      addresses: [
        { type: 'InternalIP', ip: node.internalIp },
        { type: 'CiliumInternalIP', ip: node.routerIp },
      ],
      health: { ipv4: node.healthIp },
      ipam: { podCIDRs: [node.podCidr.cidr] },
      encryption: { key: 0 },
      bootid,
    },
    ...(existing?.status !== undefined ? { status: existing.status } : {}),
  };
}

export function isManagedNode(n: CiliumNode): boolean {
  return n.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_OPERATOR;
}

// ---- pods ----

export function serviceAccountOf(pod: Pod): string {
  return pod.spec?.serviceAccountName ?? DEFAULT_SERVICE_ACCOUNT;
}

/** The pod's status once it runs on `node` with address `ip`; fields it already has that agree are kept. */
export function desiredPodStatus(pod: Pod, node: NodeLayout, ip: string): NonNullable<Pod['status']> {
  const cur = pod.status ?? {};
  const conditions: PodCondition[] = cur.conditions ?? [];
  const hostIp = node.internalIp;
  return {
    ...cur,
    phase: cur.phase === undefined || cur.phase === 'Pending' ? 'Running' : cur.phase,
    podIP: ip,
    podIPs: cur.podIPs?.[0]?.ip === ip ? cur.podIPs : [{ ip }],
    hostIP: hostIp,
    hostIPs: cur.hostIPs?.[0]?.ip === hostIp ? cur.hostIPs : [{ ip: hostIp }],
    conditions: conditions.some((c) => c.type === 'Ready')
      ? conditions
      : [...conditions, { type: 'Ready', status: 'True' }],
  };
}

/** Container ports with a name, as Cilium lists them in the endpoint (first of each name wins). */
export function podNamedPorts(pod: Pod): NamedPort[] {
  const out: NamedPort[] = [];
  const seen = new Set<string>();
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.name || seen.has(p.name)) continue;
      seen.add(p.name);
      out.push({ name: p.name, port: p.containerPort, protocol: p.protocol ?? 'TCP' });
    }
  }
  return out;
}

export function podReady(pod: Pod): boolean {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  return ready === undefined || ready.status === 'True';
}

// ---- endpoints ----

export interface EndpointFacts {
  endpointId: number;
  identity: number;
  securityLabels: Readonly<Record<string, string>>;
  ip: string;
  hostIp: string;
}

/** Cilium's textual label list: `source:key=value`, sorted. */
export function labelList(securityLabels: Readonly<Record<string, string>>): string[] {
  return Object.entries(securityLabels)
    .map(([k, v]) => `${k}=${v}`)
    .sort();
}

export function desiredCiliumEndpoint(pod: Pod, f: EndpointFacts, existing?: CiliumEndpoint): CiliumEndpoint {
  const namedPorts = podNamedPorts(pod);
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: {
      ...(existing?.metadata ?? {}),
      name: pod.metadata.name,
      namespace: pod.metadata.namespace!,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid ?? '' }],
    },
    status: {
      id: f.endpointId,
      identity: { id: f.identity, labels: labelList(f.securityLabels) },
      networking: { addressing: [{ ipv4: f.ip }], node: f.hostIp },
      encryption: { key: 0 },
      ...(namedPorts.length > 0 ? { 'named-ports': namedPorts } : {}),
      'service-account': serviceAccountOf(pod),
      state: 'ready',
    },
  };
}

export function podOwnerOf(cep: CiliumEndpoint): { name: string; uid: string } | undefined {
  return cep.metadata.ownerReferences?.find((o) => o.kind === 'Pod' && o.apiVersion === 'v1');
}

// ---- endpoint slices ----

export function isManagedSlice(s: EndpointSlice): boolean {
  return s.metadata.labels?.[SLICE_MANAGED_BY_LABEL] === SLICE_MANAGER;
}

/** A selector the endpoints controller acts on: present and not empty (Kubernetes treats `{}` as none). */
export function serviceSelector(svc: Service | undefined): Record<string, string> | undefined {
  if (!svc || svc.spec?.type === 'ExternalName') return undefined;
  const sel = svc.spec?.selector;
  return sel && Object.keys(sel).length > 0 ? sel : undefined;
}

export function sliceName(service: string, n: number): string {
  return n === 0 ? `${service}${SLICE_NAME_SUFFIX}` : `${service}${SLICE_NAME_SUFFIX}-${n}`;
}

/** The service's ports resolved against one pod's containers; a named target the pod lacks is left out. */
export function resolvePorts(svc: Service, pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const protocol: Protocol = sp.protocol ?? 'TCP';
    const target = sp.targetPort ?? sp.port;
    let port: number | undefined;
    if (typeof target === 'number') port = target;
    else {
      for (const c of pod.spec?.containers ?? []) {
        const cp = c.ports?.find((p) => p.name === target && (p.protocol ?? 'TCP') === protocol);
        if (cp) {
          port = cp.containerPort;
          break;
        }
      }
    }
    if (port === undefined) continue;
    out.push({
      ...(sp.name ? { name: sp.name } : {}),
      port,
      protocol,
      ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}),
    });
  }
  return out;
}

/** Pods that back a service: running, with an address. */
export function isServingPod(pod: Pod): boolean {
  return pod.status?.phase === 'Running' && !!pod.status.podIP;
}

/**
 * The EndpointSlices of a service over its selected pods (already filtered by selector and namespace). Pods whose
 * ports resolve alike share slices; the group with every port resolved comes first and its first slice is
 * `<svc>-cmesh`. A service without any such pod still gets `<svc>-cmesh`, empty.
 */
export function desiredEndpointSlices(svc: Service, pods: readonly Pod[]): EndpointSlice[] {
  const name = svc.metadata.name;
  const namespace = svc.metadata.namespace!;
  const groups = new Map<string, { ports: EndpointPort[]; endpoints: Endpoint[] }>();
  const sorted = [...pods].filter(isServingPod).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  for (const pod of sorted) {
    const ports = resolvePorts(svc, pod);
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    const ready = podReady(pod);
    g.endpoints.push({
      addresses: [pod.status!.podIP!],
      conditions: { ready, serving: ready, terminating: false },
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: {
        kind: 'Pod',
        namespace,
        name: pod.metadata.name,
        ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}),
      },
    });
  }
  const full = (svc.spec?.ports ?? []).length;
  const ordered = [...groups.entries()]
    .sort(
      ([ka, a], [kb, b]) =>
        (b.ports.length === full ? 1 : 0) - (a.ports.length === full ? 1 : 0) || (ka < kb ? -1 : ka > kb ? 1 : 0),
    )
    .map(([, g]) => g);
  if (ordered.length === 0) ordered.push({ ports: [], endpoints: [] });
  const out: EndpointSlice[] = [];
  for (const g of ordered) {
    for (let i = 0; i === 0 || i < g.endpoints.length; i += MAX_ENDPOINTS_PER_SLICE) {
      out.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: sliceName(name, out.length),
          namespace,
          labels: { [SERVICE_NAME_LABEL]: name, [SLICE_MANAGED_BY_LABEL]: SLICE_MANAGER },
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'Service',
              name,
              uid: svc.metadata.uid ?? '',
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        addressType: 'IPv4',
        endpoints: g.endpoints.slice(i, i + MAX_ENDPOINTS_PER_SLICE),
        ports: g.ports,
      });
    }
  }
  return out;
}
