/** The `cmesh agent` command: its flags only; the agent's code loads when it runs (src/agent/main.ts). */
import { Command, Option } from '@commander-js/extra-typings';
import { parseDuration } from '../observe/duration.js';
import { boolFlag, intFlag } from '../observe/flag-values.js';
import { examples } from './help.js';
import { DEFAULT_CACHE_TTL, DEFAULT_SYNC_TIMEOUT, LB_ALGORITHMS } from '../agent/defaults.js';

export function agentCommand() {
  return (
    new Command('agent')
      .summary('run the agent of one node (started by `cmesh cluster create`; rarely run by hand)')
      .description(
        "run the agent of one node: merge the local cluster's state with every remote cluster's into ipcache, " +
          'identities, nodes and load-balancing tables, and serve them on a local API socket',
      )
      .option(
        '--cluster-dir <dir>',
        'a local cluster folder: takes cluster, state etcd, config dir and socket from it (default: none; give the flags)',
      )
      .option('--cluster-name <name>', "this cluster's name (default: from --cluster-dir)")
      .option('--cluster-id <id>', "this cluster's ID (default: from --cluster-dir)", intFlag('--cluster-id'))
      .option('--node <name>', "this node's name (required, except with --external-workload)")
      .option(
        '--clustermesh-config <dir>',
        'remote-cluster config directory, one etcd config file per remote (default: <cluster-dir>/clustermesh; none = no ClusterMesh)',
      )
      .addOption(
        new Option('--source <type>', 'where the local cluster state comes from')
          .choices(['local'] as const)
          .default('local' as const),
      )
      .option(
        '--state-etcd <url>',
        "the state etcd holding the cluster's objects, local source (default: from --cluster-dir)",
      )
      .option(
        '--max-connected-clusters <n>',
        '255 or 511 (default: from --cluster-dir, else 255)',
        intFlag('--max-connected-clusters'),
      )
      .option('--api-socket <path>', 'unix socket of the local API (default: <cluster-dir>/nodes/<node>/agent.sock)')
      .option(
        '--health-port <port>',
        '/healthz, /readyz and /metrics on 127.0.0.1:<port>, 0 = any free port (default: not served)',
        intFlag('--health-port'),
      )
      .option(
        '--clustermesh-cache-ttl <duration>',
        "how long to keep a disconnected remote's state (0 = until it returns)",
        DEFAULT_CACHE_TTL,
      )
      .option(
        '--clustermesh-sync-timeout <duration>',
        "how long startup waits for each remote's initial sync",
        DEFAULT_SYNC_TIMEOUT,
      )
      .option(
        '--policy-default-local-cluster <bool>',
        'true | false: peer selectors without a cluster label select only this cluster (default: true)',
        boolFlag('--policy-default-local-cluster'),
      )
      .addOption(
        new Option('--lb-algorithm <algorithm>', 'how the service proxy picks a backend (default: maglev)').choices(
          LB_ALGORITHMS,
        ),
      )
      .option(
        '--service-cidr <cidr>',
        "the cluster's service CIDR; inside 127.0.0.0/8 its frontends become real sockets (default: from --cluster-dir)",
      )
      .option(
        '--serve-frontends <bool>',
        "listen on the cluster's loopback frontends (default: only on the cluster's first node, <cluster>-node-1; " +
          'a frontend can be bound by one process, and clusters on one host need distinct loopback service CIDRs)',
        boolFlag('--serve-frontends'),
      )
      // External workloads (VMs): see external-workload.ts.
      .option('--external-workload', 'run as the agent of a VM or bare-metal server joined to a cluster', false)
      .option('--vm-name <name>', 'external workload: its name, a CiliumExternalWorkload of the cluster (required)')
      .option('--vm-ip <ip>', 'external workload: its IPv4 address (required)')
      .option(
        '--kvstore-config <file>',
        "external workload: etcd config file of the cluster's clustermesh etcd (required)",
      )
      .option(
        '--join-timeout <duration>',
        'external workload: how long to wait for the registration answer (default: 1m)',
      )
      .option(
        '--vm-lease-ttl <seconds>',
        'external workload: TTL of its registration lease (default: 10)',
        intFlag('--vm-lease-ttl'),
      )
      .addHelpText(
        'after',
        examples([
          'cmesh agent --cluster-dir ~/.cmesh/clusters/east --node east-node-1',
          'cmesh agent --cluster-name east --cluster-id 1 --node east-node-1 --state-etcd http://127.0.0.1:2379 --api-socket /tmp/east-node-1.sock',
          'cmesh agent --external-workload --vm-name my-vm --vm-ip 192.0.2.10 --cluster-name east --cluster-id 1 --kvstore-config etcd-config.yaml --api-socket /tmp/my-vm.sock',
        ]),
      )
      .action(async (opts) => {
        if (opts.externalWorkload) {
          const { externalWorkloadRunOptions, runExternalWorkloadAgent } =
            await import('../agent/external-workload/external-workload.js');
          await runExternalWorkloadAgent(externalWorkloadRunOptions(opts, parseDuration));
          return;
        }
        const { agentRunOptions, runAgent } = await import('../agent/main.js');
        await runAgent(await agentRunOptions(opts));
      })
  );
}
