/** Help pages: the examples every command shows after its options (test/cli/help.test.ts checks each page). */

/**
 * The text of an "Examples:" section, for `cmd.addHelpText('after', examples([...]))`. Each line is a complete
 * command, starting with `cmesh` and the path of the command it documents; a `  # comment` may follow it.
 */
export function examples(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`;
}
