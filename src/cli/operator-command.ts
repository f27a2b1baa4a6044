/** The `cmesh operator` command: its flags only; the operator's code loads when it runs (src/operator/main.ts). */
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { examples } from './help.js';

function portArg(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`must be a port number, got "${v}"`);
  return n;
}

/** The `cmesh operator` subcommand (started by `cmesh cluster create/start`; rarely run by hand). */
export function operatorCommand(): Command {
  return new Command('operator')
    .summary("run a local cluster's operator (started by `cmesh cluster create`; rarely run by hand)")
    .description(
      "run a local cluster's operator: node IPAM, pod scheduling and IPs, identities, CiliumEndpoints, EndpointSlices",
    )
    .requiredOption('--cluster-dir <dir>', 'folder of the local cluster (holds cluster.json)')
    .option(
      '--health-port <n>',
      '/healthz, /readyz and /metrics port on 127.0.0.1 (default: from cluster.json)',
      portArg,
    )
    .addHelpText(
      'after',
      examples([
        'cmesh operator --cluster-dir ~/.cmesh/clusters/east',
        'cmesh operator --cluster-dir ~/.cmesh/clusters/east --health-port 9890',
      ]),
    )
    .action(async (opts) => {
      const { runOperator } = await import('../operator/main.js');
      await runOperator({
        clusterDir: opts.clusterDir,
        ...(opts.healthPort !== undefined ? { healthPort: opts.healthPort } : {}),
      });
    });
}
