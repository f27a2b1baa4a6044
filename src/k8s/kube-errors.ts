/**
 * Errors of the Kubernetes API as cmesh reports them. The API answers a failed request with a `Status` object
 * (reason, message, causes); these classes carry it, and objectError() turns one about an object into the error
 * classes the object store throws (NotFoundError, AlreadyExistsError, ConflictError, ValidationError), so that
 * callers handle both sources alike.
 */
import { AlreadyExistsError, ConflictError, NotFoundError, ObjectError } from './errors.js';
import { describeObject, ValidationError, type FieldIssue, type ObjectIdentity } from './validation-error.js';

/** A cause of an Invalid status: which field, and what is wrong with it. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** The API's error body (metav1.Status). */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[] };
}

/** A request the API server answered with an error status. */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  constructor(
    readonly statusCode: number,
    /** The parsed Status, when the body was one. */
    readonly status: KubeStatus | undefined,
    /** METHOD path, for the message. */
    readonly request: string,
    options?: ErrorOptions,
  ) {
    super(
      `${request}: ${status?.message ?? `HTTP ${statusCode}`}${status?.reason ? ` (${status.reason})` : ''}`,
      options,
    );
  }

  get reason(): string | undefined {
    return this.status?.reason;
  }
}

/** RBAC refused the request; the message names the user, the verb and the resource, as the API server does. */
export class ForbiddenError extends KubeApiError {
  override name = 'ForbiddenError';
  readonly user: string | undefined;
  readonly verb: string | undefined;
  readonly resource: string | undefined;

  constructor(status: KubeStatus | undefined, request: string, options?: ErrorOptions) {
    super(403, status, request, options);
    const m = /User "([^"]*)" cannot (\S+) resource "([^"]*)"/.exec(status?.message ?? '');
    this.user = m?.[1];
    this.verb = m?.[2];
    this.resource = m?.[3];
    this.message =
      `${status?.message ?? `${request}: forbidden`}. Grant ${this.user ? `user "${this.user}"` : 'this identity'} ` +
      `the right to ${this.verb ?? 'do this'}${this.resource ? ` ${this.resource}` : ''} through RBAC (a Role or ` +
      'ClusterRole and a binding), or use a kubeconfig context that has it';
  }
}

/**
 * The API server does not serve this kind at all (a 404 for the resource's path, not for an object): for a custom
 * resource, its CustomResourceDefinition is not installed (yet).
 */
export class ResourceNotServedError extends KubeApiError {
  override name = 'ResourceNotServedError';
  constructor(
    readonly kind: string,
    readonly apiVersion: string,
    request: string,
    options?: ErrorOptions,
  ) {
    super(404, undefined, request, options);
    this.message = `the API server does not serve ${kind} (${apiVersion})${apiVersion.includes('.') ? `: is its CustomResourceDefinition installed?` : ''} (${request})`;
  }
}

/** The resourceVersion asked for is gone from the API server's history (410 Gone / Expired): list again. */
export class ExpiredError extends KubeApiError {
  override name = 'ExpiredError';
}

/** No answer at all: connection refused, reset, TLS failure. */
export class ApiUnreachableError extends Error {
  override name = 'ApiUnreachableError';
  constructor(
    readonly server: string,
    readonly request: string,
    options?: ErrorOptions & { cause?: unknown },
  ) {
    const cause = options?.cause as { code?: string; message?: string } | undefined;
    super(
      `cannot reach the Kubernetes API server at ${server} (${cause?.code ?? cause?.message ?? 'no answer'}) for ${request}: is the cluster's control plane running?`,
      options,
    );
  }
}

/** A field manager other than ours owns fields this apply sets (server-side apply without force). */
export class ApplyConflictError extends ObjectError {
  override name = 'ApplyConflictError';
  constructor(
    object: ObjectIdentity,
    readonly conflicts: readonly { manager: string; field: string }[],
    options?: ErrorOptions,
  ) {
    super(
      object,
      `${describeObject(object)}: fields owned by another field manager: ${conflicts.map((c) => `${c.field} (${c.manager})`).join(', ')}; apply with force to take them over, or leave them out`,
      options,
    );
  }
}

/** A Status body, or undefined when the body is not one (the plain-text `404 page not found` of an unknown path). */
export function parseStatus(body: string): KubeStatus | undefined {
  try {
    const v = JSON.parse(body) as unknown;
    if (typeof v === 'object' && v !== null && (v as KubeStatus).kind === 'Status') return v;
  } catch {
    // not JSON
  }
  return undefined;
}

/** `.spec.ports[0].port` and `spec.ports[0].port` alike, as cmesh's own validation writes paths. */
function fieldPath(field: string | undefined): string {
  return (field ?? '').replace(/^\./, '');
}

/**
 * The field issues an error status describes. Three shapes: 422 Invalid (causes, one per field), 400 BadRequest
 * of strict field validation (`strict decoding error: unknown field "spec.x"`), and the 500 a server-side apply
 * of an unknown field gets (`.spec.x: field not declared in schema`).
 */
export function statusIssues(status: KubeStatus | undefined): FieldIssue[] {
  const causes = status?.details?.causes ?? [];
  const fieldCauses = causes.filter((c) => c.reason !== 'FieldManagerConflict');
  if (fieldCauses.length > 0) {
    return fieldCauses.map((c) => ({ path: fieldPath(c.field), message: c.message ?? c.reason ?? 'invalid' }));
  }
  const message = status?.message ?? '';
  const unknown = [...message.matchAll(/(unknown|duplicate) field "([^"]+)"/g)];
  if (unknown.length > 0) return unknown.map((m) => ({ path: fieldPath(m[2]), message: `${m[1]!} field` }));
  const undeclared = /: (\.[^:\s]+): field not declared in schema/.exec(message);
  if (undeclared) return [{ path: fieldPath(undeclared[1]), message: 'unknown field (not declared in the schema)' }];
  return [{ path: '', message: message || 'rejected by the API server' }];
}

/** Whether a status rejects the object's content (422, strict decoding, undeclared field on apply). */
export function isInvalidStatus(err: KubeApiError): boolean {
  if (err.statusCode === 422 || err.reason === 'Invalid') return true;
  const message = err.status?.message ?? '';
  if (err.statusCode === 400 && /strict decoding error|cannot be handled as a|unknown field/.test(message)) return true;
  return err.statusCode === 500 && /field not declared in schema|failed to create typed patch object/.test(message);
}

/** Conflicts of a server-side apply: `conflict with "kubectl"` on `.metadata.labels.a`. */
function applyConflicts(status: KubeStatus | undefined): { manager: string; field: string }[] {
  return (status?.details?.causes ?? [])
    .filter((c) => c.reason === 'FieldManagerConflict')
    .map((c) => ({ manager: /"([^"]*)"/.exec(c.message ?? '')?.[1] ?? c.message ?? '?', field: c.field ?? '' }));
}

/**
 * The error an object operation reports for an API error: NotFoundError (404 of an object), AlreadyExistsError,
 * ConflictError (409 of a resourceVersion precondition; `actualResourceVersion` when the caller re-read it),
 * ApplyConflictError, ValidationError (field issues), or `err` itself (Forbidden, not served, server errors).
 * The API error is the `cause` of each.
 */
export function objectError(
  err: unknown,
  object: ObjectIdentity,
  expectedResourceVersion?: string,
  actualResourceVersion?: string,
): unknown {
  if (!(err instanceof KubeApiError) || err instanceof ResourceNotServedError || err instanceof ForbiddenError) {
    return err;
  }
  const cause = { cause: err };
  if (err.statusCode === 404 && err.reason === 'NotFound') {
    // The object's namespace is what is missing: say that, not that the object is.
    const details = err.status?.details;
    if (details?.kind === 'namespaces' && object.kind !== 'Namespace' && details.name !== undefined) {
      return new NotFoundError({ kind: 'Namespace', name: details.name }, cause);
    }
    return new NotFoundError(object, cause);
  }
  if (err.statusCode === 409 && err.reason === 'AlreadyExists') return new AlreadyExistsError(object, cause);
  if (err.statusCode === 409) {
    const conflicts = applyConflicts(err.status);
    if (conflicts.length > 0) return new ApplyConflictError(object, conflicts, cause);
    return new ConflictError(object, expectedResourceVersion, actualResourceVersion, cause);
  }
  if (isInvalidStatus(err)) return new ValidationError(object, statusIssues(err.status), undefined, cause);
  return err;
}

/**
 * A manifest's dry run failed for reasons other than invalid content (RBAC, a kind not served, an apply
 * conflict...), possibly with invalid objects besides; nothing was written. Each entry keeps where the object came
 * from.
 */
export class ObjectsRejectedError extends Error {
  override name = 'ObjectsRejectedError';
  constructor(
    readonly errors: readonly { location: string; error: Error }[],
    options?: ErrorOptions,
  ) {
    super(errors.map((e) => `${e.location}: ${e.error.message}`).join('\n'), options);
  }
}

/**
 * A manifest passed its dry run but a write failed (the object changed meanwhile, the API server went away): the
 * objects in `applied` were written, the rest were not. Applying the file again finishes the job.
 */
export class ApplyInterruptedError extends Error {
  override name = 'ApplyInterruptedError';
  constructor(
    readonly location: string,
    readonly appliedCount: number,
    readonly total: number,
    options: ErrorOptions & { cause: Error },
  ) {
    super(
      `${location}: ${options.cause.message} (${appliedCount} of ${total} objects were applied before it; apply the file again to finish)`,
      options,
    );
  }
}

/**
 * Server-side apply names list items by their keys (`spec.ports[port=80,protocol="TCP"].prot`), as its merge
 * does; a person reads the manifest by position. Rewrites each keyed step to the index of the first item of `obj`
 * whose values match (a key the item lacks was defaulted by the server, so it matches), as cmesh's own validation
 * writes paths (`spec.ports[0].prot`); a step that matches nothing is left as it is.
 */
export function indexListPaths(path: string, obj: unknown): string {
  let out = '';
  let cur: unknown = obj;
  const step = /([^.[\]]+)|\[([^\]]*)\]/g;
  for (const m of path.matchAll(step)) {
    const field = m[1];
    const selector = m[2];
    if (field !== undefined) {
      out += out === '' ? field : `.${field}`;
      cur = typeof cur === 'object' && cur !== null ? (cur as Record<string, unknown>)[field] : undefined;
      continue;
    }
    const keys = [...(selector ?? '').matchAll(/([^=,]+)=("(?:[^"\\]|\\.)*"|[^,]*)/g)].map((k) => ({
      key: k[1]!,
      value: k[2]!.startsWith('"') ? (JSON.parse(k[2]!) as unknown) : k[2]!,
    }));
    const items = Array.isArray(cur) ? (cur as unknown[]) : [];
    const index =
      keys.length === 0
        ? -1
        : items.findIndex((it) =>
            keys.every(({ key, value }) => {
              const v = typeof it === 'object' && it !== null ? (it as Record<string, unknown>)[key] : undefined;
              return v === undefined || ((typeof v === 'string' || typeof v === 'number') && `${v}` === String(value));
            }),
          );
    if (index < 0) {
      out += `[${selector ?? ''}]`;
      cur = undefined;
    } else {
      out += `[${index}]`;
      cur = items[index];
    }
  }
  return out;
}
