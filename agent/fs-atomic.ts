/**
 * Crash-safe file writes for the agent's own files (model store, chunk staging): write `<path>.tmp-<pid>`, optionally
 * fsync it, rename over `path`, optionally fsync the directory. A crash leaves the old file or the new one, never a
 * torn one under the final name (as shared/artifact/artifact-file.ts and agent/outbox.ts do).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export async function writeFileAtomic(file: string, bytes: Uint8Array | string, opts: { durable: boolean }): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      if (opts.durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  if (opts.durable) await syncDir(path.dirname(file));
}

/** Flushes a directory entry (a rename is durable only then). Best effort: some file systems refuse it. */
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

export function isNotFound(err: unknown): boolean {
  return err instanceof Error && 'code' in err && (err as { code?: unknown }).code === 'ENOENT';
}
