/**
 * End-to-end helpers: run the real `cmesh` CLI (built dist/, as a user would) against a temporary CMESH_HOME, and
 * make sure every process it started is gone afterwards.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { requireHostAddress } from '../../src/agent/datapath/host-address.js';
import { lockClusterIds } from '../harness/loopback-lock.js';

export const CMESH_ENTRY = path.resolve('dist/cli/main.js');

export function requireBuild(): void {
  if (!existsSync(CMESH_ENTRY)) throw new Error('dist/ is missing: run `npm run build` before the end-to-end tests');
}

export interface CmeshResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CmeshHome {
  private constructor(
    readonly dir: string,
    private readonly release: () => Promise<void>,
  ) {}

  /**
   * A fresh home. `clusterIds`: the IDs of the clusters the test creates with default (loopback) CIDRs; their
   * address ranges are locked against other test files until destroy().
   */
  static async create(opts: { clusterIds?: readonly number[] } = {}): Promise<CmeshHome> {
    requireBuild();
    const release = await lockClusterIds(opts.clusterIds ?? []);
    return new CmeshHome(await mkdtemp(path.join(tmpdir(), 'cmesh-test-home-')), release);
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, CMESH_HOME: this.dir, CMESH_LOG_LEVEL: 'info' };
  }

  /** Runs `cmesh <args>`; never throws on a non-zero exit (the result says). */
  run(args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CmeshResult> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [CMESH_ENTRY, ...args],
        { env: this.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  }

  /** Runs and requires success; the error carries stderr. */
  async ok(args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new Error(`cmesh ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  }

  /** Every pid recorded under the home's clusters. */
  async pids(): Promise<number[]> {
    const out: number[] = [];
    const clusters = path.join(this.dir, 'clusters');
    if (!existsSync(clusters)) return out;
    for (const c of await readdir(clusters)) {
      const run = path.join(clusters, c, 'run');
      if (!existsSync(run)) continue;
      for (const f of (await readdir(run)).filter((n) => n.endsWith('.pid'))) {
        const pid = Number((await readFile(path.join(run, f), 'utf8')).trim());
        if (pid > 0) out.push(pid);
      }
    }
    return out;
  }

  /** Deletes every cluster, kills anything left over that belongs to this home, removes the folder. */
  async destroy(): Promise<void> {
    const clusters = path.join(this.dir, 'clusters');
    const pids = await this.pids();
    if (existsSync(clusters)) {
      const names = await readdir(clusters);
      if (names.length > 0) await this.run(['cluster', 'delete', ...names], { timeoutMs: 60_000 });
    }
    for (const pid of [...pids, ...leftovers(this.dir)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(this.dir, { recursive: true, force: true });
    await this.release();
  }
}

/** Processes whose command line mentions `dir` (daemons get their cluster folder as an argument). */
export function leftovers(dir: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', dir], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((p) => p !== process.pid);
  } catch {
    return [];
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export { eventually } from '../harness/eventually.js';
export { lockClusterIds } from '../harness/loopback-lock.js';

/**
 * One HTTP/1.0 GET sent "from a pod": from the loopback address the datapath gives `podIp` (10.a.b.c leaves from
 * 127.a.b.c); resolves to the raw answer.
 */
export function httpGetFrom(podIp: string, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const localAddress = requireHostAddress(podIp, 'client pod IP');
    const s = net.connect({ host, port, localAddress, timeout: 5000 });
    let data = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
    s.on('data', (c: string) => (data += c));
    s.on('end', () => {
      resolve(data);
    });
    s.on('error', reject);
    s.on('timeout', () => {
      s.destroy(new Error('timeout'));
    });
  });
}
