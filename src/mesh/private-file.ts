/**
 * The one way cmesh writes a file holding a key (or embedding one: an install script, a ClusterMesh secret): created
 * exclusively (O_CREAT|O_EXCL) with O_NOFOLLOW and an owner-only mode, so that a symlink planted at the path is never
 * followed and an existing file's looser mode is never kept.
 */
import { constants } from 'node:fs';
import { lstat, open, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';

export class PrivateFileError extends Error {
  override name = 'PrivateFileError';
}

export interface PrivateFileOptions {
  /** Replace an existing regular file (a symlink is refused even so). */
  force?: boolean;
  /** Owner-only mode (default 0600; 0700 for a script run directly). */
  mode?: 0o600 | 0o700;
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

async function createExclusive(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  const fh = await open(file, CREATE_FLAGS, mode);
  try {
    await fh.chmod(mode); // the umask may only have removed bits; make the mode exact
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes a new private file at `file`. Refuses a symlink (always), anything but a regular file, and an existing
 * file unless `force` (then the file is removed first and created anew, never written through).
 */
export async function writePrivateFile(
  file: string,
  data: string | Uint8Array,
  opts: PrivateFileOptions = {},
): Promise<void> {
  const mode = opts.mode ?? 0o600;
  const name = path.basename(file);
  const st = await lstat(file).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  });
  if (st?.isSymbolicLink()) {
    throw new PrivateFileError(
      `${file} is a symbolic link: a file holding a key is never written through one (not even with --force); remove the link or choose another path`,
    );
  }
  if (st && !st.isFile()) throw new PrivateFileError(`${file} exists and is not a regular file; choose another path`);
  if (st && !opts.force) throw new PrivateFileError(`${name} exists; pass --force to replace it`);
  if (st) await unlink(file);
  try {
    await createExclusive(file, data, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP') {
      throw new PrivateFileError(`${file} appeared while it was being written (another writer?); try again`, {
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Replaces `file` atomically with a private file: a temp file created exclusively (O_EXCL|O_NOFOLLOW, 0600) in the
 * same folder, then renamed over it (rename replaces a symlink, never follows it). For the files cmesh owns under
 * $CMESH_HOME that daemons follow at run time and must never read half of. The temp file is a dotfile, which
 * config-directory watchers ignore.
 */
export async function writePrivateFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Date.now()}`);
  try {
    await createExclusive(tmp, data, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
