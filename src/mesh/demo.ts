import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { AgentClient } from '../agent/api/api-client.js';
import { ObjectStore } from '../k8s/object-store.js';
import type { AnyObject } from '../k8s/types.js';
import { createEtcdClient } from '../kvstore/client.js';
import { enableClustermesh } from './clustermesh.js';
import { connectClusters } from './connect.js';
import { deleteClusters } from './cluster-delete.js';
import { cmeshHome } from './home.js';
import {
  agentSocket,
  createCluster,
  defaultPodCidr,
  defaultServiceCidr,
  listClusterNames,
  loadCluster,
  nodeNames,
  stateEtcdEndpoint,
  validateNewCluster,
} from './local-cluster.js';
import { waitBudget, type StepOptions } from './steps.js';
import { waitForClustermesh, type ClustermeshStatus } from './status.js';

export const DEMO_CLUSTERS = 3;
export const DEMO_NODES = 2;
export const DEMO_NAMESPACE = 'demo';
export const DEMO_SERVICE = 'echo';
const DEMO_REPLICAS = 2;
const DEMO_PORT = 8080;
const MESH_WAIT_MS = 90_000;
const BACKENDS_WAIT_MS = 60_000;
const POLL_MS = 250;

export class DemoError extends Error {
  override name = 'DemoError';
}

export interface DemoCluster {
  name: string;
  id: number;
  podCidr: string;
  serviceCidr: string;
  clusterIp: string;
  affinity: 'local' | 'none';
}

/**
 * The demo's clusters, with the default CIDRs of `cluster create` (distinct per cluster, pods in 10/8 and services
 * on loopback, so that the userspace datapath serves real connections on this machine); cluster 1's service
 * prefers its local backends.
 */
export function demoClusters(count = DEMO_CLUSTERS): DemoCluster[] {
  return Array.from({ length: count }, (_, i) => {
    const id = i + 1;
    const serviceCidr = defaultServiceCidr(id) ?? '';
    return {
      name: `cluster${id}`,
      id,
      podCidr: defaultPodCidr(id) ?? '',
      serviceCidr,
      // The 10th address of the service CIDR, as a fixed ClusterIP people can type.
      clusterIp: serviceCidr.replace(/\.0\/\d+$/, '.10'),
      affinity: id === 1 ? 'local' : 'none',
    };
  });
}

/** The sample app of one cluster: a namespace, echo pods (served by the agents) and the global service. */
export function demoManifest(c: DemoCluster): AnyObject[] {
  const pods = Array.from({ length: DEMO_REPLICAS }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `echo-${i + 1}`,
      namespace: DEMO_NAMESPACE,
      labels: { app: DEMO_SERVICE },
      annotations: { 'cmesh.io/sample-server': String(DEMO_PORT) },
    },
    spec: {
      containers: [
        { name: 'echo', image: 'cmesh/echo', ports: [{ name: 'http', containerPort: DEMO_PORT, protocol: 'TCP' }] },
      ],
    },
  }));
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NAMESPACE } },
    ...pods,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: DEMO_SERVICE,
        namespace: DEMO_NAMESPACE,
        annotations: {
          'service.cilium.io/global': 'true',
          ...(c.affinity === 'local' ? { 'service.cilium.io/affinity': 'local' } : {}),
        },
      },
      spec: {
        clusterIP: c.clusterIp,
        selector: { app: DEMO_SERVICE },
        ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
      },
    },
  ] as AnyObject[];
}

function demoFile(home: string): string {
  return path.join(home, 'demo.json');
}

export type DemoProgress = (step: string) => void;

export interface DemoBackendView {
  cluster: string;
  frontend: string;
  affinity: string;
  backends: { address: string; cluster: string; state: string; selected: boolean }[];
}

export interface DemoResult {
  clusters: DemoCluster[];
  status: ClustermeshStatus[];
  backends: DemoBackendView[];
  seconds: number;
}

/** What the first agent of a cluster has for the demo service (one entry per frontend). */
export async function demoBackends(cluster: string, home = cmeshHome()): Promise<DemoBackendView[]> {
  const { record, paths } = await loadCluster(cluster, home);
  const node = nodeNames(record)[0];
  if (!node) return [];
  const services = await new AgentClient(agentSocket(paths, node)).services();
  return services
    .filter((s) => s.service === `${DEMO_NAMESPACE}/${DEMO_SERVICE}`)
    .map((s) => ({
      cluster,
      frontend: s.frontend,
      affinity: '',
      backends: s.backends.map((b) => ({
        address: b.address,
        cluster: b.cluster,
        state: b.state,
        selected: b.selected,
      })),
    }));
}

/**
 * `cmesh demo`: three local clusters (2 nodes each), ClusterMesh with KVStoreMesh and mutual TLS, all connected, a
 * sample app with a global service in each (cluster1 with affinity local); waits for the mesh and for every cluster
 * to see the backends of all three, and leaves everything running (`cmesh demo down` removes it).
 */
export async function runDemo(
  progress: DemoProgress,
  opts: { clusters?: number; nodes?: number; deadline?: number } = {},
  home = cmeshHome(),
): Promise<DemoResult> {
  const t0 = Date.now();
  const clusters = demoClusters(opts.clusters ?? DEMO_CLUSTERS);
  const existing = await listClusterNames(home);
  const clash = clusters.filter((c) => existing.includes(c.name));
  if (clash.length > 0) {
    throw new DemoError(
      `local clusters ${clash.map((c) => `"${c.name}"`).join(', ')} already exist; run \`cmesh demo down\` (or \`cmesh cluster delete\`) first`,
    );
  }
  const nodes = opts.nodes ?? DEMO_NODES;
  // Every cluster is checked against the existing ones (IDs, CIDRs) before the first is created.
  for (const c of clusters) {
    await validateNewCluster({ name: c.name, id: c.id, nodes }, home).catch((err: unknown) => {
      throw new DemoError(`the demo cannot create cluster ${c.name}: ${(err as Error).message}`, { cause: err });
    });
  }
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeFile(demoFile(home), JSON.stringify({ clusters: clusters.map((c) => c.name) }, null, 2) + '\n');
  const steps: StepOptions = { ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}) };
  for (const c of clusters) {
    progress(
      `creating cluster ${c.name} (ID ${c.id}, pod CIDR ${c.podCidr}, service CIDR ${c.serviceCidr}, ${nodes} nodes)`,
    );
    await createCluster({ name: c.name, id: c.id, nodes }, home, steps);
  }
  for (const c of clusters) {
    progress(`enabling ClusterMesh on ${c.name} (mutual TLS, KVStoreMesh)`);
    await enableClustermesh(c.name, steps, home);
  }
  for (let i = 0; i < clusters.length; i++) {
    for (let j = i + 1; j < clusters.length; j++) {
      progress(`connecting ${clusters[i]!.name} <-> ${clusters[j]!.name}`);
      await connectClusters(clusters[i]!.name, clusters[j]!.name, home);
    }
  }
  for (const c of clusters) {
    progress(
      `deploying the sample app in ${c.name}: ${DEMO_REPLICAS} echo pods, global service ${DEMO_NAMESPACE}/${DEMO_SERVICE}${c.affinity === 'local' ? ' (affinity local)' : ''}`,
    );
    const { record } = await loadCluster(c.name, home);
    const client = createEtcdClient({ endpoints: [stateEtcdEndpoint(record)] });
    try {
      await new ObjectStore(client).applyAll(demoManifest(c));
    } finally {
      client.close();
    }
  }
  const status: ClustermeshStatus[] = [];
  for (const c of clusters) {
    progress(`waiting for ${c.name} to see every remote cluster`);
    const timeoutMs = waitBudget(steps, MESH_WAIT_MS);
    const res = await waitForClustermesh(c.name, { timeoutMs, home });
    if (!res.ready)
      throw new DemoError(
        `cluster ${c.name} did not become ready within ${Math.round(timeoutMs / 1000)}s; run \`cmesh clustermesh status --context ${c.name}\``,
      );
    status.push(res.status);
  }
  progress('waiting for every cluster to merge the backends of all clusters');
  const want = clusters.length * DEMO_REPLICAS;
  const backends: DemoBackendView[] = [];
  for (const c of clusters) {
    const deadline = Date.now() + waitBudget(steps, BACKENDS_WAIT_MS);
    let view: DemoBackendView[] = [];
    while (Date.now() < deadline) {
      view = await demoBackends(c.name, home).catch(() => []);
      if (view.length > 0 && view.every((v) => v.backends.length >= want)) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    for (const v of view) v.affinity = c.affinity;
    if (!view.length || view.some((v) => v.backends.length < want)) {
      throw new DemoError(
        `cluster ${c.name} sees ${view[0]?.backends.length ?? 0} of ${want} backends of ${DEMO_NAMESPACE}/${DEMO_SERVICE}; run \`cmesh service list --context ${c.name}\``,
      );
    }
    backends.push(...view);
  }
  return { clusters, status, backends, seconds: (Date.now() - t0) / 1000 };
}

/** `cmesh demo down`: deletes the demo's clusters (and only those). */
export async function demoDown(progress: DemoProgress, home = cmeshHome()): Promise<string[]> {
  let names: string[] = demoClusters().map((c) => c.name);
  if (existsSync(demoFile(home))) {
    names = (JSON.parse(await readFile(demoFile(home), 'utf8')) as { clusters: string[] }).clusters;
  }
  const existing = new Set(await listClusterNames(home));
  const deleted = await deleteClusters(
    names.filter((x) => existing.has(x)),
    home,
    progress,
  );
  await rm(demoFile(home), { force: true });
  return deleted.map((d) => d.name);
}

/** The sample app as YAML, for people who want to apply it themselves. */
export function demoManifestYaml(c: DemoCluster): string {
  return demoManifest(c)
    .map((o) => stringify(o))
    .join('---\n');
}
