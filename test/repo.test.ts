/**
 * The repository stands alone: a user's clone has nothing beside it, so no code, test, script or document may
 * read from (or point users at) a path outside the repository.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const ROOTS = ['src', 'test', 'bench', 'scripts', 'docs', 'examples', '.ci', 'README.md'];
const SKIP = new Set(['node_modules', 'dist', 'golden']);
/** A string literal that starts at an absolute path of this workspace, or a path that climbs out of the repo. */
const OUTSIDE = /['"`]\/work\/|\.\.\/shared\/|shared\/spec\/|shared\/design\//;

function files(p: string): string[] {
  if (!statSync(p).isDirectory()) return [p];
  return readdirSync(p)
    .filter((n) => !SKIP.has(n))
    .flatMap((n) => files(path.join(p, n)));
}

describe('the repository stands alone', () => {
  it('reads and names no path outside the repository', () => {
    const self = path.join('test', 'repo.test.ts');
    const hits: string[] = [];
    for (const f of ROOTS.flatMap(files)) {
      if (f === self) continue;
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (OUTSIDE.test(line)) hits.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(hits, [], 'lines that reach outside the repository');
  });
});
