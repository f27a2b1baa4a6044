/**
 * `cmesh clustermesh status`: what every agent of a cluster (and its KVStoreMesh) reports about each remote,
 * aggregated per remote, with a hint naming the likely cause of the last error.
 */
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import { AgentClient } from '../agent/api/api-client.js';
import type { RemoteClusterStatus } from '../agent/remote/remote-cluster-types.js';
import type { RemoteLinkStatus } from '../kvstore/remote/index.js';
import { certificateStatuses, type CertificateStatus } from './certificates-store.js';
import { cmeshHome } from './home.js';
import { hintFor } from './hints.js';
import {
  agentSocket,
  loadCluster,
  logFile,
  nodeNames,
  processStates,
  runState,
  type ClusterRunState,
} from './local-cluster.js';

export const STATUS_POLL_MS = 1_000;
export const DEFAULT_WAIT_MS = 5 * 60_000;
const HTTP_TIMEOUT_MS = 2_000;
const AGENT_TIMEOUT_MS = 3_000;

/** The part of the shared remote-cluster status that the aggregate shows per reporter. */
export type KvstoremeshRemoteView = Pick<RemoteLinkStatus, 'ready' | 'connected' | 'status' | 'lastFailureMessage'>;

export type AgentRemoteView = KvstoremeshRemoteView & { node: string };

export interface RemoteStatusRow {
  cluster: string;
  /** Every agent reports the remote connected (and kvstoremesh, when on). */
  connected: boolean;
  /** Every agent reports the remote ready (and kvstoremesh, when on). */
  ready: boolean;
  readyAgents: number;
  totalAgents: number;
  numNodes: number;
  numEndpoints: number;
  numIdentities: number;
  numSharedServices: number;
  kvstoremesh: KvstoremeshRemoteView | null;
  lastError: string | null;
  hint: string | null;
  agents: AgentRemoteView[];
}

export interface ClustermeshStatus {
  cluster: string;
  /** The cluster's processes: running, stopped or degraded (some down). */
  state: ClusterRunState;
  enabled: boolean;
  tls: boolean;
  kvstoremeshEnabled: boolean;
  apiserver: { running: boolean; ready: boolean };
  kvstoremesh: { running: boolean; ready: boolean } | null;
  agents: { node: string; reachable: boolean; error: string | null }[];
  /** The remotes configured in the cluster's config directory. */
  configured: string[];
  remotes: RemoteStatusRow[];
  certificates: CertificateStatus[];
  /**
   * ClusterMesh enabled, the cluster not stopped, the clustermesh-apiserver (and KVStoreMesh) ready, every agent
   * answering and every configured remote ready in each.
   */
  ready: boolean;
}

function getJson(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: HTTP_TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let body: unknown = null;
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', () => {
      resolve({ status: 0, body: null });
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ status: 0, body: null });
    });
  });
}

function field<T>(o: unknown, key: string, guard: (v: unknown) => v is T): T | undefined {
  if (o === null || typeof o !== 'object') return undefined;
  const v = (o as Record<string, unknown>)[key];
  return guard(v) ? v : undefined;
}
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isString = (v: unknown): v is string => typeof v === 'string';
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);

/** Extracts the per-remote views from kvstoremesh's /readyz detail (`{ready, detail: {remotes: [...]}}`). */
export function kvstoremeshRemotes(readyz: unknown): Map<string, KvstoremeshRemoteView> {
  const out = new Map<string, KvstoremeshRemoteView>();
  const detail = field(readyz, 'detail', (v): v is object => v !== null && typeof v === 'object');
  for (const r of field(detail, 'remotes', isArray) ?? []) {
    const name = field(r, 'name', isString);
    if (!name) continue;
    out.set(name, {
      ready: field(r, 'ready', isBool) ?? false,
      connected: field(r, 'connected', isBool) ?? false,
      status: field(r, 'status', isString) ?? '',
      lastFailureMessage: field(r, 'lastFailureMessage', isString) ?? null,
    });
  }
  return out;
}

async function configuredRemotes(dir: string, local: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => !f.startsWith('.') && f !== local).sort();
  } catch {
    return [];
  }
}

/** One snapshot of the cluster's ClusterMesh status. */
export async function clustermeshStatus(name: string, home = cmeshHome()): Promise<ClustermeshStatus> {
  const { record, paths } = await loadCluster(name, home);
  const cm = record.clustermesh;
  const enabled = cm?.enabled === true;
  const processes = await processStates(record, paths);
  const running = (role: string): boolean => processes.some((p) => p.role === role && p.running);
  const configured = await configuredRemotes(paths.clustermeshConfig, name);

  const apiserverRunning = running('apiserver');
  const apiserverReady =
    apiserverRunning && (await getJson(`http://127.0.0.1:${record.ports.apiserverHealth ?? 0}/readyz`)).status === 200;
  let kvsm: ClustermeshStatus['kvstoremesh'] = null;
  let kvsmRemotes = new Map<string, KvstoremeshRemoteView>();
  if (enabled && cm.kvstoremesh) {
    const kvsmRunning = running('kvstoremesh');
    const res = kvsmRunning
      ? await getJson(`http://127.0.0.1:${record.ports.kvstoremeshHealth ?? 0}/readyz`)
      : { status: 0, body: null };
    kvsm = { running: kvsmRunning, ready: res.status === 200 };
    kvsmRemotes = kvstoremeshRemotes(res.body);
  }

  const agents: ClustermeshStatus['agents'] = [];
  const perRemote = new Map<string, { agent: string; s: RemoteClusterStatus }[]>();
  await Promise.all(
    nodeNames(record).map(async (node) => {
      if (!running(`agent-${node}`)) {
        agents.push({ node, reachable: false, error: `not running (see ${logFile(paths, `agent-${node}`)})` });
        return;
      }
      try {
        const st = await new AgentClient(agentSocket(paths, node), AGENT_TIMEOUT_MS).status();
        agents.push({ node, reachable: true, error: null });
        for (const s of st.clusterMesh.remotes) {
          const list = perRemote.get(s.name) ?? [];
          list.push({ agent: node, s });
          perRemote.set(s.name, list);
        }
      } catch (err) {
        agents.push({ node, reachable: false, error: (err as Error).message });
      }
    }),
  );
  agents.sort((a, b) => a.node.localeCompare(b.node));

  const names = [...new Set([...configured, ...perRemote.keys()])].sort();
  const remotes = names.map((remote): RemoteStatusRow => {
    const views = (perRemote.get(remote) ?? []).sort((a, b) => a.agent.localeCompare(b.agent));
    const k = kvsm ? (kvsmRemotes.get(remote) ?? null) : null;
    const totalAgents = agents.length;
    const readyAgents = views.filter((v) => v.s.ready).length;
    const kvsmOk = kvsm === null || k?.ready === true;
    const firstError =
      (k && !k.ready ? (k.lastFailureMessage ?? (k.status || null)) : null) ??
      views.find((v) => !v.s.ready && v.s.lastFailureMessage)?.s.lastFailureMessage ??
      views.find((v) => !v.s.ready)?.s.status ??
      (views.length < totalAgents ? 'not known to every agent yet (config file just written?)' : null);
    const max = (f: (s: RemoteClusterStatus) => number): number => Math.max(0, ...views.map((v) => f(v.s)));
    const ready = totalAgents > 0 && readyAgents === totalAgents && kvsmOk;
    const lastError = ready ? null : firstError;
    return {
      cluster: remote,
      connected:
        totalAgents > 0 && views.length === totalAgents && views.every((v) => v.s.connected) && (k?.connected ?? true),
      ready,
      readyAgents,
      totalAgents,
      numNodes: max((s) => s.numNodes),
      numEndpoints: max((s) => s.numEndpoints),
      numIdentities: max((s) => s.numIdentities),
      numSharedServices: max((s) => s.numSharedServices),
      kvstoremesh: k,
      lastError,
      hint: hintFor(lastError),
      agents: views.map((v) => ({
        node: v.agent,
        connected: v.s.connected,
        ready: v.s.ready,
        status: v.s.status,
        lastFailureMessage: v.s.lastFailureMessage,
      })),
    };
  });

  let certificates: CertificateStatus[] = [];
  if (cm?.tls) certificates = await certificateStatuses(record, paths).catch(() => []);
  const clusterState = runState(processes);
  return {
    cluster: name,
    state: clusterState,
    enabled,
    tls: cm?.tls ?? false,
    kvstoremeshEnabled: cm?.kvstoremesh ?? false,
    apiserver: { running: apiserverRunning, ready: apiserverReady },
    kvstoremesh: kvsm,
    agents,
    configured,
    remotes,
    certificates,
    ready:
      enabled &&
      clusterState !== 'stopped' &&
      apiserverReady &&
      agents.every((a) => a.reachable) &&
      remotes.every((r) => r.ready) &&
      (kvsm?.ready ?? true),
  };
}

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  /** Called with every snapshot while waiting. */
  onProgress?: (s: ClustermeshStatus) => void;
  home?: string;
}

/** Polls until the cluster is ready (every remote ready in every agent) or the timeout passes. */
export async function waitForClustermesh(
  name: string,
  opts: WaitOptions = {},
): Promise<{ ready: boolean; status: ClustermeshStatus }> {
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_WAIT_MS);
  for (;;) {
    const status = await clustermeshStatus(name, opts.home ?? cmeshHome());
    opts.onProgress?.(status);
    if (status.ready) return { ready: true, status };
    if (Date.now() >= deadline) return { ready: false, status };
    await new Promise((r) =>
      setTimeout(r, Math.min(opts.pollMs ?? STATUS_POLL_MS, Math.max(0, deadline - Date.now()))),
    );
  }
}

/** One line for progress displays: "2/3 remotes ready (waiting: west: connecting ...)". */
export function progressLine(s: ClustermeshStatus): string {
  const ready = s.remotes.filter((r) => r.ready).length;
  const pending = s.remotes.filter((r) => !r.ready).map((r) => `${r.cluster}: ${r.lastError ?? 'not ready'}`);
  const down = s.agents.filter((a) => !a.reachable).map((a) => a.node);
  if (!s.enabled) return `ClusterMesh is not enabled on cluster ${s.cluster}`;
  if (s.state === 'stopped') return `cluster ${s.cluster} is stopped`;
  const parts = [`${ready}/${s.remotes.length} remote clusters ready`];
  if (!s.apiserver.ready) parts.push('clustermesh-apiserver not ready');
  if (pending.length > 0) parts.push(`waiting for ${pending.join('; ')}`);
  if (down.length > 0) parts.push(`agents not answering: ${down.join(', ')}`);
  return parts.join(' - ');
}
