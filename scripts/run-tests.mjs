#!/usr/bin/env node
// Runs the test suite: every *.test.ts under test/, listed explicitly (Node 20's --test does not expand globs
// and silently skips .ts files in directories), then sweeps any etcd a crashed test left behind.
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
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

/**
 * Kills what a crashed test left behind, and only that (other test runs may be going on): harness etcds whose test
 * process is gone (member name `cmesh-test-<pid>-...`), and daemons of a test CMESH_HOME that no longer exists.
 */
function sweep() {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-af', 'cmesh-test-'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return;
  }
  const alive = (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const line of out.split('\n').filter(Boolean)) {
    const pid = Number(line.split(' ')[0]);
    if (!pid || pid === process.pid) continue;
    const owner = /--name=cmesh-test-(\d+)-/.exec(line);
    const home = /(\/\S*cmesh-test-home-[^/\s]+)/.exec(line);
    const orphan = owner ? !alive(Number(owner[1])) : home ? !existsSync(home[1]) : false;
    if (!orphan) continue;
    try {
      process.kill(pid, 'SIGKILL');
      console.error(`killed leftover test process ${pid}`);
    } catch {
      // gone
    }
  }
}
sweep();
process.exit(res.status ?? 1);
