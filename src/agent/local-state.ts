/**
 * Feeds the agent's tables from the local cluster's state: Services and EndpointSlices into the service table,
 * CiliumEndpoints into the ipcache (and the policy engine's endpoints), CiliumIdentities into the identity cache,
 * CiliumNodes into the node table, CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies into the policy engine.
 */
import { endpointToIpcache } from '../k8s/endpoint-converter.js';
import { ciliumNodeToNode } from '../k8s/node-converter.js';
import type { ClusterSource, Informer } from '../k8s/source.js';
import type {
  CiliumClusterwideNetworkPolicy,
  CiliumEndpoint,
  CiliumNetworkPolicy,
  CiliumNode,
  K8sObject,
} from '../k8s/types.js';
import { logger } from '../observe/logger.js';
import { labelsFromMap, parseNumericIdentity, objectRef } from '../wire/index.js';
import { policyChangeCounter } from './metrics.js';
import { localEndpointOf } from './policy/endpoint-source.js';
import type { PolicyEngine } from './policy/engine.js';
import { policyName } from './policy/parse-policy.js';
import type { AgentTables } from './tables/tables.js';

const log = logger('agent-local-state');

/** One local endpoint as `endpoint list` shows it. */
export interface EndpointView {
  id: number | null;
  namespace: string;
  name: string;
  identity: number | null;
  ipv4: string;
  ipv6: string;
  /** The IP of the node hosting it. */
  hostIP: string;
  state: string;
}

export interface LocalStateOptions {
  source: ClusterSource;
  tables: AgentTables;
  clusterName: string;
  clusterId: number;
  /** The engine that follows policies and endpoints; none = policies are not read. */
  policy?: PolicyEngine;
  /** After a CiliumNode of this cluster changed or went away. */
  onNode?: (name: string, node: CiliumNode | undefined) => void;
}

/** A policy the engine refused, as `GET /v1/policy` reports it. */
export interface PolicyImportError {
  policy: string;
  error: string;
}

function ref(o: K8sObject): string {
  return objectRef(o.metadata.namespace, o.metadata.name);
}

export class LocalState {
  private readonly informers: Informer<K8sObject>[] = [];
  private endpointsInformer: Informer<CiliumEndpoint> | undefined;
  private started = false;
  private readonly importErrors = new Map<string, string>();

  constructor(private readonly opts: LocalStateOptions) {}

  /** Creates the informers, registers the handlers and starts list+watch. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const { source, tables } = this.opts;
    const cluster = { name: this.opts.clusterName, id: this.opts.clusterId };

    const services = source.informer('Service');
    services.on({
      onAdd: (s) => {
        tables.services.upsertLocalService(s);
      },
      onUpdate: (s) => {
        tables.services.upsertLocalService(s);
      },
      onDelete: (s) => {
        tables.services.deleteLocalService(s.metadata.namespace ?? '', s.metadata.name);
      },
    });

    const slices = source.informer('EndpointSlice');
    slices.on({
      onAdd: (s) => {
        tables.services.upsertEndpointSlice(s);
      },
      onUpdate: (s) => {
        tables.services.upsertEndpointSlice(s);
      },
      onDelete: (s) => {
        tables.services.deleteEndpointSlice(s.metadata.namespace ?? '', s.metadata.name);
      },
    });

    const endpoints = source.informer('CiliumEndpoint');
    const upsertEndpoint = (cep: CiliumEndpoint): void => {
      // The wire carries identity-less endpoints as ID 0; the local datapath keeps waiting for the identity.
      const identified = cep.status?.identity?.id !== undefined;
      tables.ipcache.upsertLocal(ref(cep), identified ? endpointToIpcache(cep) : []);
      this.syncPolicyEndpoint(cep);
    };
    endpoints.on({
      onAdd: upsertEndpoint,
      onUpdate: upsertEndpoint,
      onDelete: (cep) => {
        tables.ipcache.deleteLocal(ref(cep));
        this.opts.policy?.deleteEndpoint(ref(cep));
      },
    });
    this.endpointsInformer = endpoints;

    const identities = source.informer('CiliumIdentity');
    const upsertIdentity = (ci: { metadata: { name: string }; 'security-labels': Record<string, string> }): void => {
      try {
        const id = parseNumericIdentity(ci.metadata.name);
        tables.upsertLocalIdentity(id, labelsFromMap(ci['security-labels']));
        this.refreshEndpointsOf(id);
      } catch (err) {
        log.warn({ identity: ci.metadata.name, err }, 'ignoring a CiliumIdentity whose name is not a numeric identity');
      }
    };
    identities.on({
      onAdd: upsertIdentity,
      onUpdate: upsertIdentity,
      onDelete: (ci) => {
        try {
          tables.deleteLocalIdentity(parseNumericIdentity(ci.metadata.name));
        } catch {
          // never added
        }
      },
    });

    const nodes = source.informer('CiliumNode');
    nodes.on({
      onAdd: (cn) => {
        tables.nodes.upsert(ciliumNodeToNode(cn, cluster));
        this.opts.onNode?.(cn.metadata.name, cn);
      },
      onUpdate: (cn) => {
        tables.nodes.upsert(ciliumNodeToNode(cn, cluster));
        this.opts.onNode?.(cn.metadata.name, cn);
      },
      onDelete: (cn) => {
        tables.nodes.delete(cluster.name, cn.metadata.name);
        this.opts.onNode?.(cn.metadata.name, undefined);
      },
    });

    this.informers.push(services, slices, endpoints, identities, nodes);
    if (this.opts.policy) this.informers.push(...this.policyInformers(this.opts.policy));
    for (const inf of this.informers) inf.start();
  }

  private policyInformers(engine: PolicyEngine): Informer<K8sObject>[] {
    const upsert = (p: CiliumNetworkPolicy | CiliumClusterwideNetworkPolicy): void => {
      const name = policyName(p);
      const res = engine.upsertPolicy(p);
      if (res.applied) {
        policyChangeCounter().inc({ outcome: 'success' });
        this.importErrors.delete(name);
        for (const w of res.warnings) log.warn({ policy: name, warning: w }, 'policy applied with a warning');
        return;
      }
      policyChangeCounter().inc({ outcome: 'failure' });
      const error = res.error?.message ?? 'not applied';
      this.importErrors.set(name, error);
      log.warn({ policy: name, error }, 'ignoring an invalid policy (the previous version, if any, stays)');
    };
    const cnp = this.opts.source.informer('CiliumNetworkPolicy');
    cnp.on({
      onAdd: upsert,
      onUpdate: upsert,
      onDelete: (p) => {
        engine.deletePolicy(p.kind, p.metadata.namespace ?? '', p.metadata.name);
        this.importErrors.delete(policyName(p));
      },
    });
    const ccnp = this.opts.source.informer('CiliumClusterwideNetworkPolicy');
    ccnp.on({
      onAdd: upsert,
      onUpdate: upsert,
      onDelete: (p) => {
        engine.deletePolicy(p.kind, '', p.metadata.name);
        this.importErrors.delete(policyName(p));
      },
    });
    return [cnp, ccnp];
  }

  /** Policies the engine refused, by policy. */
  policyImportErrors(): PolicyImportError[] {
    return [...this.importErrors]
      .map(([policy, error]) => ({ policy, error }))
      .sort((a, b) => (a.policy < b.policy ? -1 : 1));
  }

  private syncPolicyEndpoint(cep: CiliumEndpoint): void {
    const engine = this.opts.policy;
    if (!engine) return;
    const id = cep.status?.identity?.id;
    const labels = id === undefined ? undefined : this.opts.tables.identities.get(id)?.labels;
    const ep = localEndpointOf(cep, labels);
    if (ep) engine.upsertEndpoint(ep);
    else engine.deleteEndpoint(ref(cep));
  }

  /** Endpoints whose CiliumEndpoint carries no labels take them from the identity: redo them when it changes. */
  private refreshEndpointsOf(identity: number): void {
    if (!this.opts.policy) return;
    for (const cep of this.endpointsInformer?.list() ?? []) {
      if (cep.status?.identity?.id === identity && !cep.status.identity.labels?.length) this.syncPolicyEndpoint(cep);
    }
  }

  /** Resolves once every local informer has delivered its initial list. */
  async synced(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.synced));
  }

  hasSynced(): boolean {
    return this.started && this.informers.every((i) => i.hasSynced());
  }

  /** Per kind: whether its initial list is in. */
  syncStatus(): Record<string, boolean> {
    return Object.fromEntries(this.informers.map((i) => [i.kind, i.hasSynced()]));
  }

  /** The local cluster's endpoints, sorted by namespace/name. */
  endpoints(): EndpointView[] {
    const list = this.endpointsInformer?.list() ?? [];
    return list
      .map((cep) => {
        const st = cep.status;
        const addr = st?.networking?.addressing ?? [];
        return {
          id: st?.id ?? null,
          namespace: cep.metadata.namespace ?? '',
          name: cep.metadata.name,
          identity: st?.identity?.id ?? null,
          ipv4: addr.find((a) => a.ipv4)?.ipv4 ?? '',
          ipv6: addr.find((a) => a.ipv6)?.ipv6 ?? '',
          hostIP: st?.networking?.node ?? '',
          state: st?.state ?? '',
        };
      })
      .sort((a, b) => objectRef(a.namespace, a.name).localeCompare(objectRef(b.namespace, b.name)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
