/**
 * ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1, CEL) that refuse values Cilium's annotations do not
 * take, so that `kubectl apply` of a Service with `service.cilium.io/affinity: sideways` fails at once with a message
 * naming the annotation and the allowed values, instead of the apiserver and agents ignoring it later. The values
 * come from cilium-annotations.ts, the same lists cmesh's readers use.
 *
 * An update that keeps an annotation's value as it was is let through, so an object written before the policy
 * existed stays writable (the ratcheting Kubernetes applies to CRD schemas); changing the value checks it.
 */
import { NAMESPACE_ANNOTATION_VALUES, SERVICE_ANNOTATION_VALUES, type AnnotationValues } from './cilium-annotations.js';
import type { K8sObject } from './types.js';

export const SERVICE_ANNOTATIONS_POLICY = 'cmesh-cilium-service-annotations';
export const NAMESPACE_ANNOTATIONS_POLICY = 'cmesh-clustermesh-namespace-annotations';
const ADMISSION_API = 'admissionregistration.k8s.io/v1';

/** A CEL string literal. */
function cel(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

interface Validation {
  expression: string;
  messageExpression: string;
  message: string;
  reason: 'Invalid';
}

function allowedText(v: AnnotationValues): string {
  return `${v.values.join(', ')}${v.anyCase ? ' (any case)' : ''}`;
}

/** One validation per annotation name: absent, allowed, or unchanged by this update. */
function validation(name: string, v: AnnotationValues): Validation {
  const annotations = 'object.metadata.annotations';
  const old = 'oldObject.metadata.annotations';
  const key = cel(name);
  const value = `${annotations}[${key}]`;
  const allowed = [...(v.emptyAllowed ? [''] : []), ...v.values].map(cel).join(', ');
  const checked = v.anyCase ? `${value}.lowerAscii()` : value;
  const unchanged = `(oldObject != null && has(${old}) && ${key} in ${old} && ${old}[${key}] == ${value})`;
  return {
    expression: `!has(${annotations}) || !(${key} in ${annotations}) || ${checked} in [${allowed}] || ${unchanged}`,
    messageExpression:
      `${cel(`annotation ${name}: "`)} + ${value} + ` + cel(`" is not allowed; allowed values: ${allowedText(v)}`),
    message: `annotation ${name}: the value is not allowed; allowed values: ${allowedText(v)}`,
    reason: 'Invalid',
  };
}

function policy(name: string, resource: string, rules: readonly AnnotationValues[]): K8sObject[] {
  return [
    {
      apiVersion: ADMISSION_API,
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: [resource] },
          ],
        },
        validations: rules.flatMap((v) => v.names.map((n) => validation(n, v))),
      },
    },
    {
      apiVersion: ADMISSION_API,
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'] },
    },
  ];
}

/** The policies and their bindings. */
export function annotationPolicies(): K8sObject[] {
  return [
    ...policy(SERVICE_ANNOTATIONS_POLICY, 'services', SERVICE_ANNOTATION_VALUES),
    ...policy(NAMESPACE_ANNOTATIONS_POLICY, 'namespaces', NAMESPACE_ANNOTATION_VALUES),
  ];
}

/** An annotation each policy refuses, to check that the policy is in force. */
export const POLICY_PROBES: readonly { policy: string; resource: 'services' | 'namespaces'; annotation: string }[] = [
  { policy: SERVICE_ANNOTATIONS_POLICY, resource: 'services', annotation: SERVICE_ANNOTATION_VALUES[0]!.names[0]! },
  {
    policy: NAMESPACE_ANNOTATIONS_POLICY,
    resource: 'namespaces',
    annotation: NAMESPACE_ANNOTATION_VALUES[0]!.names[0]!,
  },
];
