/**
 * Issue 25, hole 3: files holding keys are written safely. Every such file is created exclusively, with O_NOFOLLOW
 * and an owner-only mode: a symlink at the path is refused (even with --force), an existing file is refused without
 * --force and recreated (never written through, its old mode not kept) with it. The real CLI, as a user runs it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PrivateFileError, writePrivateFile } from '../../src/mesh/private-file.js';
import { CmeshHome } from '../e2e/helpers.js';

const mode = async (f: string): Promise<number> => (await lstat(f)).mode & 0o777;

describe('files holding keys are written safely (issue 25, hole 3)', () => {
  let home: CmeshHome;
  let out: string;

  before(async () => {
    home = await CmeshHome.create({ clusterIds: [71] });
    out = await mkdtemp(path.join(tmpdir(), 'cmesh-test-files-'));
    await home.ok(['cluster', 'create', 'sec71', '--id', '71', '--nodes', '0']);
    await home.ok(['clustermesh', 'enable', '--context', 'sec71', '--enable-kvstoremesh', 'false']);
  });

  after(async () => {
    await home.destroy();
    await rm(out, { recursive: true, force: true });
  });

  it('vm install onto a symlink is refused, with or without --force, and the target is unchanged', async () => {
    const target = path.join(out, 'victim.txt');
    await writeFile(target, 'untouched\n', { mode: 0o644 });
    const link = path.join(out, 'install-link.sh');
    await symlink(target, link);
    for (const extra of [[], ['--force']]) {
      const r = await home.run(['clustermesh', 'vm', 'install', link, '--context', 'sec71', ...extra]);
      assert.notEqual(r.code, 0, `vm install through a symlink ${extra.join(' ')} must fail:\n${r.stdout}`);
      assert.match(r.stderr, /symbolic link/, `the error says why:\n${r.stderr}`);
      assert.equal(await readFile(target, 'utf8'), 'untouched\n', 'the symlink target is unchanged');
      assert.equal(await mode(target), 0o644, "the symlink target's mode is unchanged");
      assert.equal(await readlink(link), target, 'the symlink itself is left alone');
    }
  });

  it('vm install onto an existing file is refused without --force; with it the script is owner-only', async () => {
    const file = path.join(out, 'install-vm.sh');
    await writeFile(file, 'old\n');
    await chmod(file, 0o644);
    const refused = await home.run(['clustermesh', 'vm', 'install', file, '--context', 'sec71']);
    assert.notEqual(refused.code, 0, 'overwriting without --force must fail');
    assert.match(refused.stderr, /install-vm\.sh exists; pass --force to replace it/, refused.stderr);
    assert.equal(await readFile(file, 'utf8'), 'old\n', 'the existing file is unchanged');

    await home.ok(['clustermesh', 'vm', 'install', file, '--context', 'sec71', '--force']);
    const script = await readFile(file, 'utf8');
    assert.match(script, /BEGIN PRIVATE KEY|BEGIN EC PRIVATE KEY|PRIVATE KEY/, 'the script embeds the key');
    // 0700, not 0600: the script is run directly (./install-vm.sh); no group or other bit either way.
    assert.equal(await mode(file), 0o700, `the old 0644 is not kept: ${(await mode(file)).toString(8)}`);

    const fresh = path.join(out, 'fresh.sh');
    await home.ok(['clustermesh', 'vm', 'install', fresh, '--context', 'sec71']);
    assert.equal(await mode(fresh), 0o700, 'a new script is owner-only');
  });

  it('secret extract --output writes 0600 and refuses to overwrite without --force', async () => {
    const file = path.join(out, 'sec71.json');
    await home.ok(['clustermesh', 'secret', 'extract', '--context', 'sec71', '--output', file]);
    assert.equal(await mode(file), 0o600, `--output is 0600: ${(await mode(file)).toString(8)}`);
    const secret = JSON.parse(await readFile(file, 'utf8')) as { key?: string };
    assert.match(secret.key ?? '', /PRIVATE KEY/, 'the file holds the secret with its key');

    const again = await home.run(['clustermesh', 'secret', 'extract', '--context', 'sec71', '--output', file]);
    assert.notEqual(again.code, 0, 'a second extract onto the file must fail');
    assert.match(again.stderr, /sec71\.json exists; pass --force to replace it/, again.stderr);

    await chmod(file, 0o644);
    await home.ok(['clustermesh', 'secret', 'extract', '--context', 'sec71', '--output', file, '--force']);
    assert.equal(await mode(file), 0o600, 'with --force the file is recreated 0600');

    const link = path.join(out, 'secret-link.json');
    await symlink(path.join(out, 'nowhere.json'), link);
    const viaLink = await home.run([
      'clustermesh',
      'secret',
      'extract',
      '--context',
      'sec71',
      '--output',
      link,
      '--force',
    ]);
    assert.notEqual(viaLink.code, 0, 'extract through a symlink must fail');
    assert.ok(!existsSync(path.join(out, 'nowhere.json')), 'nothing was created at the symlink target');
  });

  it("the key files under the cluster's certs folder are 0600", async () => {
    const certs = path.join(home.dir, 'clusters', 'sec71', 'certs');
    const keys = (await readdir(certs, { recursive: true })).filter((f) => f.endsWith('.key'));
    assert.ok(keys.length >= 3, `the CA, server and user keys are there: ${keys.join(', ')}`);
    for (const k of keys) {
      const st = await stat(path.join(certs, k));
      assert.equal(st.mode & 0o777, 0o600, `${k} is 0600, not ${(st.mode & 0o777).toString(8)}`);
    }
  });

  it('writePrivateFile: the named error says what was wrong and the fix', async () => {
    const file = path.join(out, 'direct.key');
    await writePrivateFile(file, 'k');
    await assert.rejects(writePrivateFile(file, 'k2'), (err: unknown) => {
      assert.ok(err instanceof PrivateFileError, 'a PrivateFileError');
      assert.match(err.message, /direct\.key exists; pass --force to replace it/, 'what and the fix');
      return true;
    });
    const dirAsFile = path.join(out, 'a-folder');
    await mkdir(dirAsFile);
    await assert.rejects(writePrivateFile(dirAsFile, 'k', { force: true }), /not a regular file/);
  });
});
