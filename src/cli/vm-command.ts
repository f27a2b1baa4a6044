/** `cmesh clustermesh vm ...`: external workloads (VMs, bare-metal servers) of a local cluster. */
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { contextOption, withContext } from './context.js';
import { examples } from './help.js';
import { emit, outputOption, table } from './output.js';

// The VM code (object store, certificates) loads when a command runs, not with the command tree.
const vms = () => import('../mesh/vm.js');

export function vmCommand() {
  const vm = new Command('vm')
    .description('external workloads: VMs and bare-metal servers joined to a cluster')
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh vm create my-vm --context east --labels app=legacy',
        'cmesh clustermesh vm install install-my-vm.sh --context east',
        'cmesh clustermesh vm status --context east',
      ]),
    );

  vm.command('create')
    .description('create a CiliumExternalWorkload: the name a VM registers with')
    .argument('<name>', 'the workload name (the VM agent passes it as --vm-name)')
    .addOption(contextOption())
    .option('--ipv4-alloc-cidr <cidr>', 'stored in the CEW spec (unused, as in Cilium) (default: none)')
    .option(
      '--labels <labels>',
      "the workload's labels, k=v[,k=v...] (its identity and policy selectors) (default: none)",
    )
    .option('--namespace <ns>', "the workload's namespace (default: default)")
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh vm create my-vm --context east',
        'cmesh clustermesh vm create my-vm --context east --labels app=legacy,tier=db --namespace shop',
      ]),
    )
    .action(async (name, o) => {
      const { createVm, parseLabels } = await vms();
      await withContext(o.context, async (ctx) => {
        await createVm(ctx.state(), {
          name,
          ...(o.ipv4AllocCidr ? { ipv4AllocCidr: o.ipv4AllocCidr } : {}),
          ...(o.labels ? { labels: parseLabels(o.labels) } : {}),
          ...(o.namespace ? { namespace: o.namespace } : {}),
        });
        process.stdout.write(`ciliumexternalworkload/${name} created in cluster ${o.context}\n`);
      });
    });

  vm.command('delete')
    .description('delete a CiliumExternalWorkload (a registered VM loses its endpoint)')
    .argument('<name>', 'the workload name')
    .addOption(contextOption())
    .addHelpText('after', examples(['cmesh clustermesh vm delete my-vm --context east']))
    .action(async (name, o) => {
      const { deleteVm } = await vms();
      await withContext(o.context, async (ctx) => {
        await deleteVm(ctx.state(), name);
        process.stdout.write(`ciliumexternalworkload/${name} deleted\n`);
      });
    });

  vm.command('list')
    .description('list the CiliumExternalWorkloads of a cluster')
    .addOption(contextOption())
    .addOption(outputOption())
    .addHelpText('after', examples(['cmesh clustermesh vm list --context east']))
    .action(async (o) => {
      const { listVms } = await vms();
      await withContext(o.context, async (ctx) => {
        const items = await listVms(ctx.state());
        emit(o.output, items, () =>
          table(
            ['NAME', 'NAMESPACE', 'LABELS', 'IPV4-ALLOC-CIDR', 'IDENTITY', 'IP'],
            items.map((c) => [
              c.metadata.name,
              c.metadata.labels?.['io.kubernetes.pod.namespace'] ?? 'default',
              Object.entries(c.metadata.labels ?? {})
                .filter(([k]) => k !== 'io.kubernetes.pod.namespace')
                .map(([k, v]) => `${k}=${v}`)
                .join(','),
              c.spec?.['ipv4-alloc-cidr'] ?? '',
              c.status?.id ?? '',
              c.status?.ip ?? '',
            ]),
          ),
        );
      });
    });

  vm.command('status')
    .description('registration status of every workload (or one): registered or not, IP, identity, node, last seen')
    .argument('[name]', 'one workload (default: all of them)')
    .addOption(contextOption())
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh vm status --context east',
        'cmesh clustermesh vm status my-vm --context east -o json',
      ]),
    )
    .action(async (name, o) => {
      const { vmStatus } = await vms();
      await withContext(o.context, async (ctx) => {
        const st = await vmStatus(ctx.record, ctx.state(), name);
        emit(o.output, st, () => {
          const rows = st.workloads.map((w) => [
            w.name,
            w.registered ? 'yes' : 'no',
            w.state + (w.reason ? `: ${w.reason}` : ''),
            w.ip ?? '',
            w.identity ?? '',
            w.node ?? '',
            w.lastSeen ?? '',
          ]);
          const out = table(['NAME', 'REGISTERED', 'STATE', 'IP', 'IDENTITY', 'NODE', 'LAST SEEN'], rows);
          const refusals = st.workloads.flatMap((w) => w.refusals.map((r) => `  ${w.name} ${r.at}: ${r.reason}`));
          return (
            (st.apiserver ? '' : 'clustermesh-apiserver not reachable: showing the CEW status only\n') +
            out +
            (refusals.length > 0 ? `\nRefused registrations:\n${refusals.join('\n')}\n` : '')
          );
        });
      });
    });

  vm.command('install')
    .summary('write the install script that joins a VM to the cluster')
    .description(
      'write a self-contained install script (cluster endpoint, CA, externalworkload certificate); run it on the VM ' +
        'with --vm-ip IP [--vm-name NAME] [--dir DIR] to start `cmesh agent --external-workload` there',
    )
    .argument('<file>', 'where to write the script (it holds a private key: created 0700, never through a symlink)')
    .addOption(contextOption())
    .option('--force', 'replace an existing file at <file> (a symlink is refused even so)', false)
    .addHelpText(
      'after',
      examples([
        'cmesh clustermesh vm install install-my-vm.sh --context east',
        'cmesh clustermesh vm install install-my-vm.sh --context east --force',
      ]),
    )
    .action(async (file, o) => {
      const { writeInstallScript } = await vms();
      await withContext(o.context, async (ctx) => {
        await writeInstallScript(ctx.record, ctx.paths, path.resolve(file), { force: o.force });
        process.stdout.write(`wrote ${path.resolve(file)}: run it with --vm-ip IP [--vm-name NAME] [--dir DIR]\n`);
      });
    });

  return vm;
}
