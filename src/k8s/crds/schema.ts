/**
 * The shapes of a CustomResourceDefinition and its structural OpenAPI v3 schema, with the field names exactly as
 * they go over the wire (`x-kubernetes-…`, `enum`): @kubernetes/client-node's generated models name those
 * differently (`xKubernetesIntOrString`, `_enum`), and these manifests are sent as plain JSON bodies. Plus the few
 * builders every CRD module uses, so that a schema reads like the YAML it stands for.
 */
import type { K8sObject } from '../types.js';

export interface ValidationRule {
  /** A CEL expression over `self` (and `oldSelf` for transition rules). */
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
}

/** A node of a structural schema (apiextensions.k8s.io/v1 JSONSchemaProps), wire names. */
export interface JsonSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema;
  items?: JsonSchema;
  required?: string[];
  enum?: (string | number)[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: ValidationRule[];
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema: { openAPIV3Schema: JsonSchema };
  subresources?: { status?: Record<string, never> };
  additionalPrinterColumns?: PrinterColumn[];
}

export interface CrdNames {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  categories?: string[];
}

export interface CustomResourceDefinition extends K8sObject {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  spec: {
    group: string;
    names: CrdNames;
    scope: 'Namespaced' | 'Cluster';
    versions: CrdVersion[];
  };
}

// ---- builders ----

type Extra = Omit<JsonSchema, 'type'>;

export const str = (description?: string, extra: Extra = {}): JsonSchema => ({
  type: 'string',
  ...(description ? { description } : {}),
  ...extra,
});

export const int = (description?: string, extra: Extra = {}): JsonSchema => ({
  type: 'integer',
  ...(description ? { description } : {}),
  ...extra,
});

export const bool = (description?: string): JsonSchema => ({
  type: 'boolean',
  ...(description ? { description } : {}),
});

export const arr = (items: JsonSchema, description?: string, extra: Extra = {}): JsonSchema => ({
  type: 'array',
  ...(description ? { description } : {}),
  items,
  ...extra,
});

/** An object with exactly these fields: anything else is pruned, or refused under strict field validation. */
export const obj = (properties: Record<string, JsonSchema>, description?: string, extra: Extra = {}): JsonSchema => ({
  type: 'object',
  ...(description ? { description } : {}),
  properties,
  ...extra,
});

/** A map with free keys and values of one schema (`map[string]T`). */
export const mapOf = (values: JsonSchema, description?: string): JsonSchema => ({
  type: 'object',
  ...(description ? { description } : {}),
  additionalProperties: values,
});

export const stringMap = (description?: string): JsonSchema => mapOf({ type: 'string' }, description);

/**
 * A subtree whose fields are not checked (kept as written). Only for parts cmesh neither reads nor writes, where a
 * full schema would copy a cloud provider's structure for nothing; never where a misspelt field must be refused.
 */
export const opaque = (description: string): JsonSchema => ({
  type: 'object',
  description,
  'x-kubernetes-preserve-unknown-fields': true,
});

/** Exactly one of `fields` must be set (the form Kubernetes accepts inside a structural schema). */
export const exactlyOneOf = (...fields: string[]): JsonSchema[] =>
  fields.map((f) => ({ properties: { [f]: {} }, required: [f] }));

/** The body every CRD root shares: apiVersion, kind and metadata, then the kind's own fields. */
export function rootSchema(description: string, properties: Record<string, JsonSchema>, extra: Extra = {}): JsonSchema {
  return {
    type: 'object',
    description,
    properties: {
      apiVersion: str('The versioned schema of this representation of an object.'),
      kind: str('The REST resource this object represents.'),
      metadata: { type: 'object' },
      ...properties,
    },
    ...extra,
  };
}

export interface CrdInput {
  group: string;
  version: string;
  names: Omit<CrdNames, 'listKind'>;
  scope: 'Namespaced' | 'Cluster';
  schema: JsonSchema;
  status?: boolean;
  printerColumns?: PrinterColumn[];
}

/** One served and stored version, as every CRD here has. */
export function crd(i: CrdInput): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${i.names.plural}.${i.group}` },
    spec: {
      group: i.group,
      names: { ...i.names, listKind: `${i.names.kind}List` },
      scope: i.scope,
      versions: [
        {
          name: i.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: i.schema },
          ...(i.status ? { subresources: { status: {} } } : {}),
          ...(i.printerColumns ? { additionalPrinterColumns: i.printerColumns } : {}),
        },
      ],
    },
  };
}

export const AGE_COLUMN: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
