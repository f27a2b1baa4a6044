/**
 * The node agent's views, read from its local API socket, as cilium-dbg shows them: `status`, `service list`,
 * `bpf lb list`, `bpf ipcache list`, `identity list`, `endpoint list`, `node list`, and `datapath show` (the
 * userspace datapath's listeners, tunnel and verdict counters).
 */
import { contextOption } from './context.js';
import { existsSync } from 'node:fs';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { AgentClient } from '../agent/api/api-client.js';
import type { AgentStatus, RemoteClusterStatus } from '../agent/api/api-types.js';
import { objectRef } from '../wire/object-ref.js';
import { examples } from './help.js';
import { emit, outputOption, table, type OutputFormat } from './output.js';

interface ViewOptions {
  context?: string;
  node?: string;
  /** An agent's socket, given directly (a VM's agent, or one started by hand): no cluster lookup. */
  apiSocket?: string;
  output: OutputFormat;
}

/** The agent socket of `node` (default: the cluster's first node whose agent runs, in node order). */
export async function agentSocket(context: string, node?: string): Promise<string> {
  const { liveAgentSocket } = await import('../mesh/running.js');
  return liveAgentSocket(context, node);
}

async function clientFor(o: ViewOptions): Promise<AgentClient> {
  if (o.apiSocket !== undefined) {
    if (o.node !== undefined) throw new Error('--api-socket names one agent already: drop --node');
    if (!existsSync(o.apiSocket)) {
      throw new Error(`no agent socket at ${o.apiSocket} (is the agent running? its --api-socket flag says where)`);
    }
    return new AgentClient(o.apiSocket);
  }
  if (o.context === undefined) {
    throw new Error('--context <name> is required (or --api-socket <path> for an agent outside a local cluster)');
  }
  return new AgentClient(await agentSocket(o.context, o.node));
}

/** A leaf command with the options every view shares, and its help's examples. */
function view(name: string, description: string, exampleLines: readonly string[]) {
  return new Command(name)
    .description(description)
    .addOption(
      contextOption(
        'the local cluster whose agent to ask, by name or context (`east`, `cmesh-east`; default: the current context, unless --api-socket)',
      ),
    )
    .option('--node <name>', "the node whose agent to ask (default: the cluster's first node)")
    .option(
      '--api-socket <path>',
      "ask the agent listening on this socket instead, e.g. a VM's agent.sock (default: the node's, in the cluster folder)",
    )
    .addOption(outputOption())
    .addHelpText('after', examples(exampleLines));
}

function yesNo(b: boolean | null): string {
  return b === null ? 'disabled' : String(b);
}

function remoteLines(r: RemoteClusterStatus, verbose: boolean): string[] {
  const head =
    `   ${r.name}: ${r.ready ? 'ready' : 'not-ready'}, ${r.numNodes} nodes, ${r.numEndpoints} endpoints, ` +
    `${r.numIdentities} identities, ${r.numSharedServices} services, ${r.numFailures} failures ` +
    `(last: ${r.lastFailure ?? 'never'})`;
  const lines = [head];
  if (!verbose && r.ready) return lines;
  lines.push(`   └  connection: ${r.connected ? 'connected' : 'disconnected'}: ${r.status}`);
  if (r.lastFailureMessage) lines.push(`   └  last error: ${r.lastFailureMessage}`);
  const c = r.config;
  lines.push(
    c
      ? `   └  remote configuration: retrieved=true, cluster-id=${c.clusterID}, max-connected-clusters=${c.maxConnectedClusters}, ` +
          `kvstoremesh=${c.cached}, sync-canaries=${c.syncedCanaries}, service-exports=${yesNo(c.serviceExportsEnabled)}`
      : '   └  remote configuration: retrieved=false',
  );
  const s = r.synced;
  lines.push(
    `   └  synchronization status: nodes=${s.nodes}, endpoints=${s.endpoints}, identities=${s.identities}, ` +
      `services=${s.services}, service-exports=${yesNo(s.serviceExports)}`,
  );
  if (r.invalidEntries > 0) lines.push(`   └  invalid entries skipped: ${r.invalidEntries}`);
  return lines;
}

export function formatStatus(st: AgentStatus, verbose: boolean): string {
  const cm = st.clusterMesh;
  const lines = [
    `Cluster:       ${st.cluster.name} (ID ${st.cluster.id}, max connected clusters ${st.cluster.maxConnectedClusters})`,
    `Node:          ${st.node}`,
    `Synced:        ${st.synced ? 'yes' : 'no'}` +
      (verbose || !st.synced
        ? ` (local: ${Object.entries(st.localSync)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')})`
        : ''),
    `Services:      ${st.counts.services} (${st.counts.frontends} frontends)`,
    `IPCache:       ${st.counts.ipcache} entries`,
    `Identities:    ${st.counts.identities}`,
    `Nodes:         ${st.counts.nodes}`,
    `Endpoints:     ${st.counts.endpoints}`,
    cm.enabled
      ? `ClusterMesh:   ${cm.numReady}/${cm.numRemotes} remote clusters ready, ${cm.globalServices} global-services`
      : 'ClusterMesh:   disabled',
  ];
  for (const r of cm.remotes) lines.push(...remoteLines(r, verbose));
  return lines.join('\n');
}

function statusCommand() {
  return view('status', "the node agent's status, with a ClusterMesh section per remote cluster", [
    'cmesh status --context east',
    'cmesh status --context east --node east-node-2 --verbose',
    'cmesh status --api-socket cmesh-vm-my-vm/agent.sock  # a VM agent started by the `clustermesh vm install` script',
  ])
    .option('--verbose', 'details of every remote cluster (as cilium-dbg status --all-clusters)')
    .action(async (o) => {
      const st = await (await clientFor(o)).status();
      emit(o.output, st, () => formatStatus(st, o.verbose === true));
    });
}

function serviceList() {
  return view('list', 'services and their backends, local and remote, with state and selection', [
    'cmesh service list --context east',
    'cmesh service list --context east -o json',
  ]).action(async (o) => {
    const list = await (await clientFor(o)).services();
    emit(o.output, list, () => {
      const rows: (string | number)[][] = [];
      list.forEach((s, i) => {
        if (s.backends.length === 0) rows.push([i + 1, s.frontend, s.type, s.service, '', '', '', '']);
        s.backends.forEach((b, j) => {
          rows.push([
            j === 0 ? i + 1 : '',
            j === 0 ? s.frontend : '',
            j === 0 ? s.type : '',
            j === 0 ? s.service : '',
            `${j + 1} => ${b.address}:${b.port}/${b.protocol}`,
            `${b.cluster} (${b.clusterID})`,
            b.state,
            b.selected ? 'yes' : 'no',
          ]);
        });
      });
      return list.length === 0
        ? 'no services'
        : table(['ID', 'FRONTEND', 'TYPE', 'SERVICE', 'BACKEND', 'CLUSTER', 'STATE', 'SELECTED'], rows);
    });
  });
}

function lbList() {
  return view('list', 'the load-balancing map: each frontend and the backends it picks, in slot order', [
    'cmesh bpf lb list --context east',
  ]).action(async (o) => {
    const list = await (await clientFor(o)).lb();
    emit(o.output, list, () => {
      const rows: string[][] = [];
      for (const e of list) {
        rows.push([e.frontend, `0.0.0.0:0 (${e.revNatId}) (0) [${e.type}] ${e.service}`]);
        for (const b of e.backends) {
          rows.push(['', `${b.address}:${b.port}/${b.protocol} (${e.revNatId}) (${b.slot}) [${b.cluster}]`]);
        }
      }
      return list.length === 0 ? 'no entries' : table(['SERVICE ADDRESS', 'BACKEND ADDRESS (REVNAT_ID) (SLOT)'], rows);
    });
  });
}

function ipcacheList() {
  return view('list', 'the ipcache: every known IP/CIDR with its identity and where it lives', [
    'cmesh bpf ipcache list --context west',
    'cmesh bpf ipcache list --context west --node west-node-2 -o json',
  ]).action(async (o) => {
    const list = await (await clientFor(o)).ipcache();
    emit(o.output, list, () =>
      list.length === 0
        ? 'no entries'
        : table(
            ['IP PREFIX/ADDRESS', 'IDENTITY', 'TUNNEL ENDPOINT', 'ENCRYPT KEY', 'CLUSTER', 'SOURCE', 'POD'],
            list.map((e) => [
              e.prefix,
              e.identity,
              e.hostIP || '-',
              e.encryptKey,
              `${e.cluster} (${e.clusterID})`,
              e.source,
              e.pod ? objectRef(e.namespace, e.pod) : '',
            ]),
          ),
    );
  });
}

function identityList() {
  return view('list', 'security identities: reserved, local and from every remote cluster', [
    'cmesh identity list --context east',
  ]).action(async (o) => {
    const list = await (await clientFor(o)).identities();
    emit(o.output, list, () => {
      const rows: (string | number)[][] = [];
      for (const id of list) {
        id.labels.forEach((l, i) => {
          rows.push(i === 0 ? [id.id, l, id.cluster || '-', id.source] : ['', l, '', '']);
        });
      }
      return table(['ID', 'LABELS', 'CLUSTER', 'SOURCE'], rows);
    });
  });
}

function endpointList() {
  return view('list', "the local cluster's endpoints", ['cmesh endpoint list --context east']).action(async (o) => {
    const list = await (await clientFor(o)).endpoints();
    emit(o.output, list, () =>
      list.length === 0
        ? 'no endpoints'
        : table(
            ['ENDPOINT', 'ID', 'IDENTITY', 'IPv4', 'IPv6', 'NODE IP', 'STATE'],
            list.map((e) => [
              objectRef(e.namespace, e.name),
              e.id ?? '-',
              e.identity ?? '-',
              e.ipv4 || '-',
              e.ipv6 || '-',
              e.hostIP || '-',
              e.state || '-',
            ]),
          ),
    );
  });
}

function nodeList() {
  return view('list', 'nodes of the local cluster and of every remote cluster', [
    'cmesh node list --context east',
  ]).action(async (o) => {
    const list = await (await clientFor(o)).nodes();
    emit(o.output, list, () =>
      list.length === 0
        ? 'no nodes'
        : table(
            ['NAME', 'IPV4 ADDRESS', 'ENDPOINT CIDR', 'IPV6 ADDRESS', 'ENDPOINT CIDR', 'CLUSTER ID', 'SOURCE'],
            list.map((n) => {
              const v4 = n.addresses.find((a) => a.type === 'InternalIP' && !a.ip.includes(':'))?.ip;
              const v6 = n.addresses.find((a) => a.type === 'InternalIP' && a.ip.includes(':'))?.ip;
              return [
                `${n.cluster}/${n.name}`,
                v4 ?? '-',
                n.ipv4AllocCIDR || '-',
                v6 ?? '-',
                n.ipv6AllocCIDR || '-',
                n.clusterID,
                n.source,
              ];
            }),
          ),
    );
  });
}

function datapathShow() {
  return view('show', "the userspace datapath: frontend listeners, the node's tunnel, sample servers, verdicts", [
    'cmesh datapath show --context east',
    'cmesh datapath show --context east --node east-node-2',
  ]).action(async (o) => {
    const d = await (await clientFor(o)).datapath();
    emit(o.output, d, () => {
      const counts = (c: Record<string, number>): string =>
        Object.entries(c)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ');
      const lines = [
        `Frontends:      ${counts(d.counters)}`,
        d.tunnel
          ? `Tunnel:         ${d.tunnel.address}:${d.tunnel.port} ${d.tunnel.state}${d.tunnel.error ? ` (${d.tunnel.error})` : ''}: ${counts(d.tunnel.counters)}`
          : 'Tunnel:         none (this node has no loopback address)',
        '',
        d.listeners.length === 0
          ? 'no frontends'
          : table(
              ['FRONTEND', 'SERVICE', 'STATE'],
              d.listeners.map((l) => [l.frontend, l.service, l.error ? `${l.state}: ${l.error}` : l.state]),
            ),
      ];
      if (d.sampleServers.length > 0) {
        lines.push(
          '',
          table(
            ['SAMPLE SERVER', 'ADDRESS', 'SOCKET', 'STATE'],
            d.sampleServers.map((x) => [x.pod, x.address, x.socket, x.error ? `${x.state}: ${x.error}` : x.state]),
          ),
        );
      }
      return lines.join('\n');
    });
  });
}

/** A command that groups others; its examples are theirs. */
function group(name: string, description: string, exampleLines: readonly string[], ...subs: CommandUnknownOpts[]) {
  const cmd = new Command(name).description(description).addHelpText('after', examples(exampleLines));
  for (const s of subs) cmd.addCommand(s);
  return cmd;
}

/** Every agent view command, for the program to register. */
export function agentViewCommands(): CommandUnknownOpts[] {
  return [
    statusCommand(),
    group(
      'service',
      "the node agent's services (as cilium-dbg service)",
      ['cmesh service list --context east'],
      serviceList(),
    ),
    group(
      'bpf',
      "the node agent's datapath maps (as cilium-dbg bpf)",
      ['cmesh bpf lb list --context east', 'cmesh bpf ipcache list --context east'],
      group('lb', 'the load-balancing map', ['cmesh bpf lb list --context east'], lbList()),
      group('ipcache', 'the IP -> identity map', ['cmesh bpf ipcache list --context east'], ipcacheList()),
    ),
    group(
      'identity',
      "the node agent's identities (as cilium-dbg identity)",
      ['cmesh identity list --context east'],
      identityList(),
    ),
    group(
      'endpoint',
      "the local cluster's endpoints (as cilium-dbg endpoint)",
      ['cmesh endpoint list --context east'],
      endpointList(),
    ),
    group(
      'node',
      'nodes of every cluster in the mesh (as cilium-dbg node)',
      ['cmesh node list --context east'],
      nodeList(),
    ),
    group('datapath', "the node agent's userspace datapath", ['cmesh datapath show --context east'], datapathShow()),
  ];
}
