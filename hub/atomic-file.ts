/**
 * Crash-safe file writes for the hub's durable state (sample segments, the seen-ids log, site meta, the registry).
 * A reader sees either the old content or the new one, never a torn file: write a temporary file, fsync it, rename it
 * over the target, then fsync the directory so the rename itself survives a power loss.
 */
import * as fs from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, SitekdError } from '../shared/errors';

/** Suffix of in-flight temporary files; a store that finds one at open deletes it (the write never completed). */
export const TMP_SUFFIX = '.tmp';

/** Writes `bytes` to `path` atomically. Failures are `STORE_WRITE`, and leave no temporary file behind. */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${path}${TMP_SUFFIX}`;
  try {
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new SitekdError(ErrorCode.STORE_WRITE, `cannot write ${path}`, { cause: err, details: { path } });
  }
  await syncDir(dirname(path));
}

/** Appends and fsyncs, so an acknowledged record is on disk. Failures are `STORE_WRITE`. */
export async function appendDurable(path: string, text: string): Promise<void> {
  try {
    const fh = await fs.open(path, 'a');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new SitekdError(ErrorCode.STORE_WRITE, `cannot append to ${path}`, { cause: err, details: { path } });
  }
}

/**
 * Moves a file that failed its checks aside as `<path>.bad` (replacing an older one), so it is kept for inspection
 * but never read again. Best effort: if even the rename fails the file is left where it is and the caller skips it.
 */
export async function quarantineFile(path: string): Promise<void> {
  await fs.rename(path, `${path}.bad`).catch(() => undefined);
}

// Best effort: some platforms/filesystems refuse fsync on a directory, and the file itself is complete already.
export async function syncDir(dir: string): Promise<void> {
  try {
    const dh = await fs.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // ignored on purpose, see above
  }
}
