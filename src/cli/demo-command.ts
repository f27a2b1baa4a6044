import { Command } from '@commander-js/extra-typings';
import { withProgress } from './progress.js';
import { timeoutOption } from './timeout-option.js';
import { emit, outputOption, table } from './output.js';
import { intFlag } from '../observe/flag-values.js';
import { examples } from './help.js';

export function demoCommand() {
  const cmd = new Command('demo')
    .summary('create 3 local clusters meshed with ClusterMesh, with a sample app')
    .description(
      'create 3 local clusters, connect them with ClusterMesh (mutual TLS, KVStoreMesh), deploy a sample app ' +
        'with a global service, wait for the mesh and show what every cluster sees; `cmesh demo down` removes it',
    )
    .option('--clusters <n>', 'number of clusters: 2..9', intFlag('--clusters'), 3)
    .option('--nodes <n>', 'nodes per cluster', intFlag('--nodes'), 2)
    .addOption(timeoutOption('10m', 'the whole demo to be up'))
    .addOption(outputOption())
    .addHelpText('after', examples(['cmesh demo', 'cmesh demo --clusters 2 --nodes 1', 'cmesh demo down']))
    .action(async (opts) => {
      if (opts.clusters < 2 || opts.clusters > 9) throw new Error(`--clusters must be 2..9, got ${opts.clusters}`);
      const { runDemo } = await import('../mesh/demo.js');
      const result = await withProgress(false, (step) =>
        runDemo(step, { clusters: opts.clusters, nodes: opts.nodes, deadline: Date.now() + opts.timeout }),
      );
      emit(opts.output, result, () => {
        const lines: string[] = [];
        lines.push(
          `ClusterMesh demo ready in ${result.seconds.toFixed(1)}s: ${result.clusters.map((c) => c.name).join(', ')}`,
        );
        lines.push('');
        lines.push('Cluster connections:');
        for (const s of result.status) {
          for (const r of s.remotes) {
            lines.push(
              `  ${s.cluster} -> ${r.cluster}: connected=${r.connected} ready=${r.ready} endpoints=${r.numEndpoints} identities=${r.numIdentities} nodes=${r.numNodes} services=${r.numSharedServices}`,
            );
          }
        }
        for (const v of result.backends) {
          lines.push('');
          lines.push(
            `Global service demo/echo as seen by ${v.cluster} (frontend ${v.frontend}, affinity ${v.affinity}):`,
          );
          lines.push(
            table(
              ['BACKEND', 'CLUSTER', 'STATE', 'SELECTED'],
              v.backends.map((b) => [b.address, b.cluster, b.state, b.selected ? 'yes' : 'no']),
            )
              .split('\n')
              .map((l) => `  ${l}`)
              .join('\n'),
          );
        }
        lines.push('');
        lines.push(
          'Try: cmesh clustermesh status --context cluster1 | cmesh service list --context cluster2 | cmesh demo down',
        );
        return lines.join('\n');
      });
    });

  cmd
    .command('down')
    .description("delete the demo's clusters")
    .addHelpText('after', examples(['cmesh demo down']))
    .action(async () => {
      const { demoDown } = await import('../mesh/demo.js');
      const deleted = await demoDown((s) => process.stderr.write(`${s}\n`));
      console.log(deleted.length ? `deleted ${deleted.join(', ')}` : 'no demo clusters to delete');
    });
  return cmd;
}
