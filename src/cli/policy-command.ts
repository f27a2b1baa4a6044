/**
 * `cmesh policy trace|list|get`: policy verdicts and state from the node agents. A trace whose destination pod is
 * in another local cluster asks that cluster's agent for the ingress step, as policies are per cluster.
 */
import { Command } from '@commander-js/extra-typings';
import { AgentApiError, AgentClient } from '../agent/api/api-client.js';
import type { TraceRequest, TraceResult } from '../agent/api/api-types.js';
import { objectRef, splitNamespacedName } from '../wire/object-ref.js';
import { agentSocket } from './agent-views.js';
import { contextOption } from './context.js';
import { examples } from './help.js';
import { emit, outputOption, table } from './output.js';

/** A trace whose steps may come from two clusters' agents. */
export interface CombinedTrace extends TraceResult {
  /** Per step, the cluster whose agent evaluated it ("" when none did). */
  evaluatedBy: string[];
  /** Why a step could not be evaluated by its cluster, when it was not. */
  notes: string[];
}

/**
 * Puts the destination cluster's ingress step into the source cluster's trace. `remote` is the destination
 * agent's trace of the same flow by source identity.
 */
export function combineTraces(
  local: TraceResult,
  localCluster: string,
  remote?: { cluster: string; trace: TraceResult },
): CombinedTrace {
  const steps = [...local.steps];
  const evaluatedBy = steps.map((s) => (s.evaluated ? localCluster : ''));
  const ingress = remote?.trace.steps.find((s) => s.direction === 'ingress');
  const i = steps.findIndex((s) => s.direction === 'ingress' && !s.evaluated);
  if (remote && ingress?.evaluated && i >= 0) {
    steps[i] = ingress;
    evaluatedBy[i] = remote.cluster;
  }
  return {
    ...local,
    dst: remote && i >= 0 && ingress?.evaluated ? { ...local.dst, ...pickEndpoint(remote.trace) } : local.dst,
    steps,
    evaluatedBy,
    notes: [],
    allowed: steps.every((s) => !s.evaluated || s.verdict?.allowed === true),
    complete: steps.every((s) => s.evaluated),
  };
}

function pickEndpoint(t: TraceResult): { endpoint?: string } {
  return t.dst.endpoint ? { endpoint: t.dst.endpoint } : {};
}

export function formatTrace(t: CombinedTrace): string {
  const src = t.src.pod ?? `identity ${t.src.identity}${t.src.ip ? ` (${t.src.ip})` : ''}`;
  const lines = [`Tracing ${src} -> ${t.dst.pod ?? t.dst.ip ?? ''} on ${t.port}/${t.protocol}`, ''];
  t.steps.forEach((s, i) => {
    const by = t.evaluatedBy[i] ? `cluster ${t.evaluatedBy[i]}` : 'not evaluated';
    lines.push(`${s.direction.toUpperCase()} [${by}]`, `  ${s.explanation}`);
  });
  for (const n of t.notes) lines.push(`Note: ${n}`);
  lines.push('');
  const verdict = t.allowed ? 'ALLOWED' : 'DENIED';
  lines.push(`Final verdict: ${verdict}${t.complete ? '' : ' (incomplete: a step was not evaluated, see above)'}`);
  return lines.join('\n');
}

/** `cluster/namespace/name`: the cluster, and the object reference that follows it. */
function podParts(pod: string): { cluster: string; rest: string } | undefined {
  const i = pod.indexOf('/');
  const ref = i > 0 ? splitNamespacedName(pod.slice(i + 1)) : undefined;
  return ref ? { cluster: pod.slice(0, i), rest: objectRef(ref.namespace, ref.name) } : undefined;
}

/** Runs the trace on the context's agent and, for a destination in another local cluster, on that cluster's. */
export async function traceAcrossClusters(context: string, req: TraceRequest, node?: string): Promise<CombinedTrace> {
  const local = await new AgentClient(await agentSocket(context, node)).policyTrace(req);
  const combined = combineTraces(local, context);
  const dst = local.dst.pod ? podParts(local.dst.pod) : undefined;
  const pending = local.steps.some((s) => s.direction === 'ingress' && !s.evaluated);
  if (!pending || !dst || dst.cluster === context) return combined;
  const { listClusterNames } = await import('../mesh/local-cluster.js');
  if (!(await listClusterNames()).includes(dst.cluster)) {
    combined.notes.push(
      `cluster ${dst.cluster} is not a local cluster: its agent cannot be asked for the ingress step`,
    );
    return combined;
  }
  const remoteReq: TraceRequest = { srcIdentity: local.src.identity, dstPod: dst.rest, dport: req.dport };
  if (local.src.ip) remoteReq.srcIp = local.src.ip;
  try {
    const remote = await new AgentClient(await agentSocket(dst.cluster)).policyTrace(remoteReq);
    const out = combineTraces(local, context, { cluster: dst.cluster, trace: remote });
    if (remote.src.labels.length === 0)
      out.notes.push(
        `cluster ${dst.cluster} does not know identity ${local.src.identity} (are the clusters connected?)`,
      );
    return out;
  } catch (err) {
    combined.notes.push(`cannot ask cluster ${dst.cluster}'s agent: ${(err as Error).message}`);
    return combined;
  }
}

/** Exit status of a trace: 1 when denied. */
export const TRACE_DENIED_EXIT_CODE = 1;

function traceCommand() {
  return new Command('trace')
    .summary('the verdict of a flow from a source to a destination pod, and the rules that decided it')
    .description(
      'the verdict of a flow: egress of the source, ingress of the destination, and the rule that decided each ' +
        "(a destination in another local cluster is judged by that cluster's agent); exits 1 when denied",
    )
    .addOption(contextOption())
    .option('--node <name>', "the node whose agent to ask (default: the cluster's first node)")
    .option('--src-pod <ns/name>', 'the source pod, in the context cluster (default: none; give it or --src-identity)')
    .option('--src-identity <id>', 'a source identity instead of a pod (default: none)')
    .option('--src-ip <ip>', 'with --src-identity: the source address, for CIDR rules (default: none)')
    .requiredOption('--dst-pod <[cluster/]ns/name>', 'the destination pod')
    .requiredOption('--dport <port[/protocol]>', 'destination port, e.g. 80/TCP')
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh policy trace --context east --src-pod shop/web-1 --dst-pod shop/web-2 --dport 8080/TCP',
        'cmesh policy trace --context east --src-pod shop/web-1 --dst-pod west/shop/web-2 --dport 80/TCP',
        'cmesh policy trace --context east --src-identity 2 --src-ip 192.0.2.10 --dst-pod shop/web-2 --dport 8080',
      ]),
    )
    .action(async (o) => {
      if ((o.srcPod === undefined) === (o.srcIdentity === undefined))
        throw new Error('give exactly one of --src-pod and --src-identity');
      const req: TraceRequest = { dstPod: o.dstPod, dport: o.dport };
      if (o.srcPod !== undefined) req.srcPod = o.srcPod;
      if (o.srcIdentity !== undefined) {
        if (!/^[0-9]+$/.test(o.srcIdentity)) throw new Error(`--src-identity must be a number, got "${o.srcIdentity}"`);
        req.srcIdentity = Number(o.srcIdentity);
      }
      if (o.srcIp !== undefined) req.srcIp = o.srcIp;
      let t: CombinedTrace;
      try {
        t = await traceAcrossClusters(o.context, req, o.node);
      } catch (err) {
        // A refused request (unknown pod, bad port) reads better without the HTTP framing.
        if (err instanceof AgentApiError && err.status === 400)
          throw new Error(err.message.replace(/^.*HTTP 400: /, ''), { cause: err });
        throw err;
      }
      emit(o.output, t, () => formatTrace(t));
      if (!t.allowed) process.exitCode = TRACE_DENIED_EXIT_CODE;
    });
}

function listCommand() {
  return new Command('list')
    .description('policies the agent applied (and refused), with the local endpoints each selects')
    .addOption(contextOption())
    .option('--node <name>', "the node whose agent to ask (default: the cluster's first node)")
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(['cmesh policy list --context east', 'cmesh policy list --context east --node east-node-2']),
    )
    .action(async (o) => {
      const p = await new AgentClient(await agentSocket(o.context, o.node)).policy();
      emit(o.output, p, () => {
        const rows: string[][] = p.policies.map((x) => [x.name, String(x.rules), String(x.endpoints), 'applied']);
        for (const e of p.errors) rows.push([e.policy, '-', '-', `refused: ${e.error}`]);
        return rows.length === 0 ? 'no policies' : table(['POLICY', 'RULES', 'ENDPOINTS', 'STATE'], rows);
      });
    });
}

function getCommand() {
  return new Command('get')
    .description("an endpoint's policy map: per direction, the peer identities and ports allowed or denied")
    .argument('<ns/name>', 'a local endpoint')
    .addOption(contextOption())
    .option('--node <name>', "the node whose agent to ask (default: the cluster's first node)")
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples(['cmesh policy get shop/web-1 --context east', 'cmesh policy get shop/web-1 --context east -o json']),
    )
    .action(async (endpoint, o) => {
      const ref = splitNamespacedName(endpoint);
      if (!ref) throw new Error(`expected NAMESPACE/NAME, got "${endpoint}"`);
      const v = await new AgentClient(await agentSocket(o.context, o.node)).endpointPolicy(ref.namespace, ref.name);
      emit(o.output, v, () =>
        [
          `Endpoint ${v.endpoint} (identity ${v.identity}): ingress ${v.enforced.ingress ? 'enforced' : 'not enforced'}, egress ${v.enforced.egress ? 'enforced' : 'not enforced'}`,
          `Selected by: ${v.selectedBy.join(', ') || 'none'}`,
          v.entries.length === 0
            ? 'no entries'
            : table(
                ['DIRECTION', 'IDENTITY', 'PROTOCOL', 'PORTS', 'ACTION', 'FROM'],
                v.entries.map((e) => [
                  e.direction,
                  e.identity === 0 ? 'ANY' : String(e.identity),
                  e.protocol,
                  e.ports,
                  e.deny ? 'deny' : 'allow',
                  `${e.origin.policy} ${e.origin.rule}.${e.origin.section}[${e.origin.index}]`,
                ]),
              ),
        ].join('\n'),
      );
    });
}

export function policyCommand() {
  return new Command('policy')
    .description('network policy as the node agents enforce it (as cilium-dbg policy)')
    .addHelpText(
      'after',
      examples([
        'cmesh policy list --context east',
        'cmesh policy trace --context east --src-pod shop/web-1 --dst-pod west/shop/web-2 --dport 80/TCP',
      ]),
    )
    .addCommand(traceCommand())
    .addCommand(listCommand())
    .addCommand(getCommand());
}
