/**
 * Clusters created with default CIDRs serve their pods (10.<id>.x.x) and frontends on loopback addresses derived
 * from their ID (127.<id>.x.x), and those addresses are global to the machine: two test files that run at the same
 * time with a cluster of the same ID in different homes would take each other's sockets. A test that creates such
 * clusters holds a lock per ID for as long as its clusters live; another test that needs the same ID waits for it.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const LOCK_DIR = path.join(tmpdir(), 'cmesh-test-loopback-locks');
const POLL_MS = 200;
const WAIT_MS = 15 * 60_000;

function lockPath(id: number): string {
  return path.join(LOCK_DIR, `cluster-id-${id}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function acquire(id: number): Promise<void> {
  await mkdir(LOCK_DIR, { recursive: true });
  const dir = lockPath(id);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      await mkdir(dir);
      await writeFile(path.join(dir, 'pid'), String(process.pid));
      return;
    } catch {
      // Held: by a live test process, or left by a crashed one (then taken over).
      const owner = Number(await readFile(path.join(dir, 'pid'), 'utf8').catch(() => '0'));
      if (owner > 0 && !alive(owner)) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
    }
    if (Date.now() > deadline) throw new Error(`waited ${WAIT_MS / 1000}s for the loopback range of cluster ID ${id}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Takes the locks of `ids` (in order, so that two tests never wait for each other); resolves to the release. */
export async function lockClusterIds(ids: readonly number[]): Promise<() => Promise<void>> {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  for (const id of sorted) await acquire(id);
  return async () => {
    for (const id of sorted) await rm(lockPath(id), { recursive: true, force: true });
  };
}
