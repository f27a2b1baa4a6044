/** The `--timeout <duration>` option of every command that waits, with its default shown in `--help`. */
import { Option } from '@commander-js/extra-typings';
import { parseDuration } from '../observe/duration.js';

export function timeoutOption(defaultText: string, what: string) {
  return new Option('--timeout <duration>', `how long to wait for ${what} before giving up (e.g. 90s, 5m)`)
    .default(parseDuration(defaultText), defaultText)
    .argParser((v) => parseDuration(v, '--timeout'));
}
