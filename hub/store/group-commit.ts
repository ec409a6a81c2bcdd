/**
 * One group commit of the sample store (hub/store/sample-store.ts): every batch that was waiting is checked, given
 * its sequence numbers and encoded, the group goes into one pack file written durably (hub/store/sample-packs.ts),
 * their ids go into the seen log with one append + fsync, and only then is each batch's promise resolved (and so
 * acked): three fsyncs per group, whatever its size.
 *
 * A bad batch (shape, values) is rejected alone before the write. If the pack cannot be written, or the seen log
 * append fails, the pack is removed (without its ids a pack's sequence numbers would be handed out again) and every
 * batch of the group rejects with `STORE_WRITE`, so none is acked and the agents resend.
 * A second copy of a batch inside one group is a duplicate, answered only once the first copy is durable.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { isSitekdError, ErrorCode, SitekdError } from '../../shared/errors';
import type { AddResult, SampleBatch, Shape } from './sample-set';
import { selectionCodes } from './sample-set';
import { encodeSegment } from './sample-segment';
import { checkBatch } from './sample-store-checks';
import type { SeenEntry, SeenIds } from './seen-ids';
import type { DurableWriter } from './durable-writer';
import { framePack, packName, type PackBook } from './sample-packs';

/**
 * At most this many batches per commit: bounds a group's memory (a one-window batch is ~4.7 kB, so ~5 MB) and the
 * latency of its first batch. A group costs three fsyncs whatever its size, so a backlog left by a stall (the disk,
 * or the CPU taken by other processes) drains in a few commits.
 */
export const MAX_GROUP = 1024;

export interface SegmentRef {
  /** The segment file, or the pack holding the segment (then `pack` and `offset` are set). */
  readonly file: string;
  /** The pack's name in `packs/` and the segment's offset in it; absent for a segment file of an older store. */
  readonly pack?: string;
  readonly offset?: number;
  readonly batchId: string;
  readonly seq: number;
  readonly n: number;
  readonly bytes: number;
}

export interface PendingBatch {
  readonly site: string;
  readonly batch: SampleBatch;
  readonly resolve: (r: AddResult) => void;
  readonly reject: (err: unknown) => void;
}

export interface GroupHost {
  readonly seen: SeenIds;
  readonly now: () => number;
  readonly packs: PackBook;
  readonly writer: DurableWriter;
  /** The site's directory, created on its first batch; throws `INPUT_SHAPE` if the site stores another shape. */
  site(site: string, dirName: string, shape: Shape): Promise<{ dir: string }>;
  hasSite(site: string): boolean;
  attach(site: string, ref: SegmentRef): void;
  enforceRetention(keep: SegmentRef | undefined): Promise<void>;
}

interface Prepared {
  readonly p: PendingBatch;
  ref: SegmentRef;
  readonly bytes: Uint8Array;
  /** Copies of the same batch later in the group. */
  readonly copies: PendingBatch[];
}

export async function commitGroup(host: GroupHost, group: readonly PendingBatch[]): Promise<void> {
  const prepared = await prepare(host, group);
  if (prepared.length === 0) return;
  const pack = packName(host.now());
  const file = join(host.packs.dir, pack);
  const { bytes, offsets } = framePack(prepared.map((x) => x.bytes));
  prepared.forEach((x, i) => (x.ref = { ...x.ref, file, pack, offset: offsets[i] as number }));
  const failAll = async (err: unknown): Promise<void> => {
    await fs.rm(file, { force: true }).catch(() => undefined);
    const e = isSitekdError(err) ? err : new SitekdError(ErrorCode.STORE_WRITE, `cannot write ${file}`, { cause: err });
    for (const x of prepared) for (const p of [x.p, ...x.copies]) p.reject(e);
  };
  const entries = prepared.map((x): SeenEntry => ({ site: x.p.site, batchId: x.ref.batchId, seq: x.ref.seq, n: x.ref.n }));
  try {
    // Pack, then ids, in one worker-thread sequence (hub/store/durable-writer.ts); the ids only if the pack is durable.
    await host.writer.run({ write: { file, bytes }, append: { file: host.seen.file, text: host.seen.logText(entries) } });
    await host.seen.appended(entries);
  } catch (err) {
    return await failAll(err);
  }
  host.packs.created(pack, prepared.length, bytes.length);
  host.packs.hold(pack, prepared.length);
  for (const x of prepared) host.attach(x.p.site, x.ref);
  // Retention runs before anyone is told: a read that follows the ack sees the store within its caps.
  await host.enforceRetention(prepared.at(-1)?.ref).catch(() => undefined);
  for (const x of prepared) {
    x.p.resolve({ stored: x.ref.n, duplicate: false });
    for (const c of x.copies) c.resolve({ stored: 0, duplicate: true });
  }
}

/**
 * A site's first batch creates its directory and meta.json (a durable write); the new sites of a group are created
 * concurrently, not one after another: when hundreds of sites start at once, one after another took seconds, and the
 * backlog meanwhile made the hub answer busy. A failure here is left to the batch's own turn in `prepare`.
 */
async function createSites(host: GroupHost, group: readonly PendingBatch[]): Promise<void> {
  const firsts = new Map<string, PendingBatch>();
  for (const p of group) if (!host.hasSite(p.site) && !firsts.has(p.site)) firsts.set(p.site, p);
  await Promise.all([...firsts.values()].map(async ({ site, batch }) => {
    try {
      const shape: Shape = { channels: batch.channels, windowLength: batch.windowLength, numClasses: batch.numClasses };
      await host.site(site, checkBatch(site, batch), shape);
    } catch {
      // the batch is checked again, and refused with its code, in prepare
    }
  }));
}

/** Checks, dedupes and encodes the group; batches refused here are rejected at once. */
async function prepare(host: GroupHost, group: readonly PendingBatch[]): Promise<Prepared[]> {
  const out: Prepared[] = [];
  const byKey = new Map<string, Prepared>();
  const nextSeq = new Map<string, number>();
  await createSites(host, group);
  for (const p of group) {
    const { site, batch } = p;
    try {
      const dirName = checkBatch(site, batch);
      const key = `${site}\u0000${batch.batchId}`;
      const first = byKey.get(key);
      if (first !== undefined) {
        first.copies.push(p);
        continue;
      }
      if (host.seen.has(site, batch.batchId)) {
        p.resolve({ stored: 0, duplicate: true });
        continue;
      }
      const shape: Shape = { channels: batch.channels, windowLength: batch.windowLength, numClasses: batch.numClasses };
      const { dir } = await host.site(site, dirName, shape);
      const seq = nextSeq.get(site) ?? host.seen.highWater(site) + 1;
      nextSeq.set(site, seq + batch.n);
      const bytes = encodeSegment({
        header: {
          site, batchId: batch.batchId, agent: batch.agent, modelVersion: batch.modelVersion, seq, n: batch.n, ...shape, receivedAt: host.now(),
          windowStarts: [...batch.windowStarts], ...(batch.selectedBy !== undefined ? { selectedBy: selectionCodes(batch.selectedBy) as Array<0 | 1> } : {}),
        },
        windows: batch.windows,
        logits: batch.logits,
      });
      const ref: SegmentRef = { file: dir, batchId: batch.batchId, seq, n: batch.n, bytes: bytes.length }; // file: the pack's, set by commitGroup
      const x: Prepared = { p, ref, bytes, copies: [] };
      byKey.set(key, x);
      out.push(x);
    } catch (err) {
      p.reject(isSitekdError(err) ? err : new SitekdError(ErrorCode.STORE_WRITE, `storing batch ${batch.batchId} failed`, { cause: err }));
    }
  }
  return out;
}

/** Which windows of which segments (oldest first) a read takes: the newest `limit` of those in (afterSeq, upToSeq]. */
export function pickWindows(
  segments: readonly SegmentRef[], o: { readonly afterSeq?: number; readonly upToSeq?: number; readonly limit?: number },
): Array<{ ref: SegmentRef; from: number; to: number }> {
  const [afterSeq, upToSeq] = [o.afterSeq ?? 0, o.upToSeq ?? Number.POSITIVE_INFINITY];
  let remaining = o.limit ?? Number.POSITIVE_INFINITY;
  const picks: Array<{ ref: SegmentRef; from: number; to: number }> = [];
  for (let i = segments.length - 1; i >= 0 && remaining > 0; i--) {
    const ref = segments[i] as SegmentRef;
    const lo = Math.max(0, afterSeq - ref.seq + 1); // first index with seq > afterSeq
    if (lo >= ref.n) break; // older segments have smaller sequence numbers
    const hi = Math.min(ref.n, upToSeq - ref.seq + 1); // past the last index with seq ≤ upToSeq
    if (hi <= lo) continue;
    const take = Math.min(hi - lo, remaining);
    picks.unshift({ ref, from: hi - take, to: hi });
    remaining -= take;
  }
  return picks;
}
