import { Command } from '@commander-js/extra-typings';
import { agentCommand } from './agent-command.js';
import { apiserverCommand } from './apiserver-command.js';
import { kvstoremeshCommand } from './kvstoremesh-command.js';
import { operatorCommand } from './operator-command.js';
import { troubleshootCommand } from './troubleshoot-command.js';
import { agentViewCommands } from './agent-views.js';
import { clusterCommand } from './cluster-command.js';
import { clustermeshCommand } from './clustermesh-command.js';
import { connectivityCommand } from './connectivity-command.js';
import { policyCommand } from './policy-command.js';
import { demoCommand } from './demo-command.js';
import { kvstoreCommand } from './kvstore-command.js';
import { applyCommand, deleteCommand, getCommand } from './object-commands.js';
import { isClusterContextOption } from './context.js';
import { currentCluster } from './current-context.js';
import { examples } from './help.js';
import { kubeconfigCommand } from './kubeconfig-command.js';
import { cmeshVersion } from './version.js';

/** Builds the `cmesh` command tree. Each subcommand lives in its own file and registers itself here. */
export function buildProgram() {
  const program = new Command('cmesh')
    .description(
      'cmesh connects Kubernetes-style clusters into one network, the way Cilium ClusterMesh does. ' +
        'Each cluster publishes identities, endpoints, nodes and global services into its own etcd; ' +
        'the other clusters watch it and merge that state into load balancing, ipcache and policy.',
    )
    .summary('connect Kubernetes-style clusters into one network, as Cilium ClusterMesh does')
    .version(cmeshVersion(), '--version', 'print the cmesh version')
    .option('--verbose', 'on failure, also print the error details (causes, stack traces) for a bug report')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: true })
    .addHelpText(
      'after',
      examples([
        'cmesh demo                                  # three local clusters meshed, with a global service',
        'cmesh cluster create east --id 1',
        'cmesh cluster create west --id 2',
        'cmesh clustermesh enable --context east',
        'cmesh clustermesh enable --context west',
        'cmesh clustermesh connect --context east --destination-context west',
        'cmesh clustermesh status --context east --wait',
        'cmesh service list --context east',
      ]),
    );

  program
    .command('version')
    .description('print the cmesh version (and, with -o json, the runtime versions)')
    .option('-o, --output <format>', 'output format: text | json', 'text')
    .addHelpText('after', examples(['cmesh version', 'cmesh version -o json']))
    .action((opts) => {
      const info = { cmesh: cmeshVersion(), node: process.versions.node };
      if (opts.output === 'json') console.log(JSON.stringify(info, null, 2));
      else console.log(`cmesh ${info.cmesh} (node ${info.node})`);
    });

  // A command with a `--context` option that was not given talks to the current context's cluster.
  program.hook('preAction', (_program, action) => {
    if (!action.options.some((o) => isClusterContextOption(o))) return;
    if (action.getOptionValue('context') !== undefined) return;
    if (action.options.some((o) => o.attributeName() === 'apiSocket') && action.getOptionValue('apiSocket')) return;
    action.setOptionValue('context', currentCluster());
  });

  program.addCommand(clusterCommand());
  program.addCommand(clustermeshCommand());
  program.addCommand(demoCommand());
  program.addCommand(kubeconfigCommand());
  program.addCommand(policyCommand());
  program.addCommand(connectivityCommand());
  program.addCommand(applyCommand());
  program.addCommand(getCommand());
  program.addCommand(deleteCommand());
  program.addCommand(kvstoreCommand());
  program.addCommand(apiserverCommand());
  program.addCommand(agentCommand());
  program.addCommand(kvstoremeshCommand());
  program.addCommand(operatorCommand());
  program.addCommand(troubleshootCommand());
  for (const c of agentViewCommands()) program.addCommand(c);

  return program;
}
