/**
 * `cmesh policy trace`: resolves the two pods of a flow (or a source identity), asks the engine for the egress
 * verdict of the source and the ingress verdict of the destination, and says in words which policy and rule
 * decided each, or that nothing selected the endpoint. Policies are per cluster: the ingress side of a pod in
 * another cluster is that cluster's agent's to judge, and the trace says so.
 */
import { objectRef } from '../../wire/index.js';
import type { IpcacheEntry } from '../tables/ipcache.js';
import type { PolicyEngine } from './engine.js';
import { PolicyError, type Direction, type L4Protocol, type Verdict } from './types.js';
import { splitNamespacedName } from '../../wire/object-ref.js';

export interface TraceRequest {
  /** `namespace/name` of a pod of this cluster. */
  srcPod?: string;
  /** A numeric identity (any cluster), instead of srcPod. */
  srcIdentity?: number;
  /** With srcIdentity: the source IP, for CIDR rules. */
  srcIp?: string;
  /** `cluster/namespace/name`, or `namespace/name` for this cluster. */
  dstPod: string;
  /** `80/TCP` or `80` (TCP). */
  dport: string;
}

export interface TracePeer {
  /** `cluster/namespace/name` when it is a known pod. */
  pod?: string;
  cluster: string;
  identity: number;
  ip?: string;
  labels: readonly string[];
  /** Set when the pod is a local endpoint whose policy this engine holds. */
  endpoint?: string;
}

export interface TraceStep {
  direction: Direction;
  /** Whether this agent evaluated the step (the other cluster's agent owns a remote pod's ingress). */
  evaluated: boolean;
  verdict?: Verdict;
  explanation: string;
}

export interface TraceResult {
  src: TracePeer;
  dst: TracePeer;
  port: number;
  protocol: L4Protocol;
  /** False if an evaluated step denies; true otherwise (see `complete`). */
  allowed: boolean;
  /** Whether every step was evaluated here. */
  complete: boolean;
  steps: TraceStep[];
}

export class TraceError extends PolicyError {
  override name = 'TraceError';
}

/** Finds pods' addresses and identities: the ipcache knows every pod of every connected cluster. */
export interface PodLocator {
  findPod(cluster: string, namespace: string, name: string): { ip: string; identity: number } | undefined;
}

export function ipcachePodLocator(ipcache: { list(): IpcacheEntry[] }): PodLocator {
  return {
    findPod(cluster, namespace, name) {
      const e = ipcache.list().find((x) => x.cluster === cluster && x.namespace === namespace && x.pod === name);
      return e ? { ip: e.prefix.slice(0, e.prefix.indexOf('/')), identity: e.identity } : undefined;
    },
  };
}

export function parseDport(s: string): { port: number; protocol: L4Protocol } {
  const m = /^([0-9]{1,5})(?:\/(TCP|UDP|SCTP|tcp|udp|sctp))?$/.exec(s.trim());
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535) throw new TraceError(`--dport "${s}": expected PORT[/PROTOCOL] such as 80/TCP`);
  return { port, protocol: (m[2]?.toUpperCase() ?? 'TCP') as L4Protocol };
}

function splitPod(s: string, localCluster: string, what: string): { cluster: string; namespace: string; name: string } {
  const local = splitNamespacedName(s);
  if (local) return { cluster: localCluster, ...local };
  const i = s.indexOf('/');
  const remote = i > 0 ? splitNamespacedName(s.slice(i + 1)) : undefined;
  if (remote) return { cluster: s.slice(0, i), ...remote };
  throw new TraceError(`${what} "${s}": expected [CLUSTER/]NAMESPACE/NAME`);
}

function describePeer(p: TracePeer): string {
  return `${p.pod ?? p.ip ?? 'peer'} (identity ${p.identity})`;
}

function explain(
  engine: PolicyEngine,
  dir: Direction,
  self: TracePeer,
  other: TracePeer,
  v: Verdict,
  l4: string,
): string {
  const who = `${dir} of ${describePeer(self)}`;
  const peer = `${dir === 'egress' ? 'to' : 'from'} ${describePeer(other)}${v.peerIdentity !== other.identity ? ` as CIDR identity ${v.peerIdentity} (${engine.identityLabels(v.peerIdentity)?.join(', ') ?? ''})` : ''}`;
  const r = v.reason;
  const where = r.origin ? `${r.origin.policy} ${r.origin.rule}.${r.origin.section}[${r.origin.index}]` : '';
  switch (r.kind) {
    case 'no-policy':
      return r.selectedBy.length === 0
        ? `${who}: ALLOWED: no policy selects the endpoint`
        : `${who}: ALLOWED: the policies selecting the endpoint (${r.selectedBy.join(', ')}) have no ${dir} rules`;
    case 'allow':
      return `${who}: ALLOWED by ${where} ${peer} on ${l4}`;
    case 'deny':
      return `${who}: DENIED by ${where} ${peer} on ${l4} (deny rules win over allow rules)`;
    case 'default-deny':
      return `${who}: DENIED by default: ${r.selectedBy.join(', ')} select${r.selectedBy.length === 1 ? 's' : ''} the endpoint and no rule allows ${peer.replace(/^(to|from) /, '')} on ${l4}`;
  }
}

export function tracePolicy(engine: PolicyEngine, locator: PodLocator, req: TraceRequest): TraceResult {
  const local = engine.clusterName;
  const { port, protocol } = parseDport(req.dport);
  let src: TracePeer;
  if (req.srcPod !== undefined) {
    const s = splitPod(req.srcPod, local, '--src-pod');
    const found = locator.findPod(s.cluster, s.namespace, s.name);
    if (!found) throw new TraceError(`--src-pod: no pod ${s.cluster}/${s.namespace}/${s.name} in the ipcache`);
    const epId = objectRef(s.namespace, s.name);
    src = {
      pod: `${s.cluster}/${epId}`,
      cluster: s.cluster,
      identity: found.identity,
      ip: found.ip,
      labels: engine.identityLabels(found.identity) ?? [],
    };
    if (s.cluster === local && engine.endpoint(epId)) src.endpoint = epId;
  } else if (req.srcIdentity !== undefined) {
    src = { cluster: '', identity: req.srcIdentity, labels: engine.identityLabels(req.srcIdentity) ?? [] };
    if (req.srcIp !== undefined) src.ip = req.srcIp;
  } else {
    throw new TraceError('give --src-pod or --src-identity');
  }
  const d = splitPod(req.dstPod, local, '--dst-pod');
  const dfound = locator.findPod(d.cluster, d.namespace, d.name);
  if (!dfound) throw new TraceError(`--dst-pod: no pod ${d.cluster}/${d.namespace}/${d.name} in the ipcache`);
  const dstId = objectRef(d.namespace, d.name);
  const dst: TracePeer = {
    pod: `${d.cluster}/${dstId}`,
    cluster: d.cluster,
    identity: dfound.identity,
    ip: dfound.ip,
    labels: engine.identityLabels(dfound.identity) ?? [],
  };
  if (d.cluster === local && engine.endpoint(dstId)) dst.endpoint = dstId;

  const l4 = `${port}/${protocol}`;
  const steps: TraceStep[] = [];
  if (src.endpoint) {
    const v = engine.verdict({
      direction: 'egress',
      endpoint: src.endpoint,
      peerIdentity: dst.identity,
      port,
      protocol,
      ...(dst.ip ? { peerIp: dst.ip } : {}),
    });
    steps.push({
      direction: 'egress',
      evaluated: true,
      verdict: v,
      explanation: explain(engine, 'egress', src, dst, v, l4),
    });
  } else {
    steps.push({
      direction: 'egress',
      evaluated: false,
      explanation: `egress of ${describePeer(src)}: not evaluated here: the source is not an endpoint of cluster ${local}${src.cluster && src.cluster !== local ? `; cluster ${src.cluster}'s agent enforces it` : ''}`,
    });
  }
  if (dst.endpoint) {
    const v = engine.verdict({
      direction: 'ingress',
      endpoint: dst.endpoint,
      peerIdentity: src.identity,
      port,
      protocol,
      ...(src.ip ? { peerIp: src.ip } : {}),
    });
    steps.push({
      direction: 'ingress',
      evaluated: true,
      verdict: v,
      explanation: explain(engine, 'ingress', dst, src, v, l4),
    });
  } else {
    steps.push({
      direction: 'ingress',
      evaluated: false,
      explanation: `ingress of ${describePeer(dst)}: not evaluated here: policies are per cluster and cluster ${d.cluster}'s agent enforces it (cmesh policy trace --context ${d.cluster} --src-identity ${src.identity} --dst-pod ${dst.pod ?? ''} --dport ${l4})`,
    });
  }
  return {
    src,
    dst,
    port,
    protocol,
    allowed: steps.every((s) => !s.evaluated || s.verdict?.allowed === true),
    complete: steps.every((s) => s.evaluated),
    steps,
  };
}
