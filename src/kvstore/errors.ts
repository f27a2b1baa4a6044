import { EtcdInvalidAuthTokenError, EtcdLeaseInvalidError, EtcdPermissionDeniedError } from 'etcd3';

/** Raised by the etcd config loader: names the file, the field and what to do about it. */
export class EtcdConfigError extends Error {
  override name = 'EtcdConfigError';
  constructor(
    readonly file: string,
    readonly field: string | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${file}${field ? `: field '${field}'` : ''}: ${message}`, options);
  }
}

/** The watch or range start revision is older than etcd's compaction point: a re-list is required. */
export class CompactedError extends Error {
  override name = 'CompactedError';
  constructor(
    readonly compactRevision: number,
    options?: ErrorOptions,
  ) {
    super(`required revision has been compacted (compact revision ${compactRevision})`, options);
  }
}

/** etcd canceled a watch for a reason other than compaction (permission denied, expired token...). */
export class WatchCanceledError extends Error {
  override name = 'WatchCanceledError';
  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`etcd canceled the watch: ${reason || 'no reason given'}`, options);
  }
}

/** The watch stream ended without an error from gRPC (server shutdown, connection reset). */
export class WatchStreamEndedError extends Error {
  override name = 'WatchStreamEndedError';
  constructor() {
    super('etcd watch stream ended');
  }
}

/** A SyncStore was used after close(). */
export class StoreClosedError extends Error {
  override name = 'StoreClosedError';
  constructor(what: string) {
    super(`${what} is closed`);
  }
}

const COMPACTED = 'required revision has been compacted';
const AUTH_RE = /invalid auth token|permission denied|user name is empty|auth token is expired|authentication failed/i;
const LEASE_NOT_FOUND = 'requested lease not found';

export function isCompactedError(err: unknown): boolean {
  return err instanceof CompactedError || (err instanceof Error && err.message.includes(COMPACTED));
}

/** An error that a fresh auth token may cure (etcd tokens expire after --auth-token-ttl). */
export function isAuthError(err: unknown): boolean {
  if (err instanceof EtcdInvalidAuthTokenError || err instanceof EtcdPermissionDeniedError) return true;
  return err instanceof Error && AUTH_RE.test(err.message);
}

export function isLeaseNotFoundError(err: unknown): boolean {
  return err instanceof EtcdLeaseInvalidError || (err instanceof Error && err.message.includes(LEASE_NOT_FOUND));
}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The etcd client is not the etcd3 1.x client whose connection pool cmesh's own calls use. */
export class UnsupportedClientError extends Error {
  override name = 'UnsupportedClientError';
}
