/**
 * The gate's vectors of a cross-fitted round (hub/jobs/cross-fit.ts, docs/adaptation.md §2), in the worker: per fold,
 * the generic student and the reference are adapted to the *other* fold only, and both it and the serving student
 * are compared with that reference on this fold's judged windows. No judged window was seen, even unlabelled, by the
 * candidate or the reference that judge it.
 */
import type { Cnn } from '../../shared/ml/cnn';
import { disposeVars } from '../../shared/ml/params';
import { adaptToSite, type SiteAdaptSettings } from '../../shared/ml/site-adapt';
import { argmaxRows, predictLogits } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { matches } from '../jobs/gate';
import type { GateReference, PairedVectors, WorkerFold } from './ml-worker-protocol';

export interface CrossFitNets {
  readonly teacher: Cnn;
  readonly generic: Cnn;
  readonly current: Cnn;
  readonly reference: GateReference;
  readonly adapt: SiteAdaptSettings;
  /** How the adapted-teacher reference is adapted (RedistillTask.referenceAdapt). */
  readonly referenceAdapt: SiteAdaptSettings;
  /** Warm-start centroids of the candidate (the serving student's, when a `site-adapt` round made it). */
  readonly init?: Float32Array | undefined;
}

/** Agreement with the reference per judged window, fold 0's windows first (RedistillTask.crossFit). */
export function crossFitAgreement(folds: readonly [WorkerFold, WorkerFold], m: CrossFitNets): PairedVectors {
  const parts = folds.map((fold, i) => judgeFold(fold.judged, folds[1 - i]!.windows, m));
  return { candidate: concat(parts.map((p) => p.candidate)), current: concat(parts.map((p) => p.current)) };
}

function judgeFold(judged: WindowSet, adaptTo: WindowSet, m: CrossFitNets): PairedVectors {
  if (judged.n === 0) return { candidate: new Uint8Array(0), current: new Uint8Array(0) };
  const ref = m.reference === 'teacher' ? m.teacher : adaptToSite(m.teacher, adaptTo, m.referenceAdapt).net;
  const cand = adaptToSite(m.generic, adaptTo, { ...m.adapt, ...(m.init !== undefined ? { init: m.init } : {}) }).net;
  try {
    const truth = argmaxRows(predictLogits(ref, judged));
    return { candidate: matches(argmaxRows(predictLogits(cand, judged)), truth), current: matches(argmaxRows(predictLogits(m.current, judged)), truth) };
  } finally {
    disposeVars(cand.vars);
    if (ref !== m.teacher) disposeVars(ref.vars);
  }
}

function concat(xs: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(xs.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of xs) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}
