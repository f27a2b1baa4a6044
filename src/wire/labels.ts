import { compareGoStrings } from './json-encode.js';

/**
 * Cilium security labels: `source:key=value`. A set of labels is keyed by `key` (one label per key) and is
 * written to the kvstore as its sorted list: every label as `source:key=value;`, ordered by key, concatenated.
 */

export interface Label {
  source: string;
  key: string;
  value: string;
}

export const LabelSource = {
  Unspec: 'unspec',
  Any: 'any',
  K8s: 'k8s',
  Container: 'container',
  Reserved: 'reserved',
  Cidr: 'cidr',
  CiliumGenerated: 'cilium-generated',
} as const;

/** Every identity carries this label naming its cluster. */
export const CLUSTER_LABEL = 'io.cilium.k8s.policy.cluster';
export const NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
export const SERVICE_ACCOUNT_LABEL = 'io.cilium.k8s.policy.serviceaccount';

const RESERVED_KEY_PREFIX = LabelSource.Reserved + '.';

/** Splits the source off `str` as Cilium's parseSource does (`$host` and `reserved.x` are reserved). */
function parseSource(str: string): [source: string, rest: string] {
  if (str === '') return ['', ''];
  if (str.startsWith('$')) return [LabelSource.Reserved, str.slice(1)];
  const i = str.indexOf(':');
  if (i < 0) {
    if (str.startsWith(RESERVED_KEY_PREFIX)) return [LabelSource.Reserved, str.slice(RESERVED_KEY_PREFIX.length)];
    return ['', str];
  }
  return [str.slice(0, i), str.slice(i + 1)];
}

/** Parses `[source:]key[=value]` with Cilium's semantics: no source means `unspec`; `reserved:=x` means key x. */
export function parseLabel(str: string): Label {
  const [src, next] = parseSource(str);
  const source = src === '' ? LabelSource.Unspec : src;
  const i = next.indexOf('=');
  if (i < 0) return { source, key: next, value: '' };
  if (i === 0 && src === LabelSource.Reserved) return { source, key: next.slice(1), value: '' };
  return { source, key: next.slice(0, i), value: next.slice(i + 1) };
}

/** The human form: `source:key=value`, or `source:key` when the value is empty. */
export function formatLabel(l: Label): string {
  return l.value === '' ? `${l.source}:${l.key}` : `${l.source}:${l.key}=${l.value}`;
}

/** One label as it appears in the kvstore label string: always `source:key=value;`. */
export function formatLabelForKVStore(l: Label): string {
  return `${l.source}:${l.key}=${l.value};`;
}

/** Normalises a set of labels: one per key (the last wins), sorted by key in Go's byte order. */
export function sortLabels(labels: Iterable<Label>): Label[] {
  const byKey = new Map<string, Label>();
  for (const l of labels) if (l.key !== '') byKey.set(l.key, l);
  return [...byKey.values()].sort((a, b) => compareGoStrings(a.key, b.key));
}

/** The kvstore label string (the identity master key's value and the slave key's path segment). */
export function labelString(labels: Iterable<Label>): string {
  let out = '';
  for (const l of sortLabels(labels)) out += formatLabelForKVStore(l);
  return out;
}

/** Parses a label string back into sorted labels, ignoring empty entries as Cilium does. */
export function parseLabelString(list: string): Label[] {
  return sortLabels(list.split(';').map(parseLabel));
}

/** Labels from their string forms (`k8s:app=web`, CiliumEndpoint/CiliumIdentity style). */
export function labelsFromModel(model: Iterable<string>): Label[] {
  return sortLabels([...model].map(parseLabel));
}

/**
 * Labels from a map of `source:key` -> value (CiliumIdentity `security-labels`). A key without a source
 * gets `defaultSource` (Cilium's Map2Labels with an empty source yields `unspec`).
 */
export function labelsFromMap(
  map: Readonly<Record<string, string>>,
  defaultSource: string = LabelSource.Unspec,
): Label[] {
  const out: Label[] = [];
  for (const [k, value] of Object.entries(map)) {
    const [src, key] = parseSource(k);
    out.push({ source: src === '' ? defaultSource : src, key, value });
  }
  return sortLabels(out);
}

/** The cluster named by the `k8s:io.cilium.k8s.policy.cluster` label, if any. */
export function clusterOfLabels(labels: Iterable<Label>): string | undefined {
  for (const l of labels) if (l.key === CLUSTER_LABEL && l.source === LabelSource.K8s) return l.value;
  return undefined;
}
