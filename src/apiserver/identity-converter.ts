import type { CiliumIdentity } from '../k8s/types.js';
import { labelString, labelsFromMap, parseNumericIdentity } from '../wire/index.js';

export interface IdentityKv {
  id: number;
  /** The master key's value: the sorted label string. */
  labels: string;
}

/** CiliumIdentity -> `cilium/state/identities/v1/id/<id>` = label string. */
export function identityToKv(ci: CiliumIdentity): IdentityKv {
  const id = parseNumericIdentity(ci.metadata.name);
  return { id, labels: labelString(labelsFromMap(ci['security-labels'])) };
}
