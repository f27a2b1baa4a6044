/**
 * The README's step-by-step flow, run exactly as printed: the commands are parsed out of the README's "Using it"
 * block (so the README and this test cannot drift apart) and run one by one with bash from the repository root,
 * against a temporary CMESH_HOME. Every command must succeed, and the connectivity test must pass with the default
 * flags the README uses.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CmeshHome, leftovers } from './helpers.js';

const SECTION = '## Using it';
const COMMAND_TIMEOUT_MS = 300_000;

/** The commands of the first ```sh block after the "Using it" heading, without their trailing comments. */
function readmeCommands(readme: string): string[] {
  const section = readme.slice(readme.indexOf(SECTION));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '');
}

function bash(line: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', line],
      { env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}\n${stderr}` });
      },
    );
  });
}

describe("the README's step-by-step flow, as printed", () => {
  let home: CmeshHome;
  const commands = readmeCommands(readFileSync('README.md', 'utf8'));
  const written: string[] = [];

  before(async () => {
    home = await CmeshHome.create({ clusterIds: [1, 2] });
  });
  after(async () => {
    for (const f of written) await rm(f, { force: true });
    await home.destroy();
  });

  it('finds the flow in the README', () => {
    assert.ok(commands.length >= 10, `expected the README's commands, found ${commands.length}`);
    for (const c of commands) assert.match(c, /^npx cmesh /, 'every line runs cmesh as a user of the clone would');
    for (const step of ['cluster create', 'clustermesh enable', 'clustermesh connect', 'connectivity test'])
      assert.ok(
        commands.some((c) => c.includes(step)),
        `the flow includes ${step}`,
      );
  });

  it('runs every command successfully, the connectivity test included, with default flags', async () => {
    for (const line of commands) {
      // A file the flow writes into the working directory (the VM install script) is removed afterwards.
      const out = /vm install (\S+)/.exec(line)?.[1];
      if (out) written.push(path.resolve(out));
      const r = await bash(line, home.env);
      assert.equal(r.code, 0, `\`${line}\` failed (exit ${r.code}):\n${r.out}`);
      if (line.includes('connectivity test')) assert.match(r.out, /0 failed.*PASSED/, r.out);
      if (line.includes('service list')) assert.match(r.out, /shop\/web/, `the global service is listed:\n${r.out}`);
    }
    assert.deepEqual(leftovers(home.dir), [], 'the last command (cluster delete) leaves no process behind');
  });
});
