/**
 * Kubernetes name and label syntax rules (k8s.io/apimachinery/pkg/util/validation). Each check returns an error
 * message naming what is wrong, or undefined when the value is valid.
 */

const DNS1123_LABEL_MAX = 63;
const DNS1123_SUBDOMAIN_MAX = 253;
const DNS1035_LABEL_MAX = 63;
const QUALIFIED_NAME_MAX = 63;
const LABEL_VALUE_MAX = 63;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A namespace name, a port name's shape: lower-case alphanumerics and '-', at most 63. */
export function checkDns1123Label(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > DNS1123_LABEL_MAX) return `must be no more than ${DNS1123_LABEL_MAX} characters`;
  if (!DNS1123_LABEL.test(s))
    return `"${s}" must be a DNS-1123 label: lower-case alphanumerics or '-', starting and ending with an alphanumeric`;
  return undefined;
}

/** Most object names: DNS-1123 labels joined by dots, at most 253. */
export function checkDns1123Subdomain(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > DNS1123_SUBDOMAIN_MAX) return `must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`;
  if (!DNS1123_SUBDOMAIN.test(s))
    return `"${s}" must be a DNS-1123 subdomain: lower-case alphanumerics, '-' or '.', starting and ending with an alphanumeric`;
  return undefined;
}

/** Service names: like a DNS-1123 label but starting with a letter. */
export function checkDns1035Label(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > DNS1035_LABEL_MAX) return `must be no more than ${DNS1035_LABEL_MAX} characters`;
  if (!DNS1035_LABEL.test(s))
    return `"${s}" must be a DNS-1035 label: lower-case alphanumerics or '-', starting with a letter and ending with an alphanumeric`;
  return undefined;
}

/** Label and annotation keys: `[prefix/]name`, prefix a DNS-1123 subdomain, name up to 63 of [A-Za-z0-9-_.]. */
export function checkQualifiedName(s: string): string | undefined {
  const parts = s.split('/');
  let name = s;
  if (parts.length === 2) {
    const [prefix, n] = parts as [string, string];
    if (prefix.length === 0) return `"${s}": prefix part must not be empty`;
    const bad = checkDns1123Subdomain(prefix);
    if (bad) return `"${s}": prefix part ${bad}`;
    name = n;
  } else if (parts.length > 2) {
    return `"${s}" must be a qualified name: an optional DNS subdomain prefix and '/', then a name`;
  }
  if (name.length === 0) return `"${s}": name part must not be empty`;
  if (name.length > QUALIFIED_NAME_MAX)
    return `"${s}": name part must be no more than ${QUALIFIED_NAME_MAX} characters`;
  if (!QUALIFIED_NAME.test(name))
    return `"${s}": name part must consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`;
  return undefined;
}

/** Label values: empty, or up to 63 of [A-Za-z0-9-_.] starting and ending with an alphanumeric. */
export function checkLabelValue(s: string): string | undefined {
  if (s.length > LABEL_VALUE_MAX) return `"${s}" must be no more than ${LABEL_VALUE_MAX} characters`;
  if (!LABEL_VALUE.test(s))
    return `"${s}" must be a label value: empty, or alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`;
  return undefined;
}

/**
 * Cilium label keys may carry a source prefix (`k8s:app`, `any:io.kubernetes.pod.namespace`, `reserved:host`);
 * the part after the source is a qualified name.
 */
export function checkCiliumLabelKey(s: string): string | undefined {
  const colon = s.indexOf(':');
  if (colon > 0 && /^[a-z0-9-]+$/.test(s.slice(0, colon))) {
    const bad = checkQualifiedName(s.slice(colon + 1));
    return bad ? `"${s}": after the source prefix, ${bad}` : undefined;
  }
  return checkQualifiedName(s);
}
