/**
 * Compaction of the sample store's packs (hub/store/sample-packs.ts). A pack is deleted only with its last batch, and a
 * group commit packs the batches of every site that arrived together, so one quiet site's newest batch kept a pack of a
 * busy site's evicted ones on disk: with thirty groups of ten busy batches and one quiet one, the pack files came to 5.6
 * times the batches the store held (test/unit/hub-sample-packs.test.ts), and `maxBytesTotal` bounded only the latter.
 *
 * So after retention, once the pack files take more than twice the bytes of the batches they hold, the packs
 * whose live batches are at most a quarter of those written in them are rewritten, the emptiest first: their live
 * batches, byte for byte, go into one new pack (written durably, like a group's), the store's references move to it,
 * and the old packs are deleted. Below twice nothing is rewritten: when every site is about as busy, packs die whole
 * in the order they were written, and rewriting each one's last quarter just before it goes would only cost reads and
 * writes. A crash between the new pack's write and the old ones' deletion leaves those batches in two packs; the
 * store's open keeps one and tombstones the other, identical copy (hub/store/sample-store-open.ts). Runs inside the
 * store's queue, so no read or commit sees a half-moved batch.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import type { DurableWriter } from './durable-writer';
import type { SegmentRef } from './group-commit';
import { framePack, packName, type PackBook } from './sample-packs';
import { replaceSegment, type SiteState } from './sample-site';

/** A pack is rewritten once its live batches are at most this share of those written in it. */
export const SPARSE_SHARE = 0.25;
/** Compaction starts once the pack files take more than this many times the bytes of the batches held. */
export const DISK_FACTOR = 2;
/** Live bytes moved in one pass at most, so a pass never holds the store's queue for long. */
const PASS_BYTES = 32 * 1024 * 1024;

export interface CompactionHost {
  readonly bySite: ReadonlyMap<string, SiteState>;
  readonly packs: PackBook;
  readonly writer: DurableWriter;
  readonly now: () => number;
}

/** Rewrites the sparse packs (module comment); returns how many packs were retired. A failed write changes nothing. */
export async function compactPacks(h: CompactionHost): Promise<number> {
  // Live bytes in packs only: an older store's segment files are not in the pack files compared against.
  let held = 0;
  for (const st of h.bySite.values()) for (const ref of st.segments) if (ref.pack !== undefined) held += ref.bytes;
  if (h.packs.bytes <= DISK_FACTOR * held) return 0;
  const sparse = h.packs.sparse(SPARSE_SHARE);
  if (sparse.length === 0) return 0;
  const byPack = new Map<string, Array<{ st: SiteState; ref: SegmentRef }>>(sparse.map((p) => [p, []]));
  for (const st of h.bySite.values()) for (const ref of st.segments) if (ref.pack !== undefined) byPack.get(ref.pack)?.push({ st, ref });
  const moving: Array<{ st: SiteState; ref: SegmentRef; bytes: Uint8Array }> = [];
  const retiring: string[] = [];
  let budget = PASS_BYTES;
  for (const [pack, live] of byPack) {
    if (budget <= 0) break;
    const file = live[0]?.ref.file;
    // One read of the whole pack, not one per batch: the pass runs in the store's queue, so commits wait for it.
    const buf = file === undefined ? undefined : await fs.readFile(file).catch(() => undefined);
    const read = live.map((x) => ({ ...x, bytes: slice(buf, x.ref) }));
    // A batch that cannot be read now stays where it is; the read that wants it quarantines it, and the pack goes then.
    if (read.some((x) => x.bytes === undefined)) continue;
    for (const x of read) moving.push({ st: x.st, ref: x.ref, bytes: x.bytes as Uint8Array });
    retiring.push(pack);
    budget -= live.reduce((s, x) => s + x.ref.bytes, 0);
  }
  if (moving.length === 0) return 0;
  const pack = packName(h.now());
  const file = join(h.packs.dir, pack);
  const { bytes, offsets } = framePack(moving.map((x) => x.bytes));
  try {
    await h.writer.run({ write: { file, bytes } });
  } catch {
    await fs.rm(file, { force: true }).catch(() => undefined);
    return 0; // the old packs stay; the next pass tries again
  }
  h.packs.created(pack, moving.length, bytes.length);
  h.packs.hold(pack, moving.length);
  moving.forEach((x, i) => replaceSegment(x.st, x.ref, { ...x.ref, file, pack, offset: offsets[i] as number }));
  for (const old of retiring) await h.packs.drop(old);
  return retiring.length;
}

function slice(buf: Buffer | undefined, ref: SegmentRef): Uint8Array | undefined {
  if (buf === undefined || ref.offset === undefined || ref.offset + ref.bytes > buf.length) return undefined;
  return buf.subarray(ref.offset, ref.offset + ref.bytes);
}
