/**
 * What a failed command prints. People get one line that says what went wrong and what to do; the internals
 * (gRPC status codes, stack traces, the chain of causes) go only to `--verbose`, where a bug report needs them.
 * Errors from our own code already carry such a line; this catches what still arrives raw from a client library.
 */

/** `14 UNAVAILABLE: No connection established` and friends, as grpc-js words its errors. */
const GRPC_STATUS = /^\d+ ([A-Z_]+): ?(.*)$/s;

const WHAT_TO_DO = 'check that the cluster runs with `cmesh cluster list` and start it with `cmesh cluster start NAME`';

/** What a gRPC status means here, and what to do about it. */
const GRPC_MEANING: Readonly<Record<string, string>> = {
  UNAVAILABLE: `could not reach an etcd server of the cluster; ${WHAT_TO_DO}`,
  DEADLINE_EXCEEDED: `an etcd server of the cluster did not answer in time; ${WHAT_TO_DO}`,
  UNAUTHENTICATED: 'an etcd server refused the client certificate; connect the clusters again to renew it',
  PERMISSION_DENIED: "an etcd server refused the request: the client certificate's user lacks the permission",
  RESOURCE_EXHAUSTED: 'an etcd server refused a request that is too large (etcd takes at most 1.5 MiB per request)',
};

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The one-line message for people. */
export function userMessage(err: unknown): string {
  const msg = messageOf(err);
  const grpc = GRPC_STATUS.exec(msg);
  if (grpc) {
    const meaning = GRPC_MEANING[grpc[1]!] ?? `an etcd request failed (${grpc[1]!.toLowerCase()})`;
    return `${meaning} (run with --verbose for details)`;
  }
  if (/^GRPC\w*Error$/.test(errorName(err)) || /No connection established|ECONNREFUSED/.test(msg)) {
    return `could not reach a server of the cluster; ${WHAT_TO_DO} (run with --verbose for details)`;
  }
  return msg;
}

/** Everything about the error: each error of the cause chain with its stack. */
export function verboseMessage(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && depth < 10; depth++) {
    parts.push(
      (depth === 0 ? '' : 'caused by: ') + (cur instanceof Error ? (cur.stack ?? cur.message) : JSON.stringify(cur)),
    );
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join('\n');
}
