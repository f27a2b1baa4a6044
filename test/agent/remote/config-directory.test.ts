import assert from 'node:assert/strict';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigDirectoryWatcher, type ConfigDirectoryListener } from '../../../src/kvstore/remote/config-directory.js';
import { ConfigDir, sleepMs, waitFor } from './helpers.js';

class Events implements ConfigDirectoryListener {
  readonly log: string[] = [];
  onAdd(cluster: string, file: string): void {
    this.log.push(`add ${cluster} ${path.basename(file)}`);
  }
  onChange(cluster: string): void {
    this.log.push(`change ${cluster}`);
  }
  onRemove(cluster: string): void {
    this.log.push(`remove ${cluster}`);
  }
}

const CONFIG = 'endpoints:\n- http://127.0.0.1:1\n';

describe('ConfigDirectoryWatcher', () => {
  const dirs: ConfigDir[] = [];
  const watchers: ConfigDirectoryWatcher[] = [];
  after(async () => {
    for (const w of watchers) w.stop();
    for (const d of dirs) await d.cleanup();
  });

  it('reports files present at start synchronously, ignoring the local cluster, dotfiles, bad names and non-configs', async () => {
    const d = await ConfigDir.create();
    dirs.push(d);
    await writeFile(d.file('c2'), CONFIG);
    await writeFile(d.file('c3'), CONFIG);
    await writeFile(d.file('local'), CONFIG);
    await writeFile(d.file('..data'), CONFIG);
    await writeFile(d.file('.hidden'), CONFIG);
    await writeFile(d.file('Bad_Name'), CONFIG);
    await writeFile(d.file('readme'), 'not an etcd config\n');
    await mkdir(d.file('subdir'));
    const ev = new Events();
    const w = new ConfigDirectoryWatcher({ dir: d.dir, localClusterName: 'local', listener: ev, debounceMs: 20 });
    watchers.push(w);
    w.start();
    assert.deepEqual(ev.log.sort(), ['add c2 c2', 'add c3 c3']);
    assert.deepEqual([...w.clusters().keys()].sort(), ['c2', 'c3']);
  });

  it('follows additions, content changes (not mere touches) and removals', async () => {
    const d = await ConfigDir.create();
    dirs.push(d);
    const ev = new Events();
    // A long rescan interval: changes must be seen through fs.watch.
    const w = new ConfigDirectoryWatcher({
      dir: d.dir,
      localClusterName: 'local',
      listener: ev,
      debounceMs: 20,
      rescanMs: 60_000,
    });
    watchers.push(w);
    w.start();
    assert.deepEqual(ev.log, []);

    await writeFile(d.file('c2'), CONFIG);
    await waitFor(
      'add',
      () => ev.log.includes('add c2 c2'),
      () => ev.log,
    );

    const now = new Date();
    await utimes(d.file('c2'), now, now);
    await writeFile(d.file('c2'), CONFIG); // same content rewritten
    await sleepMs(300);
    assert.deepEqual(ev.log, ['add c2 c2']);

    await writeFile(d.file('c2'), CONFIG + 'dial-timeout: 5s\n');
    await waitFor(
      'change',
      () => ev.log.includes('change c2'),
      () => ev.log,
    );

    // A file that stops looking like an etcd config is treated as removed.
    await writeFile(d.file('c2'), 'garbage\n');
    await waitFor(
      'remove',
      () => ev.log.includes('remove c2'),
      () => ev.log,
    );
    assert.deepEqual(ev.log, ['add c2 c2', 'change c2', 'remove c2']);

    await writeFile(d.file('c4'), CONFIG);
    await waitFor(
      'add c4',
      () => ev.log.includes('add c4 c4'),
      () => ev.log,
    );
    await rm(d.file('c4'));
    await waitFor(
      'remove c4',
      () => ev.log.includes('remove c4'),
      () => ev.log,
    );
  });

  it('handles a directory that does not exist yet, and one removed and created again', async () => {
    const parent = await ConfigDir.create();
    dirs.push(parent);
    const dir = path.join(parent.dir, 'clustermesh');
    const ev = new Events();
    const w = new ConfigDirectoryWatcher({
      dir,
      localClusterName: 'local',
      listener: ev,
      debounceMs: 20,
      rescanMs: 200,
    });
    watchers.push(w);
    w.start();
    assert.deepEqual(ev.log, []);

    await mkdir(dir);
    await writeFile(path.join(dir, 'c2'), CONFIG);
    await waitFor(
      'add after the directory appeared',
      () => ev.log.includes('add c2 c2'),
      () => ev.log,
    );

    await rm(dir, { recursive: true });
    await waitFor(
      'remove with the directory',
      () => ev.log.includes('remove c2'),
      () => ev.log,
    );

    await mkdir(dir);
    await writeFile(path.join(dir, 'c5'), CONFIG);
    await waitFor(
      'add in the new directory',
      () => ev.log.includes('add c5 c5'),
      () => ev.log,
    );
  });
});
