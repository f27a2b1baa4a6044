/**
 * Progress of long commands, always on stderr so that stdout stays the command's result (`-o json` pipes cleanly):
 * a spinner on a real terminal, plain timestamped lines anywhere else (CI logs, scripts, pipes). A terminal that
 * reports fewer than MIN_SPINNER_COLUMNS columns (some CI pseudo-terminals say 0) gets plain lines too: a spinner
 * there cannot measure its line and redraws without end.
 */
import type { Ora } from 'ora';

export const MIN_SPINNER_COLUMNS = 20;

export interface Progress {
  /** A new step: the previous one (if any) is marked done. */
  step(text: string): void;
  /** New detail for the current step (e.g. what a wait still waits for); plain lines print only changes. */
  update(text: string): void;
  /** The end: the current step marked done or failed. */
  done(ok: boolean, text?: string): void;
}

/** Whether `stream` can show a spinner. */
export function canSpin(stream: NodeJS.WriteStream = process.stderr): boolean {
  return (
    stream.isTTY && ((stream.columns as number | undefined) ?? 0) >= MIN_SPINNER_COLUMNS && process.env.CI === undefined
  );
}

function plainProgress(stream: NodeJS.WriteStream): Progress {
  const t0 = Date.now();
  let last = '';
  const line = (s: string): void => {
    if (s === last) return;
    last = s;
    stream.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}\n`);
  };
  return {
    step: line,
    update: line,
    done: (ok, text) => {
      if (text !== undefined) line(ok ? text : `FAILED: ${text}`);
    },
  };
}

/** The reporter for this process; `quiet` (e.g. -o json with no terminal) prints nothing. */
export async function progressReporter(opts: { quiet?: boolean } = {}): Promise<Progress> {
  const stream = process.stderr;
  if (opts.quiet) return { step: () => undefined, update: () => undefined, done: () => undefined };
  if (!canSpin(stream)) return plainProgress(stream);
  // ora is loaded only when a spinner is shown: commands that never wait do not pay for it.
  const { default: ora } = await import('ora');
  const spinner: Ora = ora({ stream });
  let step = '';
  return {
    step: (s) => {
      if (step !== '') spinner.succeed(step);
      step = s;
      spinner.start(s);
    },
    update: (s) => {
      spinner.text = step ? `${step}: ${s}` : s;
    },
    done: (ok, text) => {
      if (step === '' && text === undefined) return;
      const final = text ?? step;
      if (ok) spinner.succeed(final);
      else spinner.fail(final);
      step = '';
    },
  };
}

/** Runs `fn` with a progress display whose steps `fn` names; the display ends done or failed with `fn`. */
export async function withProgress<T>(quiet: boolean, fn: (step: (s: string) => void) => Promise<T>): Promise<T> {
  const progress = await progressReporter({ quiet });
  try {
    const out = await fn((s) => {
      progress.step(s);
    });
    progress.done(true);
    return out;
  } catch (err) {
    progress.done(false);
    throw err;
  }
}
