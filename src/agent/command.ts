/** The `cmesh agent` command: its flags only; the agent's code loads when it runs (see main.ts). */
import { Command, Option } from '@commander-js/extra-typings';
import { parseDuration } from '../observe/duration.js';
import { boolFlag, intFlag } from '../observe/flag-values.js';
import { DEFAULT_CACHE_TTL, DEFAULT_SYNC_TIMEOUT, LB_ALGORITHMS } from './defaults.js';

export function agentCommand() {
  return (
    new Command('agent')
      .description(
        "run the agent of one node: merge the local cluster's state with every remote cluster's into ipcache,\n" +
          'identities, nodes and load-balancing tables, and serve them on a local API socket',
      )
      .option('--cluster-dir <dir>', 'a local cluster folder: takes cluster, state etcd, config dir and socket from it')
      .option('--cluster-name <name>', "this cluster's name")
      .option('--cluster-id <id>', "this cluster's ID", intFlag('--cluster-id'))
      .option('--node <name>', "this node's name")
      .option('--clustermesh-config <dir>', 'remote-cluster config directory (one etcd config file per remote)')
      .addOption(
        new Option('--source <type>', 'where the local cluster state comes from')
          .choices(['local'] as const)
          .default('local' as const),
      )
      .option('--state-etcd <url>', "the state etcd holding the cluster's objects (local source)")
      .option('--max-connected-clusters <n>', '255 or 511', intFlag('--max-connected-clusters'))
      .option('--api-socket <path>', 'unix socket of the local API')
      .option(
        '--health-port <port>',
        '/healthz, /readyz and /metrics on 127.0.0.1:<port> (0 = any free port)',
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
        'peer selectors without a cluster label select only this cluster (true | false; default true)',
        boolFlag('--policy-default-local-cluster'),
      )
      .addOption(
        new Option('--lb-algorithm <algorithm>', 'how the service proxy picks a backend').choices(LB_ALGORITHMS),
      )
      .option(
        '--service-cidr <cidr>',
        "the cluster's service CIDR; inside 127.0.0.0/8 its frontends become real sockets (default: from --cluster-dir)",
      )
      .option(
        '--serve-frontends <bool>',
        "listen on the cluster's loopback frontends (default: only on the cluster's first node, <cluster>-node-1;\n" +
          'a frontend can be bound by one process, and clusters on one host need distinct loopback service CIDRs)',
        boolFlag('--serve-frontends'),
      )
      // External workloads (VMs): see external-workload.ts.
      .option('--external-workload', 'run as the agent of a VM or bare-metal server joined to a cluster', false)
      .option('--vm-name <name>', 'external workload: its name (a CiliumExternalWorkload of the cluster)')
      .option('--vm-ip <ip>', 'external workload: its IPv4 address')
      .option('--kvstore-config <file>', "external workload: etcd config file of the cluster's clustermesh etcd")
      .option('--join-timeout <duration>', 'external workload: how long to wait for the registration answer')
      .option('--vm-lease-ttl <seconds>', 'external workload: TTL of its registration lease', intFlag('--vm-lease-ttl'))
      .action(async (opts) => {
        if (opts.externalWorkload) {
          const { externalWorkloadRunOptions, runExternalWorkloadAgent } = await import('./external-workload.js');
          await runExternalWorkloadAgent(externalWorkloadRunOptions(opts, parseDuration));
          return;
        }
        const { agentRunOptions, runAgent } = await import('./main.js');
        await runAgent(await agentRunOptions(opts));
      })
  );
}
