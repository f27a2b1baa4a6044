/**
 * The JSON the agent's local API serves (and `cmesh ... -o json` prints). Field names are part of the interface:
 * scripts and tests read them.
 */
import type { ListenerStatus, ProxyVerdict } from '../datapath/service-proxy.js';
import type { TunnelStatus, TunnelVerdict } from '../datapath/tunnel.js';
import type { EndpointView, PolicyImportError } from '../local-state.js';
import type { EndpointPolicyView, EngineStats, PolicyStatus } from '../policy/engine.js';
import type { TraceRequest, TraceResult } from '../policy/trace.js';
import type { SampleServerView } from '../sample-servers.js';
import type { IdentityView } from '../tables/identity-cache.js';
import type { IpcacheEntry } from '../tables/ipcache.js';
import type { NodeView } from '../tables/node-table.js';
import type { RemoteClusterStatus } from '../remote/remote-cluster-types.js';
import type { BackendState } from '../tables/service-merger.js';

export type {
  EndpointPolicyView,
  EndpointView,
  IdentityView,
  IpcacheEntry,
  NodeView,
  RemoteClusterStatus,
  TraceRequest,
  TraceResult,
};

/** One backend of a frontend in `service list`. */
export interface ServiceBackendView {
  address: string;
  port: number;
  protocol: string;
  cluster: string;
  clusterID: number;
  state: BackendState;
  selected: boolean;
}

/** One frontend of `service list` (as `cilium-dbg service list`: a row per frontend). */
export interface ServiceListEntry {
  frontend: string;
  type: string;
  /** `namespace/name`. */
  service: string;
  backends: ServiceBackendView[];
}

/** One frontend of `bpf lb list`: only the backends load balancing picks, in slot order. */
export interface LbEntry {
  frontend: string;
  type: string;
  service: string;
  revNatId: number;
  backends: { slot: number; address: string; port: number; protocol: string; cluster: string }[];
}

export interface AgentStatus {
  cluster: { name: string; id: number; maxConnectedClusters: number };
  node: string;
  startedAt: string;
  /** Local state listed and every remote known at start ready (or timed out). */
  synced: boolean;
  /** Per local kind: whether its initial list is in. */
  localSync: Record<string, boolean>;
  counts: {
    services: number;
    frontends: number;
    ipcache: number;
    identities: number;
    nodes: number;
    endpoints: number;
  };
  clusterMesh: {
    enabled: boolean;
    /** Services at least one remote shares (cilium_clustermesh_global_services). */
    globalServices: number;
    numRemotes: number;
    numReady: number;
    remotes: RemoteClusterStatus[];
  };
}

export interface HealthView {
  ok: boolean;
  synced: boolean;
}

/** `GET /v1/datapath`: the service proxy's listeners and verdict counters, the node tunnel, the sample servers. */
export interface DatapathView {
  listeners: ListenerStatus[];
  counters: Record<ProxyVerdict, number>;
  /** Null when this node has no loopback tunnel address. */
  tunnel: (TunnelStatus & { counters: Record<TunnelVerdict, number> }) | null;
  sampleServers: SampleServerView[];
}

/** `GET /v1/policy`: the policies applied, those refused, the endpoints policies apply to. */
export interface PolicyOverview {
  policies: PolicyStatus[];
  errors: PolicyImportError[];
  /** `namespace/name` of every local endpoint the engine holds. */
  endpoints: string[];
  stats: EngineStats;
}

/**
 * What the API server reads: one call per route. The agent provides it; the server depends on this shape, not on
 * the Agent class, so that the API room stays below the agent that wires it.
 */
export interface AgentApiSource {
  hasSynced(): boolean;
  status(): AgentStatus;
  serviceList(): ServiceListEntry[];
  lbList(): LbEntry[];
  readonly ipcache: { list(): IpcacheEntry[] };
  readonly identities: { list(): IdentityView[] };
  endpoints(): EndpointView[];
  readonly nodes: { views(): NodeView[] };
  policyOverview(): PolicyOverview;
  datapath(): DatapathView;
  tracePolicy(req: TraceRequest): TraceResult;
  endpointPolicy(id: string): EndpointPolicyView;
}
