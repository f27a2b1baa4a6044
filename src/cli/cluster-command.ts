import { Command } from '@commander-js/extra-typings';
import {
  DEFAULT_NODES,
  DEFAULT_POD_CIDR_TEMPLATE,
  DEFAULT_SERVICE_CIDR_TEMPLATE,
  MAX_NODES,
  MIN_NODES,
} from '../mesh/cluster-defaults.js';
import { deadlineIn } from '../mesh/steps.js';
import { emit, outputOption, table } from './output.js';
import { withProgress } from './progress.js';
import { timeoutOption } from './timeout-option.js';
import { intFlag } from '../observe/flag-values.js';
import { examples } from './help.js';

// The clusters' code loads when a command runs, not with the command tree (`cmesh --help` stays fast).
const localCluster = () => import('../mesh/local-cluster.js');
const clusterDelete = () => import('../mesh/cluster-delete.js');

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
    .option(
      '--pod-cidr <cidr>',
      `pod CIDR; must not overlap any other cluster's pod or service CIDR, as addresses or on loopback (default: ${DEFAULT_POD_CIDR_TEMPLATE}, for IDs 1-255). ` +
        'The datapath serves pod IPs in 10.0.0.0/8 on loopback (10.a.b.c on 127.a.b.c) and loopback pod IPs as they are; ' +
        'other ranges only with --nodes 0',
    )
    .option(
      '--service-cidr <cidr>',
      `service (ClusterIP) CIDR; must not overlap any other cluster's ranges (default: ${DEFAULT_SERVICE_CIDR_TEMPLATE}, for IDs 1-255). ` +
        'Frontends get sockets only inside 127.0.0.0/8',
    )
    .option(
      '--nodes <k>',
      `number of nodes, ${MIN_NODES}-${MAX_NODES}: each gets a /24 of the pod CIDR and an agent; 0 makes a control-plane-only cluster (no agents, no pods run)`,
      intFlag('--nodes'),
      DEFAULT_NODES,
    )
    .option(
      '--max-connected-clusters <n>',
      '255 or 511: how identity bits are split between cluster ID and identity',
      intFlag('--max-connected-clusters'),
      255,
    )
    .addOption(timeoutOption('2m', 'the cluster to start'))
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh cluster create east --id 1',
        'cmesh cluster create west --id 2 --nodes 3',
        'cmesh cluster create lab --id 300 --max-connected-clusters 511 --pod-cidr 10.200.0.0/17 --service-cidr 127.200.128.0/17',
        'cmesh cluster create remote-like --id 5 --nodes 0 --pod-cidr 192.168.0.0/16 --service-cidr 172.20.0.0/16',
      ]),
    )
    .action(async (name, opts) => {
      const { createCluster, plural } = await localCluster();
      const rec = await withProgress(opts.output !== 'text', (onStep) =>
        createCluster(
          {
            name,
            id: opts.id,
            nodes: opts.nodes,
            maxConnectedClusters: opts.maxConnectedClusters,
            ...(opts.podCidr ? { podCidr: opts.podCidr } : {}),
            ...(opts.serviceCidr ? { serviceCidr: opts.serviceCidr } : {}),
          },
          undefined,
          { onStep, deadline: deadlineIn(opts.timeout) },
        ),
      );
      emit(
        opts.output,
        rec,
        () =>
          `cluster "${rec.name}" created (ID ${rec.id}, pod CIDR ${rec.podCidr}, service CIDR ${rec.serviceCidr}, ${plural(rec.nodes, 'node')})`,
      );
    });

  cmd
    .command('list')
    .description('list local clusters, with their state (running, stopped or degraded)')
    .addOption(outputOption())
    .addHelpText('after', examples(['cmesh cluster list', 'cmesh cluster list -o json']))
    .action(async (opts) => {
      const [{ loadAllClusters, processStates, runState }, { clusterPaths }] = await Promise.all([
        localCluster(),
        import('../mesh/home.js'),
      ]);
      const rows: {
        name: string;
        id: number;
        podCidr: string;
        serviceCidr: string;
        nodes: number;
        clustermesh: boolean;
        state: string;
        processes: string;
      }[] = [];
      for (const r of await loadAllClusters()) {
        const procs = await processStates(r, clusterPaths(r.name));
        rows.push({
          name: r.name,
          id: r.id,
          podCidr: r.podCidr,
          serviceCidr: r.serviceCidr,
          nodes: r.nodes,
          clustermesh: r.clustermesh?.enabled ?? false,
          state: runState(procs),
          processes: `${procs.filter((p) => p.running).length}/${procs.length}`,
        });
      }
      emit(opts.output, rows, () =>
        rows.length === 0
          ? 'no local clusters; create one with `cmesh cluster create NAME --id N`'
          : table(
              ['NAME', 'ID', 'POD CIDR', 'SERVICE CIDR', 'NODES', 'CLUSTERMESH', 'STATE', 'PROCESSES'],
              rows.map((r) => [
                r.name,
                r.id,
                r.podCidr,
                r.serviceCidr,
                r.nodes,
                r.clustermesh ? 'enabled' : 'disabled',
                r.state,
                r.state === 'stopped' ? '-' : `${r.processes} running`,
              ]),
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
      const [{ inspectCluster }, { roleName }] = await Promise.all([localCluster(), import('../mesh/running.js')]);
      const info = await inspectCluster(name);
      emit(opts.output, info, () =>
        [
          `Cluster:          ${info.name} (ID ${info.id}, max connected clusters ${info.maxConnectedClusters})`,
          `Pod CIDR:         ${info.podCidr}`,
          `Service CIDR:     ${info.serviceCidr}`,
          `Nodes:            ${info.nodes}`,
          `State:            ${info.state}${info.state === 'running' ? '' : ` (start it with \`cmesh cluster start ${info.name}\`)`}`,
          `State etcd:       ${info.stateEtcd.endpoints.join(',')}`,
          `Clustermesh etcd: ${info.clustermeshEtcd ? info.clustermeshEtcd.endpoints.join(',') : 'not enabled (cmesh clustermesh enable --context ' + info.name + ')'}`,
          `Folder:           ${info.folders.cluster}`,
          `Processes:`,
          ...info.processes.map(
            (p) =>
              `  ${roleName(p.role).padEnd(28)} ${p.running ? `running (pid ${p.pid})`.padEnd(20) : 'stopped'.padEnd(20)} ${p.log}`,
          ),
        ].join('\n'),
      );
    });

  cmd
    .command('stop')
    .description('stop every process of local clusters (their data stays; `cluster start` brings them back)')
    .argument('<name...>', 'one or more local clusters')
    .option('--kill', 'SIGKILL instead of a clean shutdown (to test failure handling)', false)
    .addHelpText('after', examples(['cmesh cluster stop east', 'cmesh cluster stop east west --kill']))
    .action(async (names, opts) => {
      const [{ loadCluster, stopClusterProcesses }, { requireClusters }] = await Promise.all([
        localCluster(),
        clusterDelete(),
      ]);
      await requireClusters(names);
      for (const name of names) {
        const { paths } = await loadCluster(name);
        await stopClusterProcesses(paths, { kill: opts.kill });
        console.log(`cluster "${name}" stopped`);
      }
    });

  cmd
    .command('start')
    .description('start whatever processes of local clusters are not running, and wait until they answer')
    .argument('<name...>', 'one or more local clusters')
    .addOption(timeoutOption('2m', 'each cluster to start'))
    .addHelpText('after', examples(['cmesh cluster start east', 'cmesh cluster start east west --timeout 5m']))
    .action(async (names, opts) => {
      const [{ loadCluster, startClusterProcesses }, { startClustermeshProcesses }, { requireClusters }] =
        await Promise.all([localCluster(), import('../mesh/clustermesh.js'), clusterDelete()]);
      await requireClusters(names);
      for (const name of names) {
        const { record, paths } = await loadCluster(name);
        await withProgress(false, async (onStep) => {
          const steps = { onStep, deadline: deadlineIn(opts.timeout) };
          await startClusterProcesses(record, paths, steps);
          if (record.clustermesh?.enabled) await startClustermeshProcesses(record, paths, steps);
        });
        console.log(`cluster "${name}" started`);
      }
    });

  cmd
    .command('delete')
    .description(
      'stop every process of local clusters and remove their folders; a cluster connected to other local clusters is disconnected from them first',
    )
    .argument('<name...>', 'one or more local clusters')
    .addHelpText('after', examples(['cmesh cluster delete east', 'cmesh cluster delete east west']))
    .action(async (names) => {
      const { deleteClusters } = await clusterDelete();
      const deleted = await withProgress(false, (onStep) => deleteClusters(names, undefined, onStep));
      for (const d of deleted) {
        console.log(
          `cluster "${d.name}" deleted` +
            (d.disconnected.length > 0 ? ` (disconnected from ${d.disconnected.join(', ')} first)` : ''),
        );
      }
    });

  cmd.command('names', { hidden: true }).action(async () => {
    const { listClusterNames } = await localCluster();
    console.log((await listClusterNames()).join('\n'));
  });

  return cmd;
}
