/** Errors of the object store, shaped like the Kubernetes API's status reasons (NotFound, AlreadyExists, Conflict). */
import { describeObject, type ObjectIdentity, type ValidationError } from './validation-error.js';

export { ValidationError } from './validation-error.js';

export class ObjectError extends Error {
  override name = 'ObjectError';
  constructor(
    readonly object: ObjectIdentity,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class NotFoundError extends ObjectError {
  override name = 'NotFoundError';
  constructor(object: ObjectIdentity, options?: ErrorOptions) {
    super(object, `${describeObject(object)} not found`, options);
  }
}

export class AlreadyExistsError extends ObjectError {
  override name = 'AlreadyExistsError';
  constructor(object: ObjectIdentity, options?: ErrorOptions) {
    super(object, `${describeObject(object)} already exists`, options);
  }
}

/** The object changed since it was read (its resourceVersion no longer matches): read it again and retry. */
export class ConflictError extends ObjectError {
  override name = 'ConflictError';
  constructor(
    object: ObjectIdentity,
    readonly expectedResourceVersion: string | undefined,
    readonly actualResourceVersion: string | undefined,
    options?: ErrorOptions,
  ) {
    super(
      object,
      `${describeObject(object)} was modified concurrently: expected resourceVersion ${expectedResourceVersion ?? '(any)'}, found ${actualResourceVersion ?? '(deleted)'}`,
      options,
    );
  }
}

/** A stored value that is not a valid object of the kind its key says (written around the store, or corrupted). */
export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    readonly key: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${key}: ${message}`, options);
  }
}

/** Several objects of one manifest are invalid; nothing was written. */
export class InvalidObjectsError extends Error {
  override name = 'InvalidObjectsError';
  constructor(readonly errors: readonly ValidationError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
}
