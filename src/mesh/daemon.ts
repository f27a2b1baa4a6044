import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const STOP_GRACE_MS = 5_000;
const STOP_POLL_MS = 50;

export class DaemonError extends Error {
  override name = 'DaemonError';
}

/**
 * The cmesh entry point that daemons run from: always the compiled `dist/cli/main.js`, so that a daemon does not
 * pay for TypeScript compilation and behaves the same whether the CLI itself runs from src/ (tests) or dist/.
 */
export function cmeshEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const entry = here.endsWith('.ts')
    ? fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))
    : fileURLToPath(new URL('../cli/main.js', import.meta.url));
  if (!existsSync(entry)) {
    throw new DaemonError(`cmesh is not built (${entry} is missing): run \`npm run build\` first`);
  }
  return entry;
}

export interface DaemonSpec {
  /** Human name for messages, e.g. "apiserver of cluster east". */
  name: string;
  /** Arguments after `cmesh`, e.g. ['apiserver', '--cluster-dir', dir]. */
  args: readonly string[];
  logFile: string;
  pidFile: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts `cmesh <args>` as a detached background process whose output goes to its log file. */
export async function startDaemon(spec: DaemonSpec): Promise<number> {
  const existing = await readPid(spec.pidFile);
  if (existing !== undefined && isAlive(existing)) return existing;
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(process.execPath, [cmeshEntry(), ...spec.args], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...spec.env },
    });
    child.unref();
    if (child.pid === undefined) throw new DaemonError(`could not start the ${spec.name}`);
    await writeFile(spec.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process behind `pidFile`, if it is still running. */
export async function runningPid(pidFile: string): Promise<number | undefined> {
  const pid = await readPid(pidFile);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

/** SIGTERM, wait, SIGKILL after a grace period; removes the pid file. A missing process is not an error. */
export async function stopDaemon(pidFile: string, graceMs = STOP_GRACE_MS): Promise<void> {
  const pid = await readPid(pidFile);
  if (pid !== undefined && isAlive(pid)) {
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, STOP_POLL_MS));
    if (isAlive(pid)) {
      signal(pid, 'SIGKILL');
      while (isAlive(pid)) await new Promise((r) => setTimeout(r, STOP_POLL_MS));
    }
  }
  await rm(pidFile, { force: true });
}

/** SIGKILL at once (fault injection: a crash). */
export async function killDaemon(pidFile: string): Promise<void> {
  const pid = await readPid(pidFile);
  if (pid === undefined || !isAlive(pid)) return;
  signal(pid, 'SIGKILL');
  while (isAlive(pid)) await new Promise((r) => setTimeout(r, STOP_POLL_MS));
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // exited meanwhile
  }
}
