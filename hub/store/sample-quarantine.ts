/**
 * Where implausible sample batches go (hub/store/sample-hygiene.ts): `quarantine/<site dir>/<segment file>` beside the
 * store's `sites/`, with a `.json` note of why. Kept, not deleted, so that an operator can look at what an agent sent
 * and move a batch back; outside `sites/`, so the store never loads it again. Its batch id stays in the seen log, so
 * the agent's resend of it is a duplicate and is not stored a second time.
 */
import * as fs from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ErrorCode } from '../../shared/errors';
import { writeFileAtomic } from './atomic-file';

export interface ImplausibleRecord {
  readonly site: string;
  readonly batchId: string;
  readonly agent: string;
  /** Where the segment is now. */
  readonly file: string;
  readonly code: typeof ErrorCode.SAMPLES_IMPLAUSIBLE;
  readonly reason: string;
}

/** Moves `file` (or writes `bytes` as `file`) into the quarantine directory with its note; returns the record (the file's new path). */
export async function quarantineImplausible(
  storeDir: string, siteDirName: string, file: string, info: { site: string; batchId: string; agent: string; reason: string; at: number },
  bytes?: Uint8Array,
): Promise<ImplausibleRecord> {
  const dir = join(storeDir, 'quarantine', siteDirName);
  await fs.mkdir(dir, { recursive: true });
  const target = join(dir, basename(file));
  await writeFileAtomic(`${target}.json`, `${JSON.stringify({ ...info, code: ErrorCode.SAMPLES_IMPLAUSIBLE }, null, 2)}\n`);
  if (bytes !== undefined) {
    // A batch from a pack (hub/store/sample-packs.ts): written out as a segment file named `file`; the caller tombstones it.
    await writeFileAtomic(target, bytes).catch(() => undefined);
  } else {
    // A rename within the store's file system; if even that fails, the segment must still leave the site (deleted).
    await fs.rename(file, target).catch(() => fs.rm(file, { force: true }));
  }
  return { site: info.site, batchId: info.batchId, agent: info.agent, file: target, code: ErrorCode.SAMPLES_IMPLAUSIBLE, reason: info.reason };
}

/** Quarantined batches found on disk at open, per site directory name. */
export async function countQuarantined(storeDir: string): Promise<number> {
  const root = join(storeDir, 'quarantine');
  let n = 0;
  for (const d of await fs.readdir(root).catch(() => [] as string[])) {
    n += (await fs.readdir(join(root, d)).catch(() => [] as string[])).filter((f) => f.endsWith('.seg')).length;
  }
  return n;
}
