import { Command } from '@commander-js/extra-typings';
import { disableClustermesh, enableClustermesh } from '../mesh/clustermesh.js';
import { inspectCluster } from '../mesh/local-cluster.js';
import { contextOption } from './context.js';
import { emit, outputOption } from './output.js';

function boolArg(flag: string): (v: string) => boolean {
  return (v) => {
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw new Error(`${flag} must be true or false, got "${v}"`);
  };
}

export function clustermeshCommand() {
  const cmd = new Command('clustermesh').description('enable ClusterMesh on local clusters and connect them');

  cmd
    .command('enable')
    .description("start the cluster's clustermesh etcd and clustermesh-apiserver, and wait until it is ready")
    .addOption(contextOption())
    .option(
      '--enable-kvstoremesh <bool>',
      'run KVStoreMesh so that agents read a local cache of the remotes',
      boolArg('--enable-kvstoremesh'),
    )
    .option('--enable-service-exports', 'publish MCS-API ServiceExports')
    .option(
      '--clustermesh-default-global-namespace <bool>',
      'whether namespaces without a clustermesh.cilium.io/global annotation export their objects',
      boolArg('--clustermesh-default-global-namespace'),
    )
    .addOption(outputOption())
    .action(async (opts) => {
      const rec = await enableClustermesh(opts.context, {
        ...(opts.enableKvstoremesh !== undefined ? { kvstoremesh: opts.enableKvstoremesh } : {}),
        ...(opts.enableServiceExports ? { serviceExports: true } : {}),
        ...(opts.clustermeshDefaultGlobalNamespace !== undefined
          ? { defaultGlobalNamespace: opts.clustermeshDefaultGlobalNamespace }
          : {}),
      });
      const info = await inspectCluster(rec.name);
      emit(
        opts.output,
        info,
        () => `clustermesh enabled on cluster "${rec.name}": etcd ${info.clustermeshEtcd?.endpoints.join(',') ?? '?'}`,
      );
    });

  cmd
    .command('disable')
    .description("stop the cluster's clustermesh-apiserver and clustermesh etcd and remove its data")
    .addOption(contextOption())
    .action(async (opts) => {
      await disableClustermesh(opts.context);
      console.log(`clustermesh disabled on cluster "${opts.context}"`);
    });

  return cmd;
}
