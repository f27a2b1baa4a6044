/**
 * Test helpers for the agent's remote side: a recording sink, and a "remote cluster" that writes its etcd
 * directly with Cilium-format values, as a real clustermesh-apiserver (or kvstoremesh) would.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { RemoteClusterSink } from '../../../src/agent/remote/remote-cluster-types.js';
import type { ClusterMeshTuning } from '../../../src/agent/remote/cluster-mesh.js';
import {
  CACHE_REACHABILITY_WRITER_KEY,
  cacheReachabilityKey,
  clusterConfigKey,
  encodeClusterConfig,
  encodeClusterService,
  encodeIPIdentityPair,
  encodeIdentityLabels,
  encodeNode,
  newNode,
  resourceWatchPrefix,
  syncedCanaryKey,
  type ClusterCapabilities,
  type ClusterService,
  type IPIdentityPair,
  type Label,
  type MeshResource,
  type Node,
} from '../../../src/wire/index.js';
import { TestEtcd } from '../../harness/etcd.js';

export const WAIT_TIMEOUT_MS = 20_000;

/** Polls `cond` until it is true; fails with `what` (and the last `detail()`) after the timeout. */
export async function waitFor(
  what: string,
  cond: () => boolean,
  detail: () => unknown = () => '',
  timeoutMs = WAIT_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(detail())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Short intervals so that tests run in seconds. */
export const FAST: ClusterMeshTuning = {
  probeIntervalMs: 300,
  probeTimeoutMs: 1_000,
  probeFailureThreshold: 2,
  connectTimeoutMs: 2_000,
  backoff: { initialMs: 50, maxMs: 300 },
  configDebounceMs: 30,
  configRescanMs: 500,
  nodeName: 'test-node',
};

interface ClusterView {
  nodes: Map<string, Node>;
  services: Map<string, ClusterService>;
  ipcache: Map<string, IPIdentityPair>;
  identities: Map<number, Label[]>;
}

/** Records the sink calls per cluster, as the tables side would apply them. */
export class RecordingSink implements RemoteClusterSink {
  readonly clusters = new Map<string, ClusterView>();
  readonly reachability: { cluster: string; reachable: boolean }[] = [];
  readonly calls: string[] = [];

  view(cluster: string): ClusterView {
    let v = this.clusters.get(cluster);
    if (!v) {
      v = { nodes: new Map(), services: new Map(), ipcache: new Map(), identities: new Map() };
      this.clusters.set(cluster, v);
    }
    return v;
  }

  /** Total entries of all kinds held for `cluster`. */
  size(cluster: string): number {
    const v = this.view(cluster);
    return v.nodes.size + v.services.size + v.ipcache.size + v.identities.size;
  }

  reachable(cluster: string): boolean | undefined {
    return this.reachability.filter((r) => r.cluster === cluster).at(-1)?.reachable;
  }

  upsertNode(cluster: string, node: Node): void {
    this.calls.push(`upsertNode ${cluster} ${node.Name}`);
    this.view(cluster).nodes.set(node.Name, node);
  }
  deleteNode(cluster: string, name: string): void {
    this.calls.push(`deleteNode ${cluster} ${name}`);
    this.view(cluster).nodes.delete(name);
  }
  upsertService(cluster: string, svc: ClusterService): void {
    this.calls.push(`upsertService ${cluster} ${svc.namespace}/${svc.name}`);
    this.view(cluster).services.set(`${svc.namespace}/${svc.name}`, svc);
  }
  deleteService(cluster: string, namespace: string, name: string): void {
    this.calls.push(`deleteService ${cluster} ${namespace}/${name}`);
    this.view(cluster).services.delete(`${namespace}/${name}`);
  }
  upsertIpcache(cluster: string, key: string, entry: IPIdentityPair): void {
    this.calls.push(`upsertIpcache ${cluster} ${key}`);
    this.view(cluster).ipcache.set(key, entry);
  }
  deleteIpcache(cluster: string, key: string): void {
    this.calls.push(`deleteIpcache ${cluster} ${key}`);
    this.view(cluster).ipcache.delete(key);
  }
  upsertIdentity(cluster: string, id: number, labels: readonly Label[]): void {
    this.calls.push(`upsertIdentity ${cluster} ${id}`);
    this.view(cluster).identities.set(id, [...labels]);
  }
  deleteIdentity(cluster: string, id: number): void {
    this.calls.push(`deleteIdentity ${cluster} ${id}`);
    this.view(cluster).identities.delete(id);
  }
  setReachable(cluster: string, reachable: boolean): void {
    this.calls.push(`setReachable ${cluster} ${reachable}`);
    this.reachability.push({ cluster, reachable });
  }
  /** Not recorded in `calls`: the tests follow the entries, and the ID arrives with every entry too. */
  setClusterId(): void {
    return undefined;
  }
}

export function makeNode(cluster: string, id: number, name: string, ip = '172.20.0.4'): Node {
  return newNode(name, {
    Cluster: cluster,
    IPAddresses: [{ Type: 'InternalIP', IP: ip }],
    IPv4AllocCIDR: { IP: '10.70.3.0', Mask: '////AA==' },
    ClusterID: id,
  });
}

export function makeService(cluster: string, id: number, ns: string, name: string, shared = true): ClusterService {
  return {
    cluster,
    namespace: ns,
    name,
    frontends: { '10.96.40.2': { grpc: { Protocol: 'TCP', Port: 9000 } } },
    backends: { '10.70.3.30': { grpc: { Protocol: 'TCP', Port: 9090 } } },
    labels: {},
    selector: { app: name },
    includeExternal: true,
    shared,
    clusterID: id,
  };
}

export function makeIpcache(ip: string, identity: number): IPIdentityPair {
  return { IP: ip, HostIP: '172.20.0.4', ID: identity, Key: 0, Metadata: '', K8sNamespace: 'shop', K8sPodName: 'p' };
}

export function identityLabels(cluster: string, app: string): Label[] {
  return [
    { source: 'k8s', key: 'app', value: app },
    { source: 'k8s', key: 'io.cilium.k8s.policy.cluster', value: cluster },
    { source: 'k8s', key: 'io.kubernetes.pod.namespace', value: 'shop' },
  ];
}

/** An identity of cluster `id` (255 mode): the cluster ID sits in bits 16-23. */
export function clusterIdentity(id: number, n: number): number {
  return (id << 16) + n;
}

/** A remote cluster's clustermesh etcd, written the way its clustermesh-apiserver (or a kvstoremesh) would. */
export class FakeRemote {
  private constructor(
    readonly name: string,
    public id: number,
    readonly etcd: TestEtcd,
    readonly client: Etcd3,
    /** Write `cilium/cache/...` as a kvstoremesh does, instead of `cilium/state/...`. */
    readonly cached: boolean,
  ) {}

  static async start(name: string, id: number, opts: { cached?: boolean } = {}): Promise<FakeRemote> {
    const etcd = await TestEtcd.start();
    const client = await etcd.client();
    return new FakeRemote(name, id, etcd, client, opts.cached ?? false);
  }

  async putConfig(caps: Partial<ClusterCapabilities> = {}, id = this.id): Promise<void> {
    const cfg = {
      id,
      capabilities: { syncedCanaries: true, cached: this.cached, maxConnectedClusters: 255, ...caps },
    };
    await this.client.put(clusterConfigKey(this.name)).value(encodeClusterConfig(cfg));
  }

  async heartbeat(): Promise<void> {
    await this.client.put('cilium/.heartbeat').value(new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
  }

  private key(resource: MeshResource, suffix: string): string {
    return resourceWatchPrefix(resource, this.name, this.cached) + suffix;
  }

  async putNode(node: Node, suffix = node.Name): Promise<void> {
    await this.client.put(this.key('nodes', suffix)).value(encodeNode(node));
  }

  async putService(svc: ClusterService, suffix = `${svc.namespace}/${svc.name}`): Promise<void> {
    await this.client.put(this.key('services', suffix)).value(encodeClusterService(svc));
  }

  async putIpcache(entry: IPIdentityPair, suffix = entry.IP): Promise<void> {
    await this.client.put(this.key('ip', suffix)).value(encodeIPIdentityPair(entry));
  }

  async putIdentity(id: number, labels: Label[]): Promise<void> {
    await this.client.put(this.key('identities', String(id))).value(encodeIdentityLabels(labels));
  }

  async delete(resource: MeshResource, suffix: string): Promise<void> {
    await this.client.delete().key(this.key(resource, suffix));
  }

  async putCanary(resource: MeshResource): Promise<void> {
    await this.client.put(syncedCanaryKey(this.name, resource, this.cached)).value('2024-01-01T00:00:00Z');
  }

  async putAllCanaries(): Promise<void> {
    for (const r of ['nodes', 'services', 'identities', 'ip'] as const) await this.putCanary(r);
    // A cmesh kvstoremesh announces that it keeps markers and marks the remotes it reaches; readers of such a cache
    // require the marker.
    if (this.cached) {
      await this.client.put(CACHE_REACHABILITY_WRITER_KEY).value('cmesh-kvstoremesh');
      await this.client.put(cacheReachabilityKey(this.name)).value(new Date().toISOString());
    }
  }

  /** A typical small cluster: 2 nodes, 1 shared + 1 non-shared service, 2 endpoints, 2 identities. */
  async populate(): Promise<void> {
    const { name, id } = this;
    await this.putNode(makeNode(name, id, 'n1'));
    await this.putNode(makeNode(name, id, 'n2', '172.20.0.5'));
    await this.putService(makeService(name, id, 'shop', 'cart'));
    await this.putService(makeService(name, id, 'shop', 'private', false));
    await this.putIpcache(makeIpcache('10.70.3.30', clusterIdentity(id, 1)));
    await this.putIpcache(makeIpcache('10.70.3.31', clusterIdentity(id, 2)));
    await this.putIdentity(clusterIdentity(id, 1), identityLabels(name, 'cart'));
    await this.putIdentity(clusterIdentity(id, 2), identityLabels(name, 'web'));
  }

  async stop(): Promise<void> {
    await this.etcd.stop();
  }
}

/** A config directory in a temp folder. */
export class ConfigDir {
  private constructor(readonly dir: string) {}

  static async create(): Promise<ConfigDir> {
    return new ConfigDir(await mkdtemp(path.join(tmpdir(), 'cmesh-test-cmcfg-')));
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  async write(name: string, endpoint: string, extra = ''): Promise<void> {
    await writeFile(this.file(name), `endpoints:\n- ${endpoint}\n${extra}`);
  }

  async remove(name: string): Promise<void> {
    await rm(this.file(name), { force: true });
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
