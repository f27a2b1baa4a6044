/**
 * Feeds the agent's tables from the local cluster's state: Services and EndpointSlices into the service table,
 * CiliumEndpoints into the ipcache, CiliumIdentities into the identity cache, CiliumNodes into the node table.
 */
import { endpointToIpcache } from '../k8s/endpoint-converter.js';
import { ciliumNodeToNode } from '../k8s/node-converter.js';
import type { ClusterSource, Informer } from '../k8s/source.js';
import type { CiliumEndpoint, K8sObject } from '../k8s/types.js';
import { logger } from '../observe/logger.js';
import { labelsFromMap, parseNumericIdentity } from '../wire/index.js';
import type { AgentTables } from './tables.js';

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
}

function ref(o: K8sObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

export class LocalState {
  private readonly informers: Informer<K8sObject>[] = [];
  private endpointsInformer: Informer<CiliumEndpoint> | undefined;
  private started = false;

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
      tables.ipcache.upsertLocal(ref(cep), endpointToIpcache(cep));
    };
    endpoints.on({
      onAdd: upsertEndpoint,
      onUpdate: upsertEndpoint,
      onDelete: (cep) => {
        tables.ipcache.deleteLocal(ref(cep));
      },
    });
    this.endpointsInformer = endpoints;

    const identities = source.informer('CiliumIdentity');
    const upsertIdentity = (ci: { metadata: { name: string }; 'security-labels': Record<string, string> }): void => {
      try {
        tables.identities.upsertLocal(parseNumericIdentity(ci.metadata.name), labelsFromMap(ci['security-labels']));
      } catch (err) {
        log.warn({ identity: ci.metadata.name, err }, 'ignoring a CiliumIdentity whose name is not a numeric identity');
      }
    };
    identities.on({
      onAdd: upsertIdentity,
      onUpdate: upsertIdentity,
      onDelete: (ci) => {
        try {
          tables.identities.deleteLocal(parseNumericIdentity(ci.metadata.name));
        } catch {
          // never added
        }
      },
    });

    const nodes = source.informer('CiliumNode');
    nodes.on({
      onAdd: (cn) => {
        tables.nodes.upsert(ciliumNodeToNode(cn, cluster));
      },
      onUpdate: (cn) => {
        tables.nodes.upsert(ciliumNodeToNode(cn, cluster));
      },
      onDelete: (cn) => {
        tables.nodes.delete(cluster.name, cn.metadata.name);
      },
    });

    this.informers.push(services, slices, endpoints, identities, nodes);
    for (const inf of this.informers) inf.start();
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
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
