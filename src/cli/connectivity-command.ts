/** `cmesh connectivity test`: parses flags, shows progress and prints the report of src/mesh/connectivity.ts. */
import { contextOption } from './context.js';
import { clusterOfContext } from '../mesh/kube-contexts.js';
import { Command } from '@commander-js/extra-typings';
import { examples } from './help.js';
import { emit, outputOption } from './output.js';
import { progressReporter } from './progress.js';
import { timeoutOption } from './timeout-option.js';

/** The whole test, failover included, normally takes well under a minute. */
const DEFAULT_TIMEOUT = '5m';

export function connectivityCommand() {
  const test = new Command('test')
    .summary('send real requests across two local clusters and report per check')
    .description(
      'send real requests across local clusters and report per check: pod to global service, affinity ' +
        'local/remote, policy allow/deny, and failover (with --include-failover); exits 1 when a check fails',
    )
    .option('--multi-cluster', 'test between two clusters (the only mode so far)')
    .addOption(contextOption())
    .requiredOption(
      '--destination-context <name>',
      'the other cluster of the mesh (`west` or `cmesh-west`)',
      clusterOfContext,
    )
    .option('--include-failover', "also stop the destination's clustermesh etcd and check failover to local backends")
    .option('--keep', 'leave the sample app in place')
    .addOption(timeoutOption(DEFAULT_TIMEOUT, 'the whole test'))
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh connectivity test --multi-cluster --context east --destination-context west',
        'cmesh connectivity test --multi-cluster --context east --destination-context west --include-failover',
        'cmesh connectivity test --multi-cluster --context east --destination-context west --timeout 2m -o json',
      ]),
    )
    .action(async (o) => {
      const { ConnectivityError, formatReport, runMultiClusterTest } = await import('../mesh/connectivity.js');
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
    .addHelpText(
      'after',
      examples(['cmesh connectivity test --multi-cluster --context east --destination-context west']),
    )
    .addCommand(test);
}
