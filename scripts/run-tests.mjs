#!/usr/bin/env node
// Runs the test suite: every *.test.ts under test/, listed explicitly (Node 20's --test does not expand globs
// and silently skips .ts files in directories), then sweeps any etcd a crashed test left behind.
import { spawnSync, execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test');
const concurrency = process.env.CMESH_TEST_CONCURRENCY ?? '2';
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files],
  { stdio: 'inherit' },
);

function sweep() {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-af', '--name=cmesh-test-'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of out.split('\n').filter(Boolean)) {
    const pid = Number(line.split(' ')[0]);
    if (line.includes('etcd') && pid) {
      try {
        process.kill(pid, 'SIGKILL');
        console.error(`killed orphan etcd ${pid}`);
      } catch {
        // gone
      }
    }
  }
}
sweep();
process.exit(res.status ?? 1);
