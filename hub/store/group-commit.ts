/**
 * One group commit of the sample store (hub/store/sample-store.ts): every batch that was waiting is checked, given
 * its sequence numbers and encoded, their segments are written durably together (hub/store/segment-writer.ts), their
 * ids go into the seen log with one append + fsync, and only then is each batch's promise resolved (and so acked).
 *
 * Failures stay per batch where they can: a bad shape or a failed segment write rejects that batch alone. If the seen
 * log append fails, every segment of the group is removed (without its id a segment's sequence number would be handed
 * out again) and every batch of the group rejects with `STORE_WRITE`, so none is acked and the agents resend.
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
import { writeSegments } from './segment-writer';

/** At most this many batches per commit: bounds a group's memory and the latency of its first batch. */
export const MAX_GROUP = 256;

export interface SegmentRef {
  readonly file: string;
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
  /** The site's directory, created on its first batch; throws `INPUT_SHAPE` if the site stores another shape. */
  site(site: string, dirName: string, shape: Shape): Promise<{ dir: string }>;
  attach(site: string, ref: SegmentRef): void;
  enforceRetention(keep: SegmentRef | undefined): Promise<void>;
}

interface Prepared {
  readonly p: PendingBatch;
  readonly ref: SegmentRef;
  readonly bytes: Uint8Array;
  /** Copies of the same batch later in the group. */
  readonly copies: PendingBatch[];
}

export async function commitGroup(host: GroupHost, group: readonly PendingBatch[]): Promise<void> {
  const prepared = await prepare(host, group);
  const errors = await writeSegments(prepared.map((x) => ({ file: x.ref.file, bytes: x.bytes })));
  const ok = prepared.filter((_, i) => errors[i] === undefined);
  prepared.forEach((x, i) => {
    const err = errors[i];
    if (err !== undefined) for (const p of [x.p, ...x.copies]) p.reject(err);
  });
  try {
    await host.seen.addMany(ok.map((x): SeenEntry => ({ site: x.p.site, batchId: x.ref.batchId, seq: x.ref.seq, n: x.ref.n })));
  } catch (err) {
    await Promise.all(ok.map((x) => fs.rm(x.ref.file, { force: true }).catch(() => undefined)));
    for (const x of ok) for (const p of [x.p, ...x.copies]) p.reject(err);
    return;
  }
  for (const x of ok) host.attach(x.p.site, x.ref);
  // Retention runs before anyone is told: a read that follows the ack sees the store within its caps.
  await host.enforceRetention(ok.at(-1)?.ref).catch(() => undefined);
  for (const x of ok) {
    x.p.resolve({ stored: x.ref.n, duplicate: false });
    for (const c of x.copies) c.resolve({ stored: 0, duplicate: true });
  }
}

/** Checks, dedupes and encodes the group; batches refused here are rejected at once. */
async function prepare(host: GroupHost, group: readonly PendingBatch[]): Promise<Prepared[]> {
  const out: Prepared[] = [];
  const byKey = new Map<string, Prepared>();
  const nextSeq = new Map<string, number>();
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
      const ref: SegmentRef = { file: join(dir, `${String(seq).padStart(12, '0')}.seg`), batchId: batch.batchId, seq, n: batch.n, bytes: bytes.length };
      const x: Prepared = { p, ref, bytes, copies: [] };
      byKey.set(key, x);
      out.push(x);
    } catch (err) {
      p.reject(isSitekdError(err) ? err : new SitekdError(ErrorCode.STORE_WRITE, `storing batch ${batch.batchId} failed`, { cause: err }));
    }
  }
  return out;
}
