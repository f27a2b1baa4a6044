/** The `cmesh apiserver` command: its flags only; the apiserver's code loads when it runs (see main.ts). */
import { Command } from '@commander-js/extra-typings';
import { DEFAULT_GLOBAL_NAMESPACE } from '../k8s/cilium-annotations.js';
import { boolFlag, intFlag } from '../observe/flag-values.js';
import { DEFAULT_MAX_CONNECTED_CLUSTERS } from '../wire/cluster.js';

export function apiserverCommand() {
  return new Command('apiserver')
    .description(
      "run the clustermesh-apiserver: publish this cluster's identities, endpoints, nodes and global services\n" +
        'into its clustermesh etcd (with sync canaries, cluster config and heartbeat)',
    )
    .option('--cluster-dir <dir>', 'a local cluster folder: takes every setting below from its cluster.json')
    .option('--cluster-name <name>', "this cluster's name")
    .option('--cluster-id <id>', "this cluster's ID", intFlag('--cluster-id'))
    .option(
      '--max-connected-clusters <n>',
      `255 or 511 (default: ${DEFAULT_MAX_CONNECTED_CLUSTERS})`,
      intFlag('--max-connected-clusters'),
    )
    .option('--state-etcd <url>', "the state etcd holding the cluster's objects (local source)")
    .option('--kvstore-config <file>', 'etcd config file (Cilium format) of the clustermesh etcd')
    .option('--kvstore <url>', 'the clustermesh etcd endpoint (plain, loopback)')
    .option('--health-port <port>', '/healthz, /readyz and /metrics on 127.0.0.1:<port>', intFlag('--health-port'))
    .option(
      '--clustermesh-default-global-namespace <bool>',
      `true or false: namespaces without the clustermesh.cilium.io/global annotation export their objects (default: ${DEFAULT_GLOBAL_NAMESPACE})`,
      boolFlag('--clustermesh-default-global-namespace'),
    )
    .option('--enable-service-exports', 'publish MCS-API ServiceExports')
    .action(async (opts) => {
      const { apiserverRunOptions, runApiserver } = await import('./main.js');
      await runApiserver(await apiserverRunOptions(opts));
    });
}
