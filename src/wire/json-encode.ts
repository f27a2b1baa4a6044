/**
 * String-building helpers that reproduce Go's encoding/json output byte for byte: map keys sorted by their
 * UTF-8 bytes, and `<`, `>`, `&`, U+2028, U+2029 escaped as \u00XX as Go's HTML-safe encoder does.
 */

const GO_EXTRA_ESCAPES = /[<>&\u2028\u2029]/;
const GO_EXTRA_ESCAPES_GLOBAL = /[<>&\u2028\u2029]/g;

function escapeExtra(ch: string): string {
  return '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0');
}

/** A JSON string literal exactly as Go's json.Marshal writes it. */
export function goString(s: string): string {
  // Most strings (names, IPs, labels) are printable ASCII needing no escape: quoted as they are, which is several
  // times cheaper than JSON.stringify plus the escape scan (this runs ~10 times per ipcache value).
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 /* " */ || c === 0x5c /* \ */ || c === 0x3c || c === 0x3e || c === 0x26) {
      return escapedGoString(s);
    }
  }
  return '"' + s + '"';
}

function escapedGoString(s: string): string {
  const json = JSON.stringify(s);
  return GO_EXTRA_ESCAPES.test(json) ? json.replace(GO_EXTRA_ESCAPES_GLOBAL, escapeExtra) : json;
}

// eslint-disable-next-line no-control-regex
const ASCII_ONLY = /^[\x00-\x7f]*$/;

/**
 * Go compares strings byte-wise (UTF-8); JavaScript compares UTF-16 code units. The two orders differ only
 * for characters above U+FFFF against U+E000..U+FFFF, so the ASCII fast path is exact.
 */
export function compareGoStrings(a: string, b: string): number {
  if (ASCII_ONLY.test(a) && ASCII_ONLY.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function sortedKeys(m: object): string[] {
  return Object.keys(m).sort(compareGoStrings);
}

/**
 * A Go map[string]string. `emptyAs` says what Cilium writes for an empty map: `null` for a nil map
 * (Node labels) or `{}` for an initialised one (ClusterService labels).
 */
export function goStringMap(m: Readonly<Record<string, string>> | null | undefined, emptyAs: 'null' | '{}'): string {
  return goMap(m, emptyAs, goString);
}

/** A Go map with arbitrary values, each encoded by `enc`. */
export function goMap<V>(
  m: Readonly<Record<string, V>> | null | undefined,
  emptyAs: 'null' | '{}',
  enc: (v: V) => string,
): string {
  if (!m) return emptyAs;
  const keys = sortedKeys(m);
  if (keys.length === 0) return emptyAs;
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (i > 0) out += ',';
    out += goString(k) + ':' + enc(m[k]!);
  }
  return out + '}';
}

/** A Go slice: `null` when nil, `[...]` otherwise. */
export function goSlice<V>(list: readonly V[] | null | undefined, enc: (v: V) => string): string {
  if (!list) return 'null';
  let out = '[';
  for (let i = 0; i < list.length; i++) {
    if (i > 0) out += ',';
    out += enc(list[i]!);
  }
  return out + ']';
}
