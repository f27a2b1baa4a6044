import { MalformedValueError } from './errors.js';

/**
 * Heartbeat and sync-canary values: an RFC 3339 time. Readers of canaries only test existence, and the
 * heartbeat reader only needs the time parsed, so we write UTC with second precision like Go's time.RFC3339.
 */
export function formatRfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Parses an RFC 3339 time (Go's layout, with optional fractional seconds and any offset). */
export function parseRfc3339(text: string): Date {
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new MalformedValueError(`time ${JSON.stringify(text)} is not RFC 3339`);
  return new Date(ms);
}
