/**
 * How a long mesh operation reports what it is doing and how long it may take: the CLI passes a progress callback
 * and a deadline (from `--timeout`); every wait inside the operation is bounded by the time that is left, so that
 * the operation fails (and rolls back) before the deadline instead of being cut off half-way.
 */

/** The shortest wait a step gets even when the deadline is (nearly) reached: enough for one health probe. */
export const MIN_STEP_WAIT_MS = 1_000;

export interface StepOptions {
  /** Called with a short description of each step as it starts. */
  onStep?: (step: string) => void;
  /** Epoch milliseconds by which the whole operation must be done. */
  deadline?: number;
}

/** How long the next wait may take: its own default, cut to what is left before the deadline. */
export function waitBudget(o: StepOptions | undefined, defaultMs: number): number {
  if (o?.deadline === undefined) return defaultMs;
  return Math.max(MIN_STEP_WAIT_MS, Math.min(defaultMs, o.deadline - Date.now()));
}

/** The deadline `timeoutMs` from now (none when undefined). */
export function deadlineIn(timeoutMs: number | undefined): number | undefined {
  return timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
}
