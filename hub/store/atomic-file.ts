/**
 * The hub's durable-state writes (sample segments, the seen-ids log, site meta, the registry): the shared crash-safe
 * primitives with a fixed temporary suffix (a store deletes leftovers at open) and failures coded `STORE_WRITE`.
 */
import * as shared from '../../shared/fs/atomic-file';
import { ErrorCode, SitekdError } from '../../shared/errors';

export { quarantineFile, syncDir } from '../../shared/fs/atomic-file';

/** Suffix of in-flight temporary files; a store that finds one at open deletes it (the write never completed). */
export const TMP_SUFFIX = '.tmp';

/**
 * Writes `bytes` to `path` atomically (durably unless `durable: false`: for files rebuilt from others after a crash).
 * Failures are `STORE_WRITE`, and leave no temporary file behind.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string, opts: { readonly durable?: boolean } = {}): Promise<void> {
  try {
    await shared.writeFileAtomic(path, bytes, { tmpPath: `${path}${TMP_SUFFIX}`, durable: opts.durable ?? true });
  } catch (err) {
    throw new SitekdError(ErrorCode.STORE_WRITE, `cannot write ${path}`, { cause: err, details: { path } });
  }
}

/** Appends and fsyncs, so an acknowledged record is on disk. Failures are `STORE_WRITE`. */
export async function appendDurable(path: string, text: string): Promise<void> {
  try {
    await shared.appendDurable(path, text);
  } catch (err) {
    throw new SitekdError(ErrorCode.STORE_WRITE, `cannot append to ${path}`, { cause: err, details: { path } });
  }
}
