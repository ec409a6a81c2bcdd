/**
 * Durable writes of a group of segment files for the sample store's group commit (hub/store/sample-store.ts).
 *
 * Each file is written the crash-safe way (temporary file, fsync, rename), like shared/fs/atomic-file.ts, but the
 * directory fsync that makes a rename durable is done once per directory for the whole group instead of once per
 * file, and the files' writes and fsyncs run concurrently (libuv's thread pool), so a file system that commits its
 * journal once for several fsyncs pays that once. Nothing here is acknowledged: the store acks only after the group's
 * batch ids are in the fsynced seen log, and a crash before that leaves either a `.tmp` file (deleted at open) or a
 * renamed segment whose id is missing from the log (added back at open).
 */
import * as fs from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { syncDir, TMP_SUFFIX } from './atomic-file';

export interface SegmentWrite {
  readonly file: string;
  readonly bytes: Uint8Array;
}

/** Per write, in order: undefined when it is durable, else the `STORE_WRITE` error (its file is removed). */
export async function writeSegments(writes: readonly SegmentWrite[]): Promise<Array<SitekdError | undefined>> {
  const results = await Promise.all(writes.map((w) => writeOne(w).then(() => undefined, (err: unknown) => storeWrite(w.file, err))));
  const dirs = new Set(writes.filter((_, i) => results[i] === undefined).map((w) => dirname(w.file)));
  await Promise.all([...dirs].map((d) => syncDir(d)));
  return results;
}

async function writeOne(w: SegmentWrite): Promise<void> {
  const tmp = `${w.file}${TMP_SUFFIX}`;
  try {
    const fh = await fs.open(tmp, 'w');
    try {
      await fh.writeFile(w.bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, w.file);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

function storeWrite(file: string, err: unknown): SitekdError {
  return new SitekdError(ErrorCode.STORE_WRITE, `cannot write ${file}`, { cause: err, details: { path: file } });
}
