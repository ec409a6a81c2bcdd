/**
 * The in-memory state the sample store (hub/store/sample-store.ts) keeps per site: its shape and its segments in
 * sequence order, with running totals of windows and bytes. Kept apart so the code that fills it at open
 * (hub/store/sample-store-open.ts) and the store's commits, reads and evictions change it the same way.
 */
import type { SegmentRef } from './group-commit';
import { describeShape, sameShape, type Shape } from './sample-set';

export interface SiteState {
  readonly site: string;
  readonly dir: string;
  shape: Shape;
  readonly segments: SegmentRef[]; // by seq, oldest first
  /** The same segments by batch id: a store's open checks every segment for a repeat (a scan each was quadratic). */
  readonly byBatch: Map<string, SegmentRef>;
  windows: number;
  bytes: number;
}

export function newSite(site: string, dir: string, s: Shape): SiteState {
  return { site, dir, shape: { channels: s.channels, windowLength: s.windowLength, numClasses: s.numClasses }, segments: [], byBatch: new Map(), windows: 0, bytes: 0 };
}

export function attachSegment(st: SiteState, ref: SegmentRef): void {
  st.segments.push(ref);
  st.byBatch.set(ref.batchId, ref);
  // New batches come in sequence order: sorting thousands of segments on every commit would cost the hot path.
  const prev = st.segments[st.segments.length - 2];
  if (prev !== undefined && prev.seq > ref.seq) st.segments.sort((a, b) => a.seq - b.seq);
  st.windows += ref.n;
  st.bytes += ref.bytes;
}

export function detachSegment(st: SiteState, ref: SegmentRef): void {
  const i = st.segments.indexOf(ref);
  if (i < 0) return;
  st.segments.splice(i, 1);
  if (st.byBatch.get(ref.batchId) === ref) st.byBatch.delete(ref.batchId);
  st.windows -= ref.n;
  st.bytes -= ref.bytes;
}

/** `ref` moved (compaction): the same batch at another place. */
export function replaceSegment(st: SiteState, ref: SegmentRef, moved: SegmentRef): void {
  const i = st.segments.indexOf(ref);
  if (i < 0) return;
  st.segments[i] = moved;
  if (st.byBatch.get(ref.batchId) === ref) st.byBatch.set(ref.batchId, moved);
}

/** Why a segment read at open cannot join its site's state, if it cannot. */
export function segmentProblem(st: SiteState, h: Shape & { readonly batchId: string }): string | undefined {
  if (!sameShape(st.shape, h)) return `shape ${describeShape(h)} differs from the site's ${describeShape(st.shape)}`;
  return st.byBatch.has(h.batchId) ? `batch ${h.batchId} stored twice` : undefined;
}
