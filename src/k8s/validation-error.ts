/** The error every object validation failure surfaces as: which object, which field, what is wrong. */

export interface FieldIssue {
  /** Dotted field path with list indices: `spec.ports[0].port`; empty for the object itself. */
  path: string;
  message: string;
}

export interface ObjectIdentity {
  kind?: string;
  namespace?: string;
  name?: string;
}

export class ValidationError extends Error {
  override name = 'ValidationError';
  readonly kind: string | undefined;
  readonly namespace: string | undefined;
  readonly objectName: string | undefined;

  constructor(
    readonly object: ObjectIdentity,
    readonly issues: readonly FieldIssue[],
    /** Where the object came from when that helps a reader find it: `document 3 (line 41)`. */
    readonly location?: string,
    options?: ErrorOptions,
  ) {
    super(formatMessage(object, issues, location), options);
    this.kind = object.kind;
    this.namespace = object.namespace;
    this.objectName = object.name;
  }

  /** The same error, attributed to a location in a file or a list. */
  at(location: string): ValidationError {
    return new ValidationError(this.object, this.issues, location, { cause: this });
  }
}

export function describeObject(o: ObjectIdentity): string {
  const kind = o.kind ?? 'object';
  if (o.name === undefined) return kind;
  return `${kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
}

function formatMessage(o: ObjectIdentity, issues: readonly FieldIssue[], location: string | undefined): string {
  const what = `${location ? `${location}: ` : ''}${describeObject(o)} is invalid`;
  const details = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  return details ? `${what}: ${details}` : what;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else {
      const key = String(p);
      s += /^[A-Za-z_$][\w$-]*$/.test(key) ? (s === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return s;
}
