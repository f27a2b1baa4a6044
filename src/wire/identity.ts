import { MalformedValueError } from './errors.js';
import { parseNumericIdentity } from './identity-layout.js';
import { labelString, parseLabelString, type Label } from './labels.js';

/**
 * Identity master keys: `cilium/state/identities/v1/id/<id>` holding the label string as plain text
 * (not JSON). Slave keys `.../value/<label string>/<node suffix>` hold the decimal id.
 */
export interface IdentityEntry {
  id: number;
  labels: Label[];
}

export function encodeIdentityLabels(labels: Iterable<Label>): string {
  return labelString(labels);
}

/** Parses a master key's value; an empty label set is rejected (Cilium never writes one). */
export function decodeIdentityLabels(bytes: string | Uint8Array): Label[] {
  const text =
    typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const labels = parseLabelString(text);
  if (labels.length === 0) throw new MalformedValueError(`identity value ${JSON.stringify(text)} holds no labels`);
  return labels;
}

/** Decodes a master key given its suffix (the part after `.../identities/v1/id/`) and value. */
export function decodeIdentityEntry(idSuffix: string, bytes: string | Uint8Array): IdentityEntry {
  return { id: parseNumericIdentity(idSuffix), labels: decodeIdentityLabels(bytes) };
}

/** A slave key's value: the decimal id. */
export function encodeIdentitySlaveValue(id: number): string {
  return String(id);
}
