import { createRequire } from 'node:module';
import type TableType from 'cli-table3';
import type { stringify as stringifyType } from 'yaml';
import { Option } from '@commander-js/extra-typings';

// The table and YAML libraries load on first use, not with the command tree: `cmesh --help` needs neither.
const require = createRequire(import.meta.url);
const yamlStringify = (data: unknown): string =>
  (require('yaml') as { stringify: typeof stringifyType }).stringify(data);
const newTable = (options: TableType.TableConstructorOptions): TableType.Table =>
  new (require('cli-table3') as typeof TableType)(options);

export type OutputFormat = 'text' | 'json' | 'yaml';

/** The shared `-o, --output` option: text for people, json/yaml for scripts. */
export function outputOption(): Option<'-o, --output <format>', undefined, 'text', OutputFormat> {
  return new Option('-o, --output <format>', 'output format: text | json | yaml')
    .choices(['text', 'json', 'yaml'] as const)
    .default('text' as const);
}

/** Prints `data` as JSON/YAML, or calls `text` to render it for people. */
export function emit(format: OutputFormat, data: unknown, text: () => string): void {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(yamlStringify(data));
  else {
    const out = text();
    process.stdout.write(out.endsWith('\n') ? out : out + '\n');
  }
}

export function table(head: string[], rows: (string | number)[][]): string {
  const t = newTable({
    head,
    style: { head: [], border: [], compact: true },
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '   ',
    },
  });
  for (const r of rows) t.push(r.map(String));
  return t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}
