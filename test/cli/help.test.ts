/**
 * Every help page of `cmesh` (issue 17): a one-line summary, every option's default, and examples that are real
 * commands of that page: the right command path, declared flags with acceptable values, the required arguments and
 * mandatory options.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CommandUnknownOpts, Option } from '@commander-js/extra-typings';
import { buildProgram } from '../../src/cli/program.js';

interface Page {
  path: string[];
  cmd: CommandUnknownOpts;
}

/** Every visible command, depth first (commander's implicit `help` command is not a page of its own). */
function pages(cmd: CommandUnknownOpts, path: string[] = [cmd.name()]): Page[] {
  const subs = cmd
    .createHelp()
    .visibleCommands(cmd)
    .filter((c) => c.name() !== 'help' || cmd.commands.includes(c));
  return [{ path, cmd }, ...subs.flatMap((c) => pages(c, [...path, c.name()]))];
}

/** The page as `cmesh ... --help` prints it, with the text added after it. */
function render(cmd: CommandUnknownOpts): string {
  let out = '';
  cmd.configureOutput({
    writeOut: (s) => (out += s),
    writeErr: (s) => (out += s),
    getOutHelpWidth: () => 200,
  });
  cmd.outputHelp();
  return out;
}

/** The lines of the "Examples:" section. */
function examplesOf(help: string): string[] {
  const at = help.indexOf('\nExamples:\n');
  if (at < 0) return [];
  const out: string[] = [];
  for (const line of help.slice(at + '\nExamples:\n'.length).split('\n')) {
    if (!line.startsWith('  ')) break;
    out.push(line.trim());
  }
  return out;
}

/** The words of an example as the shell passes them to cmesh: no comment, no redirection or pipe, quotes removed. */
function words(example: string): string[] {
  const noComment = example.split(/\s+#\s/)[0] ?? '';
  const out: string[] = [];
  for (const m of noComment.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) {
    const w = m[1] ?? m[2] ?? m[3] ?? '';
    if (m[3] !== undefined && ['>', '<', '|', '>>', '&&'].includes(w)) break;
    out.push(w);
  }
  return out;
}

function findOption(cmd: CommandUnknownOpts, flag: string): Option | undefined {
  return cmd.options.find((o) => o.long === flag || o.short === flag);
}

const HELP_FLAGS = new Set(['-h', '--help']);

/** Problems of one example of `page`; none when it is a command cmesh would accept on that page. */
function checkExample(program: CommandUnknownOpts, page: Page, example: string): string[] {
  const w = words(example);
  if (w[0] !== 'cmesh') return [`does not start with "cmesh "`];
  // Follow the words that name subcommands.
  let cmd = program;
  const path = ['cmesh'];
  let i = 1;
  for (; i < w.length; i++) {
    const sub = cmd.commands.find((c) => c.name() === w[i] || c.aliases().includes(w[i] ?? ''));
    if (!sub) break;
    cmd = sub;
    path.push(sub.name());
  }
  const prefix = page.path.join(' ');
  if (path.join(' ') !== prefix && !path.join(' ').startsWith(prefix + ' ')) {
    return [`runs "${path.join(' ')}", not "${prefix}" or one of its subcommands`];
  }
  const problems: string[] = [];
  const positionals: string[] = [];
  const used = new Set<Option>();
  let help = false;
  for (; i < w.length; i++) {
    const word = w[i] ?? '';
    if (!word.startsWith('-') || word === '-') {
      positionals.push(word);
      continue;
    }
    const [flag = '', inline] = word.includes('=')
      ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]
      : [word];
    if (HELP_FLAGS.has(flag) || (cmd === program && flag === '--version')) {
      help = true;
      continue;
    }
    const opt = findOption(cmd, flag);
    if (!opt) {
      problems.push(`"${path.join(' ')}" has no option ${flag}`);
      continue;
    }
    used.add(opt);
    if (!opt.required && !opt.optional) continue;
    const value = inline ?? w[++i];
    if (value === undefined) {
      if (opt.required) problems.push(`${flag} needs a value`);
      continue;
    }
    if (opt.argChoices && !opt.argChoices.includes(value))
      problems.push(`${flag} ${value}: not one of ${opt.argChoices.join(', ')}`);
    if (opt.parseArg) {
      try {
        opt.parseArg(value, undefined);
      } catch (err) {
        problems.push(`${flag} ${value}: ${(err as Error).message}`);
      }
    }
  }
  if (help) return problems;
  const args = cmd.registeredArguments;
  const required = args.filter((a) => a.required).length;
  if (positionals.length < required) problems.push(`needs ${required} argument(s), has ${positionals.length}`);
  if (!args.some((a) => a.variadic) && positionals.length > args.length) {
    problems.push(`takes ${args.length} argument(s), has ${positionals.length}: ${positionals.join(' ')}`);
  }
  for (const o of cmd.options) {
    if (o.mandatory && !used.has(o)) problems.push(`misses the mandatory ${o.long ?? o.flags}`);
  }
  return problems;
}

describe('cmesh help pages', () => {
  const program = buildProgram() as unknown as CommandUnknownOpts;
  const all = pages(program);

  it('covers the whole command tree', () => {
    assert.ok(all.length >= 55, `expected the whole tree (about 60 pages), walked ${all.length}`);
    for (const p of ['cmesh cluster create', 'cmesh bpf ipcache list', 'cmesh clustermesh vm install', 'cmesh agent'])
      assert.ok(
        all.some((x) => x.path.join(' ') === p),
        `${p} is one of the pages walked`,
      );
  });

  it('every page has a one-line summary', () => {
    const bad: string[] = [];
    for (const { path, cmd } of all) {
      // What the parent's command list shows: the summary, else the whole description.
      const listed = cmd.summary() || cmd.description();
      if (listed.trim() === '' || (path.length > 1 && listed.includes('\n'))) bad.push(path.join(' '));
    }
    assert.deepEqual(bad, [], `pages without a one-line summary (set .summary() where the description is long)`);
  });

  it('every option shows its default, or is mandatory', () => {
    const bad: string[] = [];
    for (const { path, cmd } of all) {
      for (const o of cmd.options) {
        const takesValue = o.required || o.optional;
        if (!takesValue && !o.negate) continue; // a plain flag: off unless given
        if (o.hidden) continue; // an alias kept for scripts, not on the help page
        const shown =
          (o.defaultValue !== undefined && takesValue) || /\((?:.*; )?default:|\(required/.test(o.description);
        if (!shown && !o.mandatory) bad.push(`${path.join(' ')} ${o.flags}`);
      }
    }
    assert.deepEqual(bad, [], 'options whose default the help page does not show');
  });

  it('every page has examples, each a real command of that page', () => {
    const missing: string[] = [];
    const problems: string[] = [];
    for (const page of all) {
      const help = render(page.cmd);
      const ex = examplesOf(help);
      if (!ex.some((l) => l.startsWith('cmesh '))) missing.push(page.path.join(' '));
      for (const e of ex) {
        for (const p of checkExample(program, page, e)) problems.push(`${page.path.join(' ')}: "${e}": ${p}`);
      }
    }
    assert.deepEqual(missing, [], 'pages without an "Examples:" section of cmesh commands');
    assert.deepEqual(problems, [], 'examples that cmesh would not accept as written');
  });

  it('the example check catches a wrong flag, a wrong command path and a missing mandatory option', () => {
    const page = all.find((p) => p.path.join(' ') === 'cmesh cluster create');
    assert.ok(page, 'cluster create is a page');
    assert.deepEqual(checkExample(program, page, 'cmesh cluster create east --id 1'), [], 'a good example passes');
    assert.equal(checkExample(program, page, 'cmesh cluster create east --id 1 --colour').length, 1, 'unknown flag');
    assert.equal(checkExample(program, page, 'cmesh cluster list').length, 1, 'another command');
    assert.equal(checkExample(program, page, 'cmesh cluster create east').length, 1, 'no --id');
    assert.equal(checkExample(program, page, 'cmesh cluster create east --id one').length, 1, 'bad --id value');
  });
});
