/** Go-style durations for flags: `0`, `500ms`, `30s`, `1m`, `1m30s`, `2h`. */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;

export class DurationError extends Error {
  override name = 'DurationError';
}

export function parseDuration(text: string, flag = 'duration'): number {
  const s = text.trim();
  if (s === '0') return 0;
  let total = 0;
  PART.lastIndex = 0;
  let matched = 0;
  for (let m = PART.exec(s); m; m = PART.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = PART.lastIndex;
  }
  if (s === '' || matched !== s.length) {
    throw new DurationError(`${flag} must be a duration such as 0, 500ms, 30s, 1m or 1h30m; got "${text}"`);
  }
  return Math.round(total);
}
