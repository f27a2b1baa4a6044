import { Command } from '@commander-js/extra-typings';
import type { Check, TroubleshootReport } from '../mesh/troubleshoot.js';
import { contextOption } from './context.js';
import { examples } from './help.js';
import { emit, outputOption } from './output.js';

function line(c: Check, indent: string): string[] {
  const out = [`${indent}${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.message}`];
  if (!c.ok && c.hint) out.push(`${indent}     hint: ${c.hint}`);
  return out;
}

export function formatTroubleshootReport(r: TroubleshootReport): string {
  const lines = [`Cluster "${r.cluster}":`];
  for (const c of r.local) lines.push(...line(c, '  '));
  if (r.remotes.length === 0) lines.push('  no remote clusters configured');
  for (const d of r.remotes) {
    lines.push(`Remote "${d.remote}" (read by ${d.reader}, ${d.file}):`);
    for (const c of d.checks) lines.push(...line(c, '  '));
  }
  lines.push('', r.ok ? 'No problems found' : 'Problems found (see FAIL lines above)');
  return lines.join('\n');
}

export function troubleshootCommand() {
  const cmd = new Command('troubleshoot')
    .description('diagnose connectivity problems')
    .addHelpText('after', examples(['cmesh troubleshoot clustermesh --context east']));
  cmd
    .command('clustermesh')
    .description('check DNS, TCP, TLS, auth, cluster config and sync canaries for every remote cluster')
    .addOption(contextOption())
    .addOption(outputOption())
    .addHelpText(
      'after',
      examples([
        'cmesh troubleshoot clustermesh --context east',
        'cmesh troubleshoot clustermesh --context east -o json',
      ]),
    )
    .action(async (opts) => {
      const { troubleshootClustermesh } = await import('../mesh/troubleshoot.js');
      const report = await troubleshootClustermesh(opts.context);
      emit(opts.output, report, () => formatTroubleshootReport(report));
      if (!report.ok) process.exitCode = 1;
    });
  return cmd;
}
