import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

function cmesh(...args: string[]): string {
  return execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
}

describe('cmesh CLI', () => {
  it('explains itself with --help', () => {
    const out = cmesh('--help');
    assert.match(out, /Usage: cmesh/);
    assert.match(out, /ClusterMesh/);
    assert.match(out, /version/);
  });

  it('prints its version as text and as JSON', () => {
    assert.equal(cmesh('version').trim(), `cmesh ${pkg.version} (node ${process.versions.node})`);
    const info = JSON.parse(cmesh('version', '-o', 'json')) as { cmesh: string };
    assert.equal(info.cmesh, pkg.version);
  });

  it('rejects an unknown command with a hint', () => {
    assert.throws(
      () => cmesh('frobnicate'),
      (err: { stderr: string }) => err.stderr.includes("unknown command 'frobnicate'"),
    );
  });
});
