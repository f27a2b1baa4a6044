import { Command } from '@commander-js/extra-typings';
import { clusterPaths } from '../mesh/home.js';
import { emit, outputOption, table } from './output.js';
import { intFlag } from '../observe/flag-values.js';
import { examples } from './help.js';

// The clusters' code loads when a command runs, not with the command tree (`cmesh --help` stays fast).
const localCluster = () => import('../mesh/local-cluster.js');

export function clusterCommand() {
  const cmd = new Command('cluster')
    .description('create, list, inspect and delete local clusters (state under $CMESH_HOME, default ~/.cmesh)')
    .addHelpText(
      'after',
      examples(['cmesh cluster create east --id 1', 'cmesh cluster list', 'cmesh cluster delete east']),
    );

  cmd
    .command('create')
    .description('create a local cluster: its state etcd, its operator and its node agents')
    .argument('<name>', 'cluster name: lowercase letters, digits and dashes, at most 32 characters')
    .requiredOption(
      '--id <n>',
      'cluster ID, unique in the mesh: 1-255 (1-511 with --max-connected-clusters 511)',
      intFlag('--id'),
    )
    .option('--pod-cidr <cidr>', 'pod CIDR; must not overlap other clusters (default: 10.<id>.0.0/16)')
    .option('--service-cidr <cidr>', 'service (ClusterIP) CIDR', '10.96.0.0/16')
    .option('--nodes <k>', 'number of nodes (each gets a /24 of the pod CIDR and an agent)', intFlag('--nodes'), 2)
    .option(
      '--max-connected-clusters <n>',
      '255 or 511: how identity bits are split between cluster ID and identity',
      intFlag('--max-connected-clusters'),
      255,
    )
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh cluster create east --id 1',
        'cmesh cluster create west --id 2 --nodes 3',
        'cmesh cluster create lab --id 3 --pod-cidr 127.20.0.0/16 --service-cidr 127.120.0.0/16  # loopback: real sockets',
      ]),
    )
    .action(async (name, opts) => {
      const { createCluster } = await localCluster();
      const rec = await createCluster({
        name,
        id: opts.id,
        nodes: opts.nodes,
        serviceCidr: opts.serviceCidr,
        maxConnectedClusters: opts.maxConnectedClusters,
        ...(opts.podCidr ? { podCidr: opts.podCidr } : {}),
      });
      emit(
        opts.output,
        rec,
        () => `cluster "${rec.name}" created (ID ${rec.id}, pod CIDR ${rec.podCidr}, ${rec.nodes} nodes)`,
      );
    });

  cmd
    .command('list')
    .description('list local clusters')
    .addOption(outputOption())
    .addHelpText('after', examples(['cmesh cluster list', 'cmesh cluster list -o json']))
    .action(async (opts) => {
      const { loadAllClusters, processStates } = await localCluster();
      const rows: {
        name: string;
        id: number;
        podCidr: string;
        nodes: number;
        clustermesh: boolean;
        processes: string;
      }[] = [];
      for (const r of await loadAllClusters()) {
        const procs = await processStates(clusterPaths(r.name));
        rows.push({
          name: r.name,
          id: r.id,
          podCidr: r.podCidr,
          nodes: r.nodes,
          clustermesh: r.clustermesh?.enabled ?? false,
          processes: `${procs.filter((p) => p.running).length}/${procs.length}`,
        });
      }
      emit(opts.output, rows, () =>
        rows.length === 0
          ? 'no local clusters; create one with `cmesh cluster create NAME --id N`'
          : table(
              ['NAME', 'ID', 'POD CIDR', 'NODES', 'CLUSTERMESH', 'RUNNING'],
              rows.map((r) => [r.name, r.id, r.podCidr, r.nodes, r.clustermesh ? 'enabled' : 'disabled', r.processes]),
            ),
      );
    });

  cmd
    .command('inspect')
    .description('print every endpoint, TLS file and folder of a local cluster (-o json for scripts)')
    .argument('<name>', 'the local cluster')
    .addOption(outputOption())
    .addHelpText('after', examples(['cmesh cluster inspect east', 'cmesh cluster inspect east -o json']))
    .action(async (name, opts) => {
      const { inspectCluster } = await localCluster();
      const info = await inspectCluster(name);
      emit(opts.output, info, () =>
        [
          `Cluster:          ${info.name} (ID ${info.id}, max connected clusters ${info.maxConnectedClusters})`,
          `Pod CIDR:         ${info.podCidr}`,
          `Service CIDR:     ${info.serviceCidr}`,
          `Nodes:            ${info.nodes}`,
          `State etcd:       ${info.stateEtcd.endpoints.join(',')}`,
          `Clustermesh etcd: ${info.clustermeshEtcd ? info.clustermeshEtcd.endpoints.join(',') : 'not enabled (cmesh clustermesh enable --context ' + info.name + ')'}`,
          `Folder:           ${info.folders.cluster}`,
          `Processes:`,
          ...info.processes.map(
            (p) => `  ${p.role.padEnd(18)} ${p.running ? `running (pid ${p.pid})` : 'stopped'}  ${p.log}`,
          ),
        ].join('\n'),
      );
    });

  cmd
    .command('stop')
    .description('stop every process of a local cluster (its data stays; `cluster start` brings it back)')
    .argument('<name...>', 'one or more local clusters')
    .option('--kill', 'SIGKILL instead of a clean shutdown (to test failure handling)', false)
    .addHelpText('after', examples(['cmesh cluster stop east', 'cmesh cluster stop east west --kill']))
    .action(async (names, opts) => {
      const { loadCluster, stopClusterProcesses } = await localCluster();
      for (const name of names) {
        const { paths } = await loadCluster(name);
        await stopClusterProcesses(paths, { kill: opts.kill });
        console.log(`cluster "${name}" stopped`);
      }
    });

  cmd
    .command('start')
    .description('start whatever processes of a local cluster are not running')
    .argument('<name...>', 'one or more local clusters')
    .addHelpText('after', examples(['cmesh cluster start east', 'cmesh cluster start east west']))
    .action(async (names) => {
      const [{ loadCluster, startClusterProcesses }, { startClustermeshProcesses }] = await Promise.all([
        localCluster(),
        import('../mesh/clustermesh.js'),
      ]);
      for (const name of names) {
        const { record, paths } = await loadCluster(name);
        await startClusterProcesses(record, paths);
        if (record.clustermesh?.enabled) await startClustermeshProcesses(record, paths);
        console.log(`cluster "${name}" started`);
      }
    });

  cmd
    .command('delete')
    .description('stop every process of a local cluster and remove its folder')
    .argument('<name...>', 'one or more local clusters')
    .addHelpText('after', examples(['cmesh cluster delete east', 'cmesh cluster delete east west']))
    .action(async (names) => {
      const { deleteCluster } = await localCluster();
      for (const name of names) {
        await deleteCluster(name);
        console.log(`cluster "${name}" deleted`);
      }
    });

  cmd.command('names', { hidden: true }).action(async () => {
    const { listClusterNames } = await localCluster();
    console.log((await listClusterNames()).join('\n'));
  });

  return cmd;
}
