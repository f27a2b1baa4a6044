/**
 * The multi-cluster connectivity test behind `cmesh connectivity test --multi-cluster`: real requests across a mesh of local clusters, as `cilium
 * connectivity test --multi-cluster` runs its checks. It applies a sample app (client pods in the source cluster,
 * an `echo` pod in both clusters that the node agents serve as sample servers, a global Service `echo` in both),
 * sends requests from the client pods' addresses to the service frontend that the source cluster's agent serves,
 * and reports per check: pod to global service, affinity local/remote, policy allow/deny across clusters and,
 * with --include-failover, failover while the destination's clustermesh etcd is down. Needs pod CIDRs the
 * datapath can serve (in 10.0.0.0/8 or loopback: see agent/datapath/host-address.ts) and loopback service CIDRs;
 * the frontends and pods are then real sockets on this host, and a request "from a pod" leaves from the loopback
 * address of its pod IP.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentClient } from '../agent/api/api-client.js';
import { hostAddress, hostRange } from '../agent/datapath/host-address.js';
import { isLoopbackCidr } from '../agent/datapath/loopback.js';
import { SAMPLE_SERVER_ANNOTATION } from '../agent/sample-servers.js';
import { GLOBAL_SERVICE_ANNOTATIONS, SERVICE_AFFINITY_ANNOTATIONS } from '../k8s/cilium-annotations.js';
import type { ClusterRecord } from '../k8s/local-cluster-record.js';
import { ObjectStore } from '../k8s/object-store.js';
import type { AnyObject, CiliumNetworkPolicy, Pod, Service } from '../k8s/types.js';
import { openClusterContext, type ClusterContext } from './cluster-context.js';
import { startClustermeshProcesses } from './clustermesh.js';
import { stopDaemon } from './daemon.js';
import { pidFile } from './local-cluster.js';
import { liveAgentSocket as agentSocket } from './running.js';

export const CONNECTIVITY_NAMESPACE = 'cmesh-connectivity';
export const ECHO_PORT = 8080;
export const SERVICE_PORT = 80;
export const REQUESTS_PER_CHECK = 20;
/** The default of `--timeout`: the whole test, failover included, normally takes well under a minute. */
export const DEFAULT_CONNECTIVITY_TIMEOUT_MS = 5 * 60_000;
const WAIT_TIMEOUT_MS = 60_000;
const FAILOVER_TIMEOUT_MS = 120_000;
const POLL_MS = 200;
const REQUEST_TIMEOUT_MS = 5_000;
const POLICY_NAME = 'echo-from-connectivity-client';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface ConnectivityReport {
  source: string;
  destination: string;
  checks: CheckResult[];
  /** No check failed. */
  passed: boolean;
}

export class ConnectivityError extends Error {
  override name = 'ConnectivityError';
}

// ---- the sample app ----

function pod(name: string, app: string, server: boolean): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: CONNECTIVITY_NAMESPACE,
      labels: { app },
      ...(server ? { annotations: { [SAMPLE_SERVER_ANNOTATION]: String(ECHO_PORT) } } : {}),
    },
    spec: {
      containers: [
        {
          name: app,
          image: 'cmesh/sample-server',
          ...(server ? { ports: [{ name: 'http', containerPort: ECHO_PORT, protocol: 'TCP' as const }] } : {}),
        },
      ],
    },
  };
}

export function echoService(affinity?: 'local' | 'remote'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'echo',
      namespace: CONNECTIVITY_NAMESPACE,
      annotations: {
        [GLOBAL_SERVICE_ANNOTATIONS[0]]: 'true',
        ...(affinity ? { [SERVICE_AFFINITY_ANNOTATIONS[0]]: affinity } : {}),
      },
    },
    spec: {
      type: 'ClusterIP',
      selector: { app: 'echo' },
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: ECHO_PORT, protocol: 'TCP' }],
    },
  };
}

/** The objects of one side: the source cluster has the clients, both have an echo pod and the global service. */
export function sampleObjects(side: 'source' | 'destination', cluster: string): AnyObject[] {
  const ns: AnyObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CONNECTIVITY_NAMESPACE } };
  const objs: AnyObject[] = [ns, pod(`echo-${cluster}`, 'echo', true), echoService()];
  if (side === 'source') objs.push(pod('client', 'client', false), pod('client-denied', 'client-denied', false));
  return objs;
}

/** Cluster `dest`'s policy: its echo pods accept only the source cluster's `client` pods. */
export function allowClientPolicy(source: string): CiliumNetworkPolicy {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: POLICY_NAME, namespace: CONNECTIVITY_NAMESPACE },
    spec: {
      endpointSelector: { matchLabels: { app: 'echo' } },
      ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client', 'io.cilium.k8s.policy.cluster': source } }] }],
    },
  };
}

// ---- requests ----

export interface RequestOutcome {
  ok: boolean;
  /** The cluster that answered (sample servers say `cluster=<c> pod=<ns/name>`). */
  cluster?: string;
  error?: string;
}

/** One request to `host:port` from the pod `fromPodIp`, i.e. from that pod IP's loopback address. */
export function requestOnce(host: string, port: number, fromPodIp: string): Promise<RequestOutcome> {
  const localAddress = hostAddress(fromPodIp);
  if (localAddress === undefined)
    return Promise.resolve({ ok: false, error: `pod IP ${fromPodIp} has no loopback address` });
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, localAddress });
    let data = '';
    sock.setTimeout(REQUEST_TIMEOUT_MS, () => sock.destroy(new Error('timeout')));
    sock.on('connect', () => sock.write('GET / HTTP/1.0\r\n\r\n'));
    sock.on('data', (c: Buffer) => (data += c.toString('latin1')));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ ok: false, error: err.code ?? err.message });
    });
    sock.on('close', () => {
      const m = /cluster=(\S+) pod=/.exec(data);
      if (data.startsWith('HTTP/1.0 200') && m) resolve({ ok: true, cluster: m[1]! });
      else resolve({ ok: false, error: data === '' ? 'empty answer' : 'unexpected answer' });
    });
  });
}

export interface Tally {
  total: number;
  failed: number;
  byCluster: Record<string, number>;
  errors: Record<string, number>;
}

export function tally(outcomes: readonly RequestOutcome[]): Tally {
  const t: Tally = { total: outcomes.length, failed: 0, byCluster: {}, errors: {} };
  for (const o of outcomes) {
    if (o.ok && o.cluster) t.byCluster[o.cluster] = (t.byCluster[o.cluster] ?? 0) + 1;
    else {
      t.failed++;
      const e = o.error ?? 'unknown';
      t.errors[e] = (t.errors[e] ?? 0) + 1;
    }
  }
  return t;
}

export function describeTally(t: Tally): string {
  const answered = Object.entries(t.byCluster)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([c, n]) => `${c}=${n}`)
    .join(', ');
  const errors = Object.entries(t.errors)
    .map(([e, n]) => `${e}=${n}`)
    .join(', ');
  return `${t.total} requests: ${answered || 'none answered'}${t.failed ? `; failed ${t.failed} (${errors})` : ''}`;
}

// ---- report ----

const MARK: Record<CheckStatus, string> = { pass: '[ok]  ', fail: '[FAIL]', skip: '[skip]' };

export function formatReport(r: ConnectivityReport): string {
  const lines = [`Connectivity test: ${r.source} -> ${r.destination}`, ''];
  for (const c of r.checks) lines.push(`${MARK[c.status]} ${c.name}: ${c.detail}`);
  const n = (s: CheckStatus): number => r.checks.filter((c) => c.status === s).length;
  lines.push('', `${n('pass')} passed, ${n('fail')} failed, ${n('skip')} skipped: ${r.passed ? 'PASSED' : 'FAILED'}`);
  return lines.join('\n');
}

// ---- the run ----

export interface ConnectivityOptions {
  source: string;
  destination: string;
  includeFailover: boolean;
  /** Leave the sample app in place afterwards. */
  keep: boolean;
  requests?: number;
  /** The whole run, cleanup included, ends by then: waits are cut short and the remaining checks fail. */
  timeoutMs?: number;
  /** Called as each step starts. */
  onStep?: (step: string) => void;
}

/** Polls `probe` until it gives a value; gives up after `timeoutMs`, or at `runDeadline` (the whole run's end). */
async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  runDeadline: number,
): Promise<T> {
  const deadline = Math.min(Date.now() + timeoutMs, runDeadline);
  timeoutMs = Math.max(0, deadline - Date.now());
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new ConnectivityError(
        `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    await sleep(POLL_MS);
  }
}

/** Why the datapath cannot serve this cluster's pods or frontends as sockets; empty when it can. */
function socketProblems(rec: ClusterRecord): string[] {
  const out: string[] = [];
  let podHosts;
  try {
    podHosts = hostRange(rec.podCidr);
  } catch {
    podHosts = undefined;
  }
  if (podHosts === undefined)
    out.push(`cluster ${rec.name}'s pod CIDR ${rec.podCidr} is neither in 10.0.0.0/8 nor in 127.0.0.0/8`);
  if (!isLoopbackCidr(rec.serviceCidr))
    out.push(`cluster ${rec.name}'s service CIDR ${rec.serviceCidr} is not in 127.0.0.0/8`);
  return out;
}

class MultiClusterRun {
  private readonly n: number;
  private readonly srcStore: ObjectStore;
  private readonly dstStore: ObjectStore;
  private frontend = '';
  private clientIp = '';
  private deniedIp = '';

  constructor(
    private readonly o: ConnectivityOptions,
    private readonly src: ClusterContext,
    private readonly dst: ClusterContext,
    /** Epoch ms by which every wait of the run gives up (from --timeout). */
    private readonly deadline: number,
  ) {
    this.n = o.requests ?? REQUESTS_PER_CHECK;
    this.srcStore = new ObjectStore(src.state());
    this.dstStore = new ObjectStore(dst.state());
  }

  /** The agent serving the source cluster's frontends: its first node's. */
  private async frontendAgent(): Promise<AgentClient> {
    return new AgentClient(await agentSocket(this.o.source, `${this.o.source}-node-1`));
  }

  private step(s: string): void {
    this.o.onStep?.(s);
  }

  private wait<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = WAIT_TIMEOUT_MS): Promise<T> {
    return waitUntil(what, probe, timeoutMs, this.deadline);
  }

  private async podIp(store: ObjectStore, name: string): Promise<string | undefined> {
    const p = await store.get('Pod', CONNECTIVITY_NAMESPACE, name);
    return p?.status?.podIP ?? undefined;
  }

  async setup(): Promise<void> {
    this.step(`applying the sample app in ${this.o.source} and ${this.o.destination}`);
    await this.srcStore.applyAll(sampleObjects('source', this.o.source));
    await this.dstStore.applyAll(sampleObjects('destination', this.o.destination));
    // A policy left over from an interrupted run would skew the first checks.
    await this.dstStore.delete('CiliumNetworkPolicy', CONNECTIVITY_NAMESPACE, POLICY_NAME).catch(() => false);
    this.step('waiting for the sample pods to get addresses and be served');
    this.clientIp = await this.wait('the client pod to get an address', () => this.podIp(this.srcStore, 'client'));
    this.deniedIp = await this.wait('the client-denied pod to get an address', () =>
      this.podIp(this.srcStore, 'client-denied'),
    );
    for (const [store, cluster] of [
      [this.srcStore, this.o.source],
      [this.dstStore, this.o.destination],
    ] as const) {
      await this.wait(`the echo sample server of ${cluster}`, async () => {
        const p = await store.get('Pod', CONNECTIVITY_NAMESPACE, `echo-${cluster}`);
        const node = p?.spec?.nodeName;
        if (!node || !p.status?.podIP) return undefined;
        const dp = await new AgentClient(await agentSocket(cluster, node)).datapath();
        return dp.sampleServers.some(
          (s) => s.pod === `${CONNECTIVITY_NAMESPACE}/echo-${cluster}` && s.state === 'serving',
        )
          ? true
          : undefined;
      });
    }
    const agent = await this.frontendAgent();
    this.step(`waiting for the global service to have backends in both clusters`);
    this.frontend = await this.wait(
      `the global service to have backends in ${this.o.source} and ${this.o.destination} and a listening frontend`,
      async () => {
        const svc = (await agent.services()).find((s) => s.service === `${CONNECTIVITY_NAMESPACE}/echo`);
        const clusters = new Set(svc?.backends.map((b) => b.cluster));
        if (!svc || !clusters.has(this.o.source) || !clusters.has(this.o.destination)) return undefined;
        const dp = await agent.datapath();
        return dp.listeners.some((l) => l.frontend === svc.frontend && l.state === 'listening')
          ? svc.frontend
          : undefined;
      },
    );
  }

  private async send(from: string): Promise<Tally> {
    const [host = '', rest = ''] = this.frontend.split(':');
    const port = Number(rest.split('/')[0]);
    const out: RequestOutcome[] = [];
    for (let i = 0; i < this.n; i++) out.push(await requestOnce(host, port, from));
    return tally(out);
  }

  private async setAffinity(affinity: 'local' | 'remote' | undefined): Promise<void> {
    const cur = await this.srcStore.get('Service', CONNECTIVITY_NAMESPACE, 'echo');
    if (!cur) throw new ConnectivityError('the echo service of the source cluster is gone');
    const affinityKeys: readonly string[] = SERVICE_AFFINITY_ANNOTATIONS;
    const annotations = Object.fromEntries(
      Object.entries(cur.metadata.annotations ?? {}).filter(([k]) => !affinityKeys.includes(k)),
    );
    if (affinity) annotations[SERVICE_AFFINITY_ANNOTATIONS[0]] = affinity;
    await this.srcStore.update({ ...cur, metadata: { ...cur.metadata, annotations } });
    const want = affinity === 'local' ? [this.o.source] : affinity === 'remote' ? [this.o.destination] : undefined;
    const agent = await this.frontendAgent();
    await this.wait(`affinity ${affinity ?? 'none'} to reach the load-balancing map`, async () => {
      const e = (await agent.lb()).find((x) => x.service === `${CONNECTIVITY_NAMESPACE}/echo`);
      const clusters = [...new Set(e?.backends.map((b) => b.cluster))].sort();
      const expected = want ?? [this.o.source, this.o.destination].sort();
      return clusters.join() === expected.join() ? true : undefined;
    });
  }

  async globalService(): Promise<CheckResult> {
    this.step('check pod-to-global-service');
    const t = await this.send(this.clientIp);
    const both = (t.byCluster[this.o.source] ?? 0) > 0 && (t.byCluster[this.o.destination] ?? 0) > 0;
    return {
      name: 'pod-to-global-service',
      status: t.failed === 0 && both ? 'pass' : 'fail',
      detail: describeTally(t) + (both ? '' : ' (expected answers from both clusters)'),
    };
  }

  async affinity(which: 'local' | 'remote'): Promise<CheckResult> {
    this.step(`check affinity-${which}`);
    await this.setAffinity(which);
    const t = await this.send(this.clientIp);
    const want = which === 'local' ? this.o.source : this.o.destination;
    return {
      name: `affinity-${which}`,
      status: t.failed === 0 && t.byCluster[want] === t.total ? 'pass' : 'fail',
      detail: `${describeTally(t)} (expected all in ${want})`,
    };
  }

  async policy(): Promise<CheckResult[]> {
    this.step('check policy-allow and policy-deny');
    await this.setAffinity('remote');
    await this.dstStore.apply(allowClientPolicy(this.o.source));
    const dstAgent = new AgentClient(await agentSocket(this.o.destination));
    await this.wait(`policy ${POLICY_NAME} in ${this.o.destination}'s agent`, async () => {
      const p = await dstAgent.policy();
      return p.policies.some((x) => x.name.endsWith(`${CONNECTIVITY_NAMESPACE}/${POLICY_NAME}`)) ? true : undefined;
    });
    try {
      const allowed = await this.send(this.clientIp);
      const denied = await this.send(this.deniedIp);
      return [
        {
          name: 'policy-allow',
          status: allowed.failed === 0 && allowed.byCluster[this.o.destination] === allowed.total ? 'pass' : 'fail',
          detail: `client -> ${this.o.destination}: ${describeTally(allowed)} (expected all allowed)`,
        },
        {
          name: 'policy-deny',
          status: denied.failed === denied.total ? 'pass' : 'fail',
          detail: `client-denied -> ${this.o.destination}: ${describeTally(denied)} (expected all refused)`,
        },
      ];
    } finally {
      await this.dstStore.delete('CiliumNetworkPolicy', CONNECTIVITY_NAMESPACE, POLICY_NAME);
    }
  }

  async failover(): Promise<CheckResult> {
    this.step(`check failover: stopping the clustermesh etcd of ${this.o.destination}`);
    await this.setAffinity('remote');
    const agent = await this.frontendAgent();
    await stopDaemon(pidFile(this.dst.paths, 'clustermesh-etcd'));
    try {
      await this.wait(
        `${this.o.source}'s agent to fail over to local backends`,
        async () => {
          const e = (await agent.lb()).find((x) => x.service === `${CONNECTIVITY_NAMESPACE}/echo`);
          return e?.backends.length && e.backends.every((b) => b.cluster === this.o.source) ? true : undefined;
        },
        FAILOVER_TIMEOUT_MS,
      );
      const t = await this.send(this.clientIp);
      return {
        name: 'failover',
        status: t.failed === 0 && t.byCluster[this.o.source] === t.total ? 'pass' : 'fail',
        detail: `${this.o.destination}'s clustermesh etcd stopped: ${describeTally(t)} (expected all in ${this.o.source})`,
      };
    } finally {
      await startClustermeshProcesses(this.dst.record, this.dst.paths);
      await this.wait(
        `${this.o.destination} to be ready again in ${this.o.source}'s agent`,
        async () => {
          const st = await agent.status();
          return st.clusterMesh.remotes.some((r) => r.name === this.o.destination && r.ready) ? true : undefined;
        },
        FAILOVER_TIMEOUT_MS,
      );
    }
  }

  async cleanup(): Promise<void> {
    this.step('cleaning up');
    await this.dstStore.delete('CiliumNetworkPolicy', CONNECTIVITY_NAMESPACE, POLICY_NAME).catch(() => false);
    if (this.o.keep) return;
    await this.srcStore.deleteAll(sampleObjects('source', this.o.source).reverse());
    await this.dstStore.deleteAll(sampleObjects('destination', this.o.destination).reverse());
  }
}

async function attempt(name: string, fn: () => Promise<CheckResult | CheckResult[]>): Promise<CheckResult[]> {
  try {
    const r = await fn();
    return Array.isArray(r) ? r : [r];
  } catch (err) {
    return [{ name, status: 'fail', detail: (err as Error).message }];
  }
}

export async function runMultiClusterTest(o: ConnectivityOptions): Promise<ConnectivityReport> {
  if (o.source === o.destination) throw new ConnectivityError('--context and --destination-context must differ');
  // Both clusters are checked before either is touched.
  const src = await openClusterContext(o.source);
  const dst = await openClusterContext(o.destination).catch((err: unknown) => {
    src.close();
    throw err;
  });
  const deadline = Date.now() + (o.timeoutMs ?? DEFAULT_CONNECTIVITY_TIMEOUT_MS);
  const checks: CheckResult[] = [];
  try {
    const problems = [...socketProblems(src.record), ...socketProblems(dst.record)];
    if (problems.length > 0) {
      checks.push({
        name: 'setup',
        status: 'fail',
        detail: `${problems.join('; ')}: requests need pod CIDRs in 10.0.0.0/8 (or loopback) and loopback service CIDRs (clusters created with the default CIDRs have them; or pass --pod-cidr 10.x.0.0/17 and --service-cidr 127.x.128.0/17)`,
      });
    } else {
      const run = new MultiClusterRun(o, src, dst, deadline);
      try {
        const setup = await attempt('setup', async () => {
          await run.setup();
          return { name: 'setup', status: 'pass', detail: 'sample app applied and served in both clusters' };
        });
        checks.push(...setup);
        if (setup[0]?.status === 'pass') {
          checks.push(...(await attempt('pod-to-global-service', () => run.globalService())));
          checks.push(...(await attempt('affinity-local', () => run.affinity('local'))));
          checks.push(...(await attempt('affinity-remote', () => run.affinity('remote'))));
          checks.push(...(await attempt('policy', () => run.policy())));
          checks.push(
            ...(o.includeFailover
              ? await attempt('failover', () => run.failover())
              : [{ name: 'failover', status: 'skip' as const, detail: 'run with --include-failover' }]),
          );
        }
      } finally {
        await run.cleanup().catch((err: unknown) => {
          checks.push({ name: 'cleanup', status: 'fail', detail: (err as Error).message });
        });
      }
    }
  } finally {
    src.close();
    dst.close();
  }
  return {
    source: o.source,
    destination: o.destination,
    checks,
    passed: checks.every((c) => c.status !== 'fail'),
  };
}
