import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { validateClusterId, validateClusterName, validateMaxConnectedClusters } from '../wire/cluster.js';
import { addressAt, parseIpRange, rangesOverlap } from '../wire/ip.js';
import { hostRange } from '../agent/datapath/host-address.js';
import { TUNNEL_PORT } from '../agent/datapath/tunnel.js';
import { readClusterRecord, writeClusterRecord, type ClusterRecord } from '../k8s/local-cluster-record.js';
import { clusterAdminKubeconfig, clusterControlPlane, createClusterPki, kubeServer } from './cluster-control-plane.js';
import { CONTROL_PLANE_ROLES } from './control-plane.js';
import { runningPid, startDaemon, stopDaemon, killDaemon } from './daemon.js';
import { contextName, removeMeshContext } from './mesh-kubeconfig.js';
import { EtcdProcess, freePort } from './etcd-process.js';
import { checkNewClusterRanges } from './cluster-ranges.js';
import { clusterPaths, clustersDir, cmeshHome, type ClusterPaths } from './home.js';
import { waitBudget, type StepOptions } from './steps.js';
import { waitForHttpOk, waitForSocketOk } from './wait.js';
import {
  DEFAULT_NODES,
  DEFAULT_POD_CIDR_TEMPLATE,
  DEFAULT_SERVICE_CIDR_TEMPLATE,
  MAX_DEFAULT_CIDR_ID,
  MAX_NODES,
  MIN_NODES,
} from './cluster-defaults.js';

const DAEMON_READY_TIMEOUT_MS = 30_000;

export class LocalClusterError extends Error {
  override name = 'LocalClusterError';
}

export interface CreateClusterOptions {
  name: string;
  id: number;
  podCidr?: string;
  serviceCidr?: string;
  nodes?: number;
  maxConnectedClusters?: number;
}

function fromTemplate(template: string, id: number): string | undefined {
  return Number.isInteger(id) && id >= 1 && id <= MAX_DEFAULT_CIDR_ID
    ? template.replace('<id>', String(id))
    : undefined;
}

/**
 * The default pod CIDR for cluster `id` (10.<id>.0.0/17), distinct for every ID up to 255; the datapath serves it
 * on 127.<id>.0.0/17, beside the default service CIDR.
 */
export function defaultPodCidr(id: number): string | undefined {
  return fromTemplate(DEFAULT_POD_CIDR_TEMPLATE, id);
}

/** The default service CIDR for cluster `id` (127.<id>.128.0/17), beside its pod CIDR. */
export function defaultServiceCidr(id: number): string | undefined {
  return fromTemplate(DEFAULT_SERVICE_CIDR_TEMPLATE, id);
}

/** Every background process of a local cluster, by role. */
export type ProcessRole = 'state-etcd' | 'operator' | 'clustermesh-etcd' | 'apiserver' | 'kvstoremesh';

export function pidFile(paths: ClusterPaths, role: string): string {
  return path.join(paths.run, `${role}.pid`);
}

export function logFile(paths: ClusterPaths, role: string): string {
  return path.join(paths.logs, `${role}.log`);
}

export function stateEtcdProcess(record: ClusterRecord, paths: ClusterPaths): EtcdProcess {
  return new EtcdProcess({
    name: `cmesh-${record.name}-state`,
    dataDir: paths.stateEtcdData,
    clientPort: record.ports.stateEtcdClient,
    peerPort: record.ports.stateEtcdPeer,
    metricsPort: record.ports.stateEtcdMetrics,
    logFile: logFile(paths, 'state-etcd'),
    pidFile: pidFile(paths, 'state-etcd'),
    detached: true,
  });
}

export function stateEtcdEndpoint(record: ClusterRecord): string {
  return `http://127.0.0.1:${record.ports.stateEtcdClient}`;
}

export async function loadCluster(
  name: string,
  home = cmeshHome(),
): Promise<{ record: ClusterRecord; paths: ClusterPaths }> {
  const paths = clusterPaths(name, home);
  if (!existsSync(paths.record)) {
    const known = (await listClusterNames(home)).join(', ') || 'none';
    throw new LocalClusterError(
      `no local cluster named "${name}" (known: ${known}); create it with \`cmesh cluster create ${name} --id N\``,
    );
  }
  return { record: await readClusterRecord(paths.record), paths };
}

export async function listClusterNames(home = cmeshHome()): Promise<string[]> {
  try {
    const names = await readdir(clustersDir(home));
    return names.filter((n) => existsSync(clusterPaths(n, home).record)).sort();
  } catch {
    return [];
  }
}

export async function loadAllClusters(home = cmeshHome()): Promise<ClusterRecord[]> {
  const out: ClusterRecord[] = [];
  for (const n of await listClusterNames(home)) out.push((await loadCluster(n, home)).record);
  return out;
}

/** Checks a new cluster against the rules and every existing local cluster; throws before anything is changed. */
export async function validateNewCluster(
  opts: CreateClusterOptions,
  home = cmeshHome(),
): Promise<Required<CreateClusterOptions>> {
  const maxCC = opts.maxConnectedClusters ?? 255;
  const fail = (msg: string): never => {
    throw new LocalClusterError(msg);
  };
  try {
    validateMaxConnectedClusters(maxCC);
    validateClusterName(opts.name, opts.id);
    validateClusterId(opts.id, maxCC as 255 | 511);
  } catch (err) {
    throw new LocalClusterError((err as Error).message, { cause: err });
  }
  const nodes = opts.nodes ?? DEFAULT_NODES;
  if (!Number.isInteger(nodes) || nodes < MIN_NODES || nodes > MAX_NODES)
    fail(`--nodes must be an integer from ${MIN_NODES} (a control plane without nodes) to ${MAX_NODES}, got ${nodes}`);
  const noDefault = (flag: string): never =>
    fail(
      `cluster ID ${opts.id} has no default ${flag.slice(2)} (defaults exist for IDs 1-${MAX_DEFAULT_CIDR_ID}); pass ${flag}`,
    );
  const podCidr = opts.podCidr ?? defaultPodCidr(opts.id) ?? noDefault('--pod-cidr');
  const serviceCidr = opts.serviceCidr ?? defaultServiceCidr(opts.id) ?? noDefault('--service-cidr');
  let pod, svc;
  try {
    pod = parseIpRange(podCidr);
    svc = parseIpRange(serviceCidr);
  } catch (err) {
    throw new LocalClusterError((err as Error).message, { cause: err });
  }
  if (pod.family !== 4) fail(`--pod-cidr ${podCidr}: only IPv4 pod CIDRs are supported for local clusters`);
  if (pod.prefix > 24 - Math.ceil(Math.log2(Math.max(nodes, 1))))
    fail(`--pod-cidr ${podCidr} is too small for ${nodes} nodes with a /24 each; use a /16`);
  if (rangesOverlap(pod, svc)) fail(`--pod-cidr ${podCidr} overlaps --service-cidr ${serviceCidr}`);
  const others = await loadAllClusters(home);
  for (const other of others) {
    if (other.name === opts.name) fail(`a local cluster named "${opts.name}" already exists (ID ${other.id})`);
    if (other.id === opts.id)
      fail(
        `cluster ID ${opts.id} is already used by local cluster "${other.name}"; every cluster in a mesh needs a unique ID`,
      );
  }
  try {
    checkNewClusterRanges({ name: opts.name, podCidr, serviceCidr, nodes }, others);
  } catch (err) {
    throw new LocalClusterError((err as Error).message, { cause: err });
  }
  const podHosts = hostRange(podCidr);
  if (nodes > 0 && podHosts) {
    // Loopback addresses are global to the machine: a cluster of another CMESH_HOME (or any other process) may
    // already serve this range, and the agents would then fail to take their addresses. The first node's tunnel
    // listens on the loopback address of its router IP, the first address of the pod CIDR.
    const router = addressAt(podHosts, 1);
    if (await addressTaken(router, TUNNEL_PORT))
      fail(
        `the pod CIDR ${podCidr} is already in use on this machine (${router}:${TUNNEL_PORT} is taken, e.g. by a cluster of another CMESH_HOME): ` +
          'choose another --id or pass a free --pod-cidr and --service-cidr',
      );
  }
  return { name: opts.name, id: opts.id, podCidr, serviceCidr, nodes, maxConnectedClusters: maxCC };
}

/** Whether the loopback `address:port` is held by another socket (only EADDRINUSE counts). */
function addressTaken(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code === 'EADDRINUSE');
    });
    server.listen({ host: address, port, exclusive: true }, () => {
      server.close(() => {
        resolve(false);
      });
    });
  });
}

/**
 * Creates a local cluster: its folder, its state etcd and its operator. On any failure everything started is
 * stopped and the folder removed, so a failed create leaves nothing behind.
 */
export async function createCluster(
  opts: CreateClusterOptions,
  home = cmeshHome(),
  steps: StepOptions = {},
): Promise<ClusterRecord> {
  const v = await validateNewCluster(opts, home);
  const paths = clusterPaths(v.name, home);
  const record: ClusterRecord = {
    name: v.name,
    id: v.id,
    maxConnectedClusters: v.maxConnectedClusters as 255 | 511,
    podCidr: v.podCidr,
    serviceCidr: v.serviceCidr,
    nodes: v.nodes,
    createdAt: new Date().toISOString(),
    ports: {
      stateEtcdClient: await freePort(),
      stateEtcdPeer: await freePort(),
      stateEtcdMetrics: await freePort(),
      operatorHealth: await freePort(),
      kubeApiserver: await freePort(),
    },
  };
  try {
    for (const d of [paths.dir, paths.certs, paths.logs, paths.run, paths.clustermeshConfig, paths.nodes]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
    }
    await writeClusterRecord(paths.record, record);
    steps.onStep?.(`creating the certificates of cluster ${record.name}'s control plane`);
    await createClusterPki(record, paths, home);
    await startClusterProcesses(record, paths, steps);
    return record;
  } catch (err) {
    await stopClusterProcesses(paths).catch(() => undefined);
    await rm(paths.dir, { recursive: true, force: true });
    await removeMeshContext(home, record.name).catch(() => undefined);
    throw err;
  }
}

/** Node names of a local cluster: `<cluster>-node-<i>`, i from 1. */
export function nodeNames(record: ClusterRecord): string[] {
  return Array.from({ length: record.nodes }, (_, i) => `${record.name}-node-${i + 1}`);
}

export function agentSocket(paths: ClusterPaths, node: string): string {
  return path.join(paths.nodes, node, 'agent.sock');
}

/** Starts the agent of every node that is not running and waits until each serves its API. */
export async function startAgents(record: ClusterRecord, paths: ClusterPaths, steps?: StepOptions): Promise<void> {
  const started: string[] = [];
  for (const node of nodeNames(record)) {
    const role = `agent-${node}`;
    if ((await runningPid(pidFile(paths, role))) !== undefined) continue;
    await mkdir(path.join(paths.nodes, node), { recursive: true, mode: 0o700 });
    await startDaemon({
      name: `agent of node ${node}`,
      args: ['agent', '--cluster-dir', paths.dir, '--node', node],
      logFile: logFile(paths, role),
      pidFile: pidFile(paths, role),
    });
    started.push(node);
  }
  if (started.length > 0) steps?.onStep?.(`waiting for the agents of ${plural(started.length, 'node')}`);
  await Promise.all(
    started.map((node) =>
      waitForSocketOk(
        agentSocket(paths, node),
        '/v1/healthz',
        waitBudget(steps, DAEMON_READY_TIMEOUT_MS),
        `agent of node ${node}`,
        logFile(paths, `agent-${node}`),
      ),
    ),
  );
}

/** Starts whatever of the cluster's processes is not running (idempotent). */
export async function startClusterProcesses(
  record: ClusterRecord,
  paths: ClusterPaths,
  steps?: StepOptions,
): Promise<void> {
  if ((await runningPid(pidFile(paths, 'state-etcd'))) === undefined) {
    steps?.onStep?.(`starting the state etcd of cluster ${record.name}`);
    await stateEtcdProcess(record, paths).start();
  }
  await (await clusterControlPlane(record, paths)).start(steps?.onStep);
  if ((await runningPid(pidFile(paths, 'operator'))) === undefined) {
    steps?.onStep?.(`starting the operator of cluster ${record.name}`);
    await startDaemon({
      name: `operator of cluster ${record.name}`,
      args: ['operator', '--cluster-dir', paths.dir],
      logFile: logFile(paths, 'operator'),
      pidFile: pidFile(paths, 'operator'),
    });
    await waitForHttpOk(
      `http://127.0.0.1:${record.ports.operatorHealth}/healthz`,
      waitBudget(steps, DAEMON_READY_TIMEOUT_MS),
      `operator of cluster ${record.name}`,
      logFile(paths, 'operator'),
    );
  }
  await startAgents(record, paths, steps);
}

/** Stops every process of the cluster, the components first and the etcd servers last. */
export async function stopClusterProcesses(paths: ClusterPaths, opts: { kill?: boolean } = {}): Promise<void> {
  const roles: string[] = [];
  try {
    for (const f of await readdir(paths.run)) if (f.endsWith('.pid')) roles.push(f.slice(0, -'.pid'.length));
  } catch {
    return;
  }
  // Components first, then kube-apiserver (they talk to it), then the etcd servers (it stores in one).
  const order = (r: string): number => (r.endsWith('etcd') ? 2 : r === 'kube-apiserver' ? 1 : 0);
  roles.sort((a, b) => order(a) - order(b));
  for (const group of [0, 1, 2]) {
    await Promise.all(
      roles
        .filter((r) => order(r) === group)
        .map((r) => (opts.kill ? killDaemon(pidFile(paths, r)) : stopDaemon(pidFile(paths, r)))),
    );
  }
}

export async function deleteCluster(name: string, home = cmeshHome()): Promise<void> {
  const { paths } = await loadCluster(name, home);
  await stopClusterProcesses(paths);
  await rm(paths.dir, { recursive: true, force: true });
  await removeMeshContext(home, name);
}

export interface ProcessState {
  role: string;
  pid: number | null;
  running: boolean;
  log: string;
}

/** `1 node`, `2 nodes`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A cluster's processes in one word, as `cluster list` shows them. */
export type ClusterRunState = 'running' | 'stopped' | 'degraded';

export function runState(procs: readonly ProcessState[]): ClusterRunState {
  const up = procs.filter((p) => p.running).length;
  return up === 0 ? 'stopped' : up === procs.length ? 'running' : 'degraded';
}

/** The processes a cluster runs when it is fully up, by role (the names of their pid and log files). */
export function expectedRoles(record: ClusterRecord): string[] {
  const roles = ['state-etcd', ...CONTROL_PLANE_ROLES, 'operator', ...nodeNames(record).map((n) => `agent-${n}`)];
  if (record.clustermesh?.enabled) {
    roles.push('clustermesh-etcd', 'apiserver');
    if (record.clustermesh.kvstoremesh) roles.push('kvstoremesh');
  }
  return roles;
}

/**
 * Every process of the cluster: the ones it should run (running or not, so that a stopped cluster shows its
 * processes stopped rather than none at all) and any other that left a pid file.
 */
export async function processStates(record: ClusterRecord, paths: ClusterPaths): Promise<ProcessState[]> {
  let files: string[] = [];
  try {
    files = await readdir(paths.run);
  } catch {
    // no run folder: nothing started
  }
  const roles = new Set(expectedRoles(record));
  for (const f of files) if (f.endsWith('.pid')) roles.add(f.slice(0, -'.pid'.length));
  const out: ProcessState[] = [];
  for (const role of [...roles].sort()) {
    const pid = await runningPid(pidFile(paths, role));
    out.push({ role, pid: pid ?? null, running: pid !== undefined, log: logFile(paths, role) });
  }
  return out;
}

/** Everything a script needs to reach a local cluster: endpoints, TLS files, folders, processes. */
export interface ClusterInspection {
  name: string;
  id: number;
  maxConnectedClusters: number;
  podCidr: string;
  serviceCidr: string;
  nodes: number;
  createdAt: string;
  stateEtcd: { endpoints: string[]; metrics: string; dataDir: string };
  clustermesh: ClusterRecord['clustermesh'] | null;
  clustermeshEtcd: {
    endpoints: string[];
    metrics: string;
    dataDir: string;
    tls: { caFile: string; certFile: string; keyFile: string } | null;
  } | null;
  apiserver: { health: string } | null;
  kvstoremesh: { health: string } | null;
  operator: { health: string };
  kubernetes: { server: string; context: string; kubeconfig: string };
  folders: {
    cluster: string;
    certs: string;
    logs: string;
    run: string;
    clustermeshConfig: string;
    kvstoremeshConfig: string;
    nodes: string;
    kube: string;
  };
  record: string;
  /** running: every process up; stopped: none; degraded: some. */
  state: ClusterRunState;
  processes: ProcessState[];
}

export async function inspectCluster(name: string, home = cmeshHome()): Promise<ClusterInspection> {
  const { record, paths } = await loadCluster(name, home);
  const processes = await processStates(record, paths);
  const p = record.ports;
  const cm = record.clustermesh?.enabled ? record.clustermesh : undefined;
  const scheme = cm?.tls ? 'https' : 'http';
  return {
    name: record.name,
    id: record.id,
    maxConnectedClusters: record.maxConnectedClusters,
    podCidr: record.podCidr,
    serviceCidr: record.serviceCidr,
    nodes: record.nodes,
    createdAt: record.createdAt,
    stateEtcd: {
      endpoints: [stateEtcdEndpoint(record)],
      metrics: `http://127.0.0.1:${p.stateEtcdMetrics}/metrics`,
      dataDir: paths.stateEtcdData,
    },
    clustermesh: record.clustermesh ?? null,
    clustermeshEtcd:
      cm && p.clustermeshEtcdClient
        ? {
            endpoints: [`${scheme}://127.0.0.1:${p.clustermeshEtcdClient}`],
            metrics: `http://127.0.0.1:${p.clustermeshEtcdMetrics ?? 0}/metrics`,
            dataDir: paths.clustermeshEtcdData,
            tls: cm.tls
              ? {
                  caFile: path.join(paths.certs, 'ca.crt'),
                  certFile: path.join(paths.certs, `admin-${record.name}.crt`),
                  keyFile: path.join(paths.certs, `admin-${record.name}.key`),
                }
              : null,
          }
        : null,
    apiserver: cm && p.apiserverHealth ? { health: `http://127.0.0.1:${p.apiserverHealth}` } : null,
    kvstoremesh: cm?.kvstoremesh && p.kvstoremeshHealth ? { health: `http://127.0.0.1:${p.kvstoremeshHealth}` } : null,
    operator: { health: `http://127.0.0.1:${p.operatorHealth}` },
    kubernetes: {
      server: kubeServer(record),
      context: contextName(record.name),
      kubeconfig: clusterAdminKubeconfig(paths),
    },
    folders: {
      cluster: paths.dir,
      certs: paths.certs,
      logs: paths.logs,
      run: paths.run,
      clustermeshConfig: paths.clustermeshConfig,
      kvstoremeshConfig: paths.kvstoremeshConfig,
      nodes: paths.nodes,
      kube: paths.kube,
    },
    record: paths.record,
    state: runState(processes),
    processes,
  };
}
