/** Schema pieces the MCS API's CRDs (sigs.k8s.io/mcs-api v0.4, multicluster.x-k8s.io/v1alpha1) share. */
import { arr, int, obj, str, type JsonSchema } from './schema.js';

export const MCS_GROUP = 'multicluster.x-k8s.io';
export const MCS_VERSION = 'v1alpha1';

/** metav1.Condition: one aspect of the current state, keyed by type. */
export function conditions(description?: string): JsonSchema {
  return arr(
    obj(
      {
        lastTransitionTime: str('When the condition last changed status.', { format: 'date-time' }),
        message: str('Human-readable details; may be empty.', { maxLength: 32768 }),
        observedGeneration: int('The metadata.generation the condition was set for.', {
          format: 'int64',
          minimum: 0,
        }),
        reason: str('A CamelCase reason for the last transition.', {
          minLength: 1,
          maxLength: 1024,
          pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
        }),
        status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
        type: str('The condition type, CamelCase or foo.example.com/CamelCase.', {
          maxLength: 316,
          pattern:
            '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
        }),
      },
      'One aspect of the current state.',
      { required: ['lastTransitionTime', 'message', 'reason', 'status', 'type'] },
    ),
    description,
    { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
  );
}
