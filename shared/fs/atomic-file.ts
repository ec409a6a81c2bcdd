/**
 * Crash-safe file writes shared by the hub's stores, the agent's model store and outbox, and model artifacts.
 * A reader sees either the old content or the new one, never a torn file: write a temporary file, fsync it, rename it
 * over the target, then fsync the directory so the rename itself survives a power loss. Errors are the raw fs errors:
 * each caller wraps them in its own code (STORE_WRITE, OUTBOX_IO, MODEL_WRITE, …).
 */
import * as fs from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** Temporary file name (default `<path>.tmp-<pid>`); stores that clean up leftovers at open pick a fixed suffix. */
  readonly tmpPath?: string;
  /** fsync file and directory (default true); false for caches that may be lost. */
  readonly durable?: boolean;
  /** Permissions of a newly created file (default 0o666 before the umask); 0o600 for secrets. */
  readonly mode?: number;
}

export async function writeFileAtomic(path: string, bytes: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = opts.tmpPath ?? `${path}.tmp-${process.pid}`;
  const durable = opts.durable ?? true;
  try {
    const fh = await fs.open(tmp, 'w', opts.mode ?? 0o666);
    try {
      await fh.writeFile(bytes);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  if (durable) await syncDir(dirname(path));
}

/** Appends and fsyncs, so an acknowledged record is on disk. */
export async function appendDurable(path: string, text: string): Promise<void> {
  const fh = await fs.open(path, 'a');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a directory entry (a rename is durable only then). Best effort: some file systems refuse fsync on a directory. */
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

/**
 * Moves a file that failed its checks aside as `<path>.bad` (replacing an older one): kept for inspection, never read
 * again. Best effort: if even the rename fails the file stays and the caller skips it.
 */
export async function quarantineFile(path: string): Promise<void> {
  await fs.rename(path, `${path}.bad`).catch(() => undefined);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof Error && 'code' in err && (err as { code?: unknown }).code === 'ENOENT';
}
