import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Log level from CMESH_LOG_LEVEL; quiet by default under the test runner so test output stays readable. */
function defaultLevel(): string {
  const env = process.env.CMESH_LOG_LEVEL;
  if (env) return env;
  return process.env.NODE_TEST_CONTEXT ? 'silent' : 'info';
}

let root: Logger | undefined;

/** The process-wide root logger (JSON lines on stderr). Components derive children with `subsys`, as Cilium does. */
export function rootLogger(): Logger {
  root ??= pino({ level: defaultLevel(), base: { pid: process.pid } } satisfies LoggerOptions, pino.destination(2));
  return root;
}

/** A child logger for one subsystem; the field name `subsys` matches Cilium's log field. */
export function logger(subsys: string, fields: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ subsys, ...fields });
}

/** Replaces the root logger (a component's main sets level and destination from its flags). */
export function setRootLogger(l: Logger): void {
  root = l;
}
