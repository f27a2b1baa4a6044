/**
 * CLI start-up: how long `cmesh --version`, `cmesh --help` and `cmesh cluster list` (no clusters) take, as whole
 * processes run from the built CLI (dist/cli/main.js), next to `node -e 0` measured in the same run as the floor
 * (what starting Node costs on this machine). The runs are interleaved (floor, version, help, list, floor, ...) so
 * that a busy machine slows all of them alike; each figure is the median of RUNS runs.
 * Target (issue 17): `cmesh --version` within 3x `node -e 0`.
 * Run: npm run bench:cli   (builds dist/ first when it is missing; RUNS=20 for more runs)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const RUNS = Number(process.env.RUNS ?? 10);
const TARGET = 3;
const ENTRY = path.resolve('dist/cli/main.js');

if (!existsSync(ENTRY)) {
  console.log('dist/cli/main.js is missing: running npm run build first');
  const b = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  if (b.status !== 0) throw new Error('npm run build failed');
}

// An empty CMESH_HOME: `cluster list` has no clusters to read.
const home = mkdtempSync(path.join(tmpdir(), 'cmesh-bench-cli-'));
const env = { ...process.env, CMESH_HOME: home };

interface Case {
  name: string;
  args: string[];
  /** What its standard output must hold: the run did what it says. */
  expect: RegExp;
  ms: number[];
}

const cases: Case[] = [
  { name: 'node -e 0 (floor)', args: ['-e', '0'], expect: /^$/, ms: [] },
  { name: 'cmesh --version', args: [ENTRY, '--version'], expect: /^\d+\.\d+\.\d+/, ms: [] },
  { name: 'cmesh --help', args: [ENTRY, '--help'], expect: /Usage: cmesh/, ms: [] },
  { name: 'cmesh cluster list', args: [ENTRY, 'cluster', 'list'], expect: /no local clusters/, ms: [] },
];

function run(c: Case): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, c.args, { env, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0 || !c.expect.test(r.stdout)) {
    throw new Error(`${c.name} failed (exit ${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  }
  return ms;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

try {
  for (const c of cases) run(c); // warm the file system cache; not counted
  for (let i = 0; i < RUNS; i++) for (const c of cases) c.ms.push(run(c));
} finally {
  rmSync(home, { recursive: true, force: true });
}

const floor = median(cases[0]!.ms);
console.log(
  `cli bench: median of ${RUNS} interleaved runs each, from dist/cli/main.js (node ${process.versions.node})`,
);
for (const c of cases) {
  const m = median(c.ms);
  const ratio = m / floor;
  const verdict = c.name === 'cmesh --version' ? `  target <= ${TARGET}x: ${ratio <= TARGET ? 'ok' : 'MISS'}` : '';
  console.log(
    `  ${c.name.padEnd(20)} ${m.toFixed(0).padStart(5)} ms  ${ratio.toFixed(2)}x the floor` +
      `  (min ${Math.min(...c.ms).toFixed(0)}, max ${Math.max(...c.ms).toFixed(0)} ms)${verdict}`,
  );
}
