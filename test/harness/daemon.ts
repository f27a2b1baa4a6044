/** A daemon's command run in a child process from the source tree, as `cmesh <command> ...` runs it. */
import { spawn } from 'node:child_process';
import path from 'node:path';

const REPO = path.resolve(import.meta.dirname, '../..');

export interface DaemonProcess {
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** What the daemon wrote to stderr so far (logs at warn and above). */
  stderr(): string;
  /** Sends a signal (SIGTERM: a clean shutdown). */
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL when still running; resolves once it exited. For cleanup. */
  kill(): Promise<void>;
}

/**
 * Runs `args` (the command's name first) through the commander command that `module` (relative to the repository,
 * e.g. `./src/cli/apiserver-command.ts`) exports as `factory`.
 */
export function spawnDaemon(module: string, factory: string, args: readonly string[]): DaemonProcess {
  const script =
    "import { Command } from '@commander-js/extra-typings';" +
    `import { ${factory} } from '${module}';` +
    `await new Command().addCommand(${factory}()).parseAsync(process.argv);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, 'x', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, CMESH_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    exited,
    stderr: () => stderr,
    signal: (sig) => {
      child.kill(sig);
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
