/**
 * The data the sample store takes (a batch) and hands out (a set of windows with their logits and provenance), plus
 * the pure helpers to build, split and compare sets. Kept apart from hub/store/sample-store.ts, which is about files.
 */
import { createHash } from 'node:crypto';
import { SELECTED_BY, type SelectedBy } from '../../shared/protocol/messages';
import type { Segment } from './sample-segment';

export type { SelectedBy } from '../../shared/protocol/messages';

/**
 * How the agent chose a window (agent/sample-selector.ts): `uniform` (a uniform random sample of what it saw),
 * `uncertain` (among the highest-entropy windows), or `unknown` (a batch from an agent that does not say).
 */
export type Selection = SelectedBy | 'unknown';

export interface Shape {
  readonly channels: number;
  readonly windowLength: number;
  readonly numClasses: number;
}

export interface SampleBatch {
  readonly batchId: string;
  readonly agent: string;
  readonly modelVersion: string;
  readonly channels: number;
  readonly windowLength: number;
  readonly numClasses: number;
  readonly n: number;
  /** `[n, windowLength, channels]` (channels-last, the tfjs layout). */
  readonly windows: Float32Array;
  /** `[n, numClasses]`, the student's logits for each window. */
  readonly logits: Float32Array;
  readonly windowStarts: readonly number[];
  /** Per window, how the agent chose it; absent from agents that predate it (read back as `unknown`). */
  readonly selectedBy?: readonly SelectedBy[];
}

export interface AddResult {
  /** Windows stored by this call (0 for a duplicate). */
  readonly stored: number;
  readonly duplicate: boolean;
}

export interface ReadOptions {
  /** Only the newest `limit` windows. */
  readonly limit?: number;
  /** Only windows with a sequence number above this marker. */
  readonly afterSeq?: number;
  /** Only windows with a sequence number up to this marker (e.g. those returned before a rollout). */
  readonly upToSeq?: number;
}

export interface SampleSet extends Shape {
  readonly n: number;
  readonly windows: Float32Array;
  readonly logits: Float32Array;
  /** Per window. */
  readonly batchIds: readonly string[];
  readonly seq: readonly number[];
  readonly windowStarts: readonly number[];
  readonly selectedBy: readonly Selection[];
  /** The agent that returned each window, and the model version that computed its logits. */
  readonly agents: readonly string[];
  readonly modelVersions: readonly string[];
}

/** A round's windows: train, the gate's held-out windows, and what neither side uses. */
export interface RoundSplit {
  readonly train: SampleSet;
  /** Windows of the held-out side that the agents sampled uniformly: the only ones the gate judges on. */
  readonly heldOut: SampleSet;
  /**
   * Windows of the held-out side that were not sampled uniformly (chosen for uncertainty, or of unknown selection).
   * They are not trained on either: they overlap held-out windows in time (windows share readings), and a candidate
   * trained on near-copies of the gate's windows would be judged too kindly.
   */
  readonly setAside: number;
}

/** Whether a batch belongs to the held-out side for `fraction` (deterministic: sha256 of the id). */
export function isHeldOut(batchId: string, fraction: number): boolean {
  return createHash('sha256').update(batchId, 'utf8').digest().readUInt32BE(0) / 2 ** 32 < fraction;
}

/** Stored form of `selectedBy`: the wire's codes (index in SELECTED_BY). */
export function selectionCodes(s: readonly SelectedBy[]): number[] {
  return s.map((x) => SELECTED_BY.indexOf(x));
}

/**
 * Splits a set by a hash of the batch id (`by: 'batch'`: a batch stays on one side in every round) or of batch id and
 * sequence number (`by: 'window'`); the gate's held-out set keeps only uniformly sampled windows of the held-out side.
 */
export function splitSet(all: SampleSet, fraction: number, by: 'batch' | 'window'): RoundSplit {
  const side = all.batchIds.map((id, i) => isHeldOut(by === 'batch' ? id : `${id}#${all.seq[i] as number}`, fraction));
  const judged = side.map((h, i) => h && all.selectedBy[i] === 'uniform');
  const count = (xs: readonly boolean[]): number => xs.filter(Boolean).length;
  return { train: subset(all, side.map((h) => !h)), heldOut: subset(all, judged), setAside: count(side) - count(judged) };
}

/** Windows `from` up to (not including) `to` of each segment (`to` defaults to the segment's end). */
export function assemble(shape: Shape, parts: ReadonlyArray<{ seg: Segment; from: number; to?: number }>): SampleSet {
  const per = shape.windowLength * shape.channels;
  const end = (p: { seg: Segment; to?: number }): number => Math.min(p.to ?? p.seg.header.n, p.seg.header.n);
  const n = parts.reduce((sum, p) => sum + end(p) - p.from, 0);
  const out = { ...emptySet(shape), n, windows: new Float32Array(n * per), logits: new Float32Array(n * shape.numClasses) };
  let i = 0;
  for (const p of parts) {
    const { seg, from } = p;
    const h = seg.header;
    const to = end(p);
    out.windows.set(seg.windows.subarray(from * per, to * per), i * per);
    out.logits.set(seg.logits.subarray(from * shape.numClasses, to * shape.numClasses), i * shape.numClasses);
    for (let k = from; k < to; k++, i++) {
      out.batchIds.push(h.batchId);
      out.seq.push(h.seq + k);
      out.windowStarts.push(h.windowStarts[k] as number);
      out.selectedBy.push(h.selectedBy === undefined ? 'unknown' : (SELECTED_BY[h.selectedBy[k] as number] ?? 'unknown'));
      out.agents.push(h.agent);
      out.modelVersions.push(h.modelVersion);
    }
  }
  return out;
}

export function subset(set: SampleSet, keep: readonly boolean[]): SampleSet {
  const per = set.windowLength * set.channels;
  const idx = keep.flatMap((k, i) => (k ? [i] : []));
  const out = { ...emptySet(set), n: idx.length, windows: new Float32Array(idx.length * per), logits: new Float32Array(idx.length * set.numClasses) };
  idx.forEach((src, dst) => {
    out.windows.set(set.windows.subarray(src * per, (src + 1) * per), dst * per);
    out.logits.set(set.logits.subarray(src * set.numClasses, (src + 1) * set.numClasses), dst * set.numClasses);
    out.batchIds.push(set.batchIds[src] as string);
    out.seq.push(set.seq[src] as number);
    out.windowStarts.push(set.windowStarts[src] as number);
    out.selectedBy.push(set.selectedBy[src] as Selection);
    out.agents.push(set.agents[src] as string);
    out.modelVersions.push(set.modelVersions[src] as string);
  });
  return out;
}

export function emptySet(shape: Shape): SampleSet & { batchIds: string[]; seq: number[]; windowStarts: number[]; selectedBy: Selection[]; agents: string[]; modelVersions: string[] } {
  const { channels, windowLength, numClasses } = shape;
  return {
    n: 0, channels, windowLength, numClasses, windows: new Float32Array(0), logits: new Float32Array(0), batchIds: [], seq: [], windowStarts: [], selectedBy: [],
    agents: [], modelVersions: [],
  };
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.channels === b.channels && a.windowLength === b.windowLength && a.numClasses === b.numClasses;
}

export function describeShape(s: Shape): string {
  return `${s.windowLength}×${s.channels} with ${s.numClasses} classes`;
}
