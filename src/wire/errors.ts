/**
 * A value or key read from (or about to be written to) the kvstore does not follow Cilium's wire format,
 * or does not belong to the cluster it came from. Messages name the field, the value and what was expected,
 * because they end up in warnings about untrusted remote data.
 */
export class WireFormatError extends Error {
  override readonly name: string = 'WireFormatError';
}

/** The bytes are not the expected shape at all: invalid JSON, a missing field, a field of the wrong type. */
export class MalformedValueError extends WireFormatError {
  override readonly name: string = 'MalformedValueError';
}

/** The value is well-formed but breaks a rule: wrong cluster, key/value mismatch, identity outside range. */
export class ValidationError extends WireFormatError {
  override readonly name: string = 'ValidationError';
}
