/** Parsers for daemon and CLI flag values: a wrong value is refused with the flag's name, never guessed at. */

export class FlagValueError extends Error {
  override name = 'FlagValueError';
}

/** `true` or `false` (any case). */
export function boolFlag(flag: string): (v: string) => boolean {
  return (v) => {
    const t = v.trim().toLowerCase();
    if (t === 'true') return true;
    if (t === 'false') return false;
    throw new FlagValueError(`${flag} must be true or false, got "${v}"`);
  };
}

/** A non-negative integer, in decimal. */
export function intFlag(flag: string): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v.trim())) throw new FlagValueError(`${flag} must be a non-negative integer, got "${v}"`);
    return Number(v);
  };
}
