import { Command } from '@commander-js/extra-typings';
import { emit, outputOption, table } from './output.js';
import { intFlag } from '../observe/flag-values.js';
import { examples } from './help.js';

/** Progress on stderr: a spinner on a terminal, plain lines otherwise (CI logs, scripts). */
async function progressReporter(): Promise<{ step: (s: string) => void; done: (ok: boolean) => void }> {
  if (process.stderr.isTTY) {
    const { default: ora } = await import('ora');
    const spinner = ora({ stream: process.stderr });
    let started = false;
    return {
      step: (s) => {
        if (started) spinner.succeed();
        spinner.start(s);
        started = true;
      },
      done: (ok) => {
        if (!started) return;
        if (ok) spinner.succeed();
        else spinner.fail();
      },
    };
  }
  const t0 = Date.now();
  return {
    step: (s) => {
      process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}\n`);
    },
    done: () => undefined,
  };
}

export function demoCommand() {
  const cmd = new Command('demo')
    .summary('create 3 local clusters meshed with ClusterMesh, with a sample app')
    .description(
      'create 3 local clusters, connect them with ClusterMesh (mutual TLS, KVStoreMesh), deploy a sample app ' +
        'with a global service, wait for the mesh and show what every cluster sees; `cmesh demo down` removes it',
    )
    .option('--clusters <n>', 'number of clusters: 2..9', intFlag('--clusters'), 3)
    .option('--nodes <n>', 'nodes per cluster', intFlag('--nodes'), 2)
    .addOption(outputOption())
    .addHelpText('after', examples(['cmesh demo', 'cmesh demo --clusters 2 --nodes 1', 'cmesh demo down']))
    .action(async (opts) => {
      if (opts.clusters < 2 || opts.clusters > 9) throw new Error(`--clusters must be 2..9, got ${opts.clusters}`);
      const { runDemo } = await import('../mesh/demo.js');
      const progress = await progressReporter();
      let result;
      try {
        result = await runDemo(progress.step, { clusters: opts.clusters, nodes: opts.nodes });
        progress.done(true);
      } catch (err) {
        progress.done(false);
        throw err;
      }
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
