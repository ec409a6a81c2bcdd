/**
 * Retention of the sample store (hub/store/sample-store.ts): after each group commit and at open, a site's oldest
 * segments go beyond `maxWindowsPerSite` (its newest batch always stays), then, while all sites together hold more
 * than `maxBytesTotal` bytes, the largest site loses its oldest segment (never the batch just added). Kept apart from
 * the store's commit and read code: it only decides what goes and removes it, the store runs it inside its queue.
 */
import * as fs from 'node:fs/promises';
import type { SegmentRef } from './group-commit';
import type { PackBook } from './sample-packs';
import { detachSegment, type SiteState } from './sample-site';

/** What retention needs of the store. */
export interface RetentionHost {
  readonly bySite: ReadonlyMap<string, SiteState>;
  readonly maxWindowsPerSite: number;
  readonly maxBytesTotal: number;
  readonly packs: PackBook;
  /** Counts one evicted segment (the store's stats). */
  evicted(): void;
}

export async function enforceRetention(h: RetentionHost, keep: SegmentRef | undefined): Promise<void> {
  for (const st of h.bySite.values()) {
    while (st.windows > h.maxWindowsPerSite && st.segments.length > 1) await evict(h, st, st.segments[0] as SegmentRef);
  }
  let total = 0;
  for (const st of h.bySite.values()) total += st.bytes;
  if (total <= h.maxBytesTotal) return await h.packs.flush();
  while (total > h.maxBytesTotal) {
    // The largest site pays first, so a quiet site does not lose its few windows to a chatty one.
    const victims = [...h.bySite.values()].filter((st) => st.segments.some((s) => s !== keep)).sort((a, b) => b.bytes - a.bytes);
    const st = victims[0];
    const ref = st?.segments.find((s) => s !== keep);
    if (st === undefined || ref === undefined) return;
    await evict(h, st, ref);
    total -= ref.bytes;
  }
  await h.packs.flush();
}

async function evict(h: RetentionHost, st: SiteState, ref: SegmentRef): Promise<void> {
  detachSegment(st, ref);
  h.evicted();
  // Its id stays in the seen log, so a resend is still a duplicate. A failed unlink (or a lost tombstone) only
  // leaves the batch until the next open, which evicts it again.
  if (ref.pack !== undefined && ref.offset !== undefined) await h.packs.release(ref.pack, ref.offset, false);
  else await fs.rm(ref.file, { force: true }).catch(() => undefined);
}
