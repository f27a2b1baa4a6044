import { Command } from '@commander-js/extra-typings';
import { contextOption } from './context.js';
import { examples } from './help.js';
import { emit, outputOption } from './output.js';

export function kvstoreCommand() {
  const cmd = new Command('kvstore')
    .description("read a cluster's clustermesh etcd (like cilium-dbg kvstore)")
    .addHelpText('after', examples(['cmesh kvstore get --context east --recursive cilium/state/nodes/v1']));
  cmd
    .command('get')
    .description('print a key and its value, or with --recursive every key under a prefix')
    .argument('<key>', 'a key, or a prefix with --recursive (e.g. cilium/state/nodes/v1)')
    .addOption(contextOption())
    .option('--recursive', 'every key starting with <key>', false)
    .option('--state', "read the cluster's state etcd instead of its clustermesh etcd", false)
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh kvstore get --context east --recursive cilium/state/nodes/v1',
        'cmesh kvstore get --context east cilium/cluster-config/east',
        'cmesh kvstore get --context east --state --recursive /registry/core/pods/shop -o json',
      ]),
    )
    .action(async (key, opts) => {
      const [
        { createEtcdClient },
        { loadCluster, stateEtcdEndpoint },
        { clustermeshEndpoint },
        { clustermeshClientTls },
        { requireRunning },
      ] = await Promise.all([
        import('../kvstore/client.js'),
        import('../mesh/local-cluster.js'),
        import('../mesh/clustermesh.js'),
        import('../mesh/clustermesh-tls.js'),
        import('../mesh/running.js'),
      ]);
      const { record, paths } = await loadCluster(opts.context);
      let client;
      if (opts.state) client = createEtcdClient({ endpoints: [stateEtcdEndpoint(record)] });
      else {
        if (!record.clustermesh?.enabled) {
          throw new Error(
            `clustermesh is not enabled on cluster "${record.name}"; run \`cmesh clustermesh enable --context ${record.name}\``,
          );
        }
        const tls = record.clustermesh.tls ? clustermeshClientTls(record, paths, `admin-${record.name}`) : undefined;
        client = createEtcdClient({ endpoints: [clustermeshEndpoint(record)], ...(tls ? { tls } : {}) });
      }
      try {
        await requireRunning(record, paths, [opts.state ? 'state-etcd' : 'clustermesh-etcd']);
        const kvs = opts.recursive
          ? Object.entries(await client.getAll().prefix(key).strings()).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          : await client
              .get(key)
              .string()
              .then((v) => (v === null ? [] : ([[key, v]] as [string, string][])));
        if (!opts.recursive && kvs.length === 0)
          throw new Error(`key "${key}" not found (use --recursive for a prefix)`);
        emit(
          opts.output,
          kvs.map(([k, v]) => ({ key: k, value: v })),
          () => (kvs.length === 0 ? `no keys under "${key}"` : kvs.map(([k, v]) => `${k} => ${v}`).join('\n')),
        );
      } finally {
        client.close();
      }
    });
  return cmd;
}
