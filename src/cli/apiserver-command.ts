/** The `cmesh apiserver` command: its flags only; the apiserver's code loads when it runs (src/apiserver/main.ts). */
import { Command } from '@commander-js/extra-typings';
import { DEFAULT_GLOBAL_NAMESPACE } from '../k8s/cilium-annotations.js';
import { boolFlag, intFlag } from '../observe/flag-values.js';
import { DEFAULT_MAX_CONNECTED_CLUSTERS } from '../wire/cluster.js';
import { examples } from './help.js';

export function apiserverCommand() {
  return new Command('apiserver')
    .summary("run the clustermesh-apiserver: publish this cluster's state into its clustermesh etcd")
    .description(
      "run the clustermesh-apiserver: publish this cluster's identities, endpoints, nodes and global services " +
        'into its clustermesh etcd (with sync canaries, cluster config and heartbeat)',
    )
    .option(
      '--cluster-dir <dir>',
      'a local cluster folder: takes every setting below from its cluster.json (default: none; give the flags)',
    )
    .option('--cluster-name <name>', "this cluster's name (default: from --cluster-dir)")
    .option('--cluster-id <id>', "this cluster's ID (default: from --cluster-dir)", intFlag('--cluster-id'))
    .option(
      '--max-connected-clusters <n>',
      `255 or 511 (default: ${DEFAULT_MAX_CONNECTED_CLUSTERS})`,
      intFlag('--max-connected-clusters'),
    )
    .option(
      '--state-etcd <url>',
      "the state etcd holding the cluster's objects, local source (default: from --cluster-dir)",
    )
    .option(
      '--kvstore-config <file>',
      'etcd config file (Cilium format) of the clustermesh etcd (default: from --cluster-dir when TLS is on)',
    )
    .option(
      '--kvstore <url>',
      'the clustermesh etcd endpoint, plain and loopback (default: from --cluster-dir when TLS is off)',
    )
    .option(
      '--health-port <port>',
      '/healthz, /readyz and /metrics on 127.0.0.1:<port> (default: from --cluster-dir, else any free port)',
      intFlag('--health-port'),
    )
    .option(
      '--clustermesh-default-global-namespace <bool>',
      `true or false: namespaces without the clustermesh.cilium.io/global annotation export their objects (default: ${DEFAULT_GLOBAL_NAMESPACE})`,
      boolFlag('--clustermesh-default-global-namespace'),
    )
    .option('--enable-service-exports', 'publish MCS-API ServiceExports')
    .addHelpText(
      'after',
      examples([
        'cmesh apiserver --cluster-dir ~/.cmesh/clusters/east',
        'cmesh apiserver --cluster-name east --cluster-id 1 --state-etcd http://127.0.0.1:2379 --kvstore http://127.0.0.1:2381 --health-port 9880',
      ]),
    )
    .action(async (opts) => {
      const { apiserverRunOptions, runApiserver } = await import('../apiserver/main.js');
      await runApiserver(await apiserverRunOptions(opts));
    });
}
