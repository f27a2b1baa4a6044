/** `cmesh connectivity test`: parses flags, shows progress and prints the report of src/mesh/connectivity.ts. */
import { Command } from '@commander-js/extra-typings';
import {
  ConnectivityError,
  DEFAULT_CONNECTIVITY_TIMEOUT_MS,
  formatReport,
  runMultiClusterTest,
} from '../mesh/connectivity.js';
import { emit, outputOption } from './output.js';
import { progressReporter } from './progress.js';
import { timeoutOption } from './timeout-option.js';

export function connectivityCommand() {
  const test = new Command('test')
    .description(
      'send real requests across local clusters and report per check: pod to global service, affinity\n' +
        'local/remote, policy allow/deny, and failover (with --include-failover); exits 1 when a check fails',
    )
    .option('--multi-cluster', 'test between two clusters (the only mode so far)')
    .requiredOption('--context <name>', 'the source cluster (its client pods call the global service)')
    .requiredOption('--destination-context <name>', 'the other cluster of the mesh')
    .option('--include-failover', "also stop the destination's clustermesh etcd and check failover to local backends")
    .option('--keep', 'leave the sample app in place')
    .addOption(timeoutOption(`${DEFAULT_CONNECTIVITY_TIMEOUT_MS / 60_000}m`, 'the whole test'))
    .addOption(outputOption())
    .action(async (o) => {
      if (!o.multiCluster) throw new ConnectivityError('only --multi-cluster is supported');
      const progress = await progressReporter({ quiet: o.output !== 'text' });
      const report = await runMultiClusterTest({
        source: o.context,
        destination: o.destinationContext,
        includeFailover: o.includeFailover === true,
        keep: o.keep === true,
        timeoutMs: o.timeout,
        onStep: (s) => {
          progress.step(s);
        },
      }).catch((err: unknown) => {
        progress.done(false);
        throw err;
      });
      progress.done(report.passed);
      emit(o.output, report, () => formatReport(report));
      if (!report.passed) process.exitCode = 1;
    });
  return new Command('connectivity')
    .description('end-to-end checks of the mesh (as cilium connectivity)')
    .addCommand(test);
}
