/**
 * The cross-fitted split of a round (`gateSplit: cross-fit`, docs/adaptation.md §2): the site's windows fall into two
 * disjoint halves by the hash of the batch id that the held-out split uses (hub/store/sample-set.ts `isHeldOut` at ½,
 * whatever `holdoutFraction` says: each fold is both adapted to and judged), so a batch — whose windows overlap in
 * time — stays in one fold, and in the same fold in every round. The worker
 * adapts a candidate to each fold and judges it on the other fold's uniformly sampled windows; the gate's paired test
 * runs over both folds' judged windows together, so every uniformly sampled window is evidence and none is judged by
 * a model that adapted to it. The published student is adapted to all windows.
 */
import type { WindowSet } from '../../shared/ml/types';
import { isHeldOut, subset, type SampleSet } from '../store/sample-set';

export interface CrossFitFold {
  /** Every window of the fold: what the fold's candidate and reference are adapted to when the other fold is judged. */
  readonly windows: SampleSet;
  /** The fold's uniformly sampled windows: the only ones of it the gate judges. */
  readonly judged: SampleSet;
}

export interface CrossFitSplit {
  readonly folds: readonly [CrossFitFold, CrossFitFold];
  readonly by: 'batch' | 'window';
}

function foldsOf(all: SampleSet, by: 'batch' | 'window'): CrossFitSplit {
  const inB = all.batchIds.map((id, i) => isHeldOut(by === 'batch' ? id : `${id}#${all.seq[i] as number}`, 0.5));
  const fold = (side: boolean): CrossFitFold => ({
    windows: subset(all, inB.map((b) => b === side)),
    judged: subset(all, inB.map((b, i) => b === side && all.selectedBy[i] === 'uniform')),
  });
  return { folds: [fold(false), fold(true)], by };
}

/**
 * Two folds of `all` (see the module comment), each with at least `minFold` windows when that is possible. By batch
 * first; with few batches one fold can come out too small (or empty), and then single windows are split by a hash of
 * batch id and sequence number (still deterministic), accepting that a window's neighbours may sit in the other fold.
 */
export function crossFitSplit(all: SampleSet, minFold: number): CrossFitSplit {
  const byBatch = foldsOf(all, 'batch');
  const small = (s: CrossFitSplit): boolean => s.folds.some((f) => f.windows.n < minFold || f.judged.n === 0);
  if (!small(byBatch) || all.n < 2 * minFold) return byBatch;
  return foldsOf(all, 'window');
}

/** `a`'s windows then `b`'s (same shape, unlabelled): the judged windows of both folds, fold 0 first. */
export function joinWindows(a: WindowSet, b: WindowSet): WindowSet {
  const x = new Float32Array(a.x.length + b.x.length);
  x.set(a.x);
  x.set(b.x, a.x.length);
  return { n: a.n + b.n, channels: a.channels, length: a.length, x };
}
