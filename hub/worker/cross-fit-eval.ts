/**
 * The gate's vectors of a cross-fitted round (hub/jobs/cross-fit.ts, docs/adaptation.md §2), in the worker: per fold,
 * the generic student and the reference are adapted to the *other* fold only, and both it and the serving student
 * are compared with that reference on this fold's judged windows. No judged window was seen, even unlabelled, by the
 * candidate or the reference that judge it. With turns on, the fold's reference is turned as its candidate is, and the
 * same comparison is made with the reference unturned (CrossFitVectors.unturned).
 */
import type { Cnn } from '../../shared/ml/cnn';
import { disposeVars } from '../../shared/ml/params';
import { adaptToSite, type FixedTurn, type SiteAdaptSettings } from '../../shared/ml/site-adapt';
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
  /** Models voting on the candidate's turn (SiteAdaptOptions.voters). */
  readonly voters?: readonly Cnn[] | undefined;
}

/** The gate's vectors of a cross-fitted round: agreement with the reference, and (turns on) with an unturned one. */
export interface CrossFitVectors {
  readonly agrees: PairedVectors;
  /**
   * With turns on, the reference is turned as each fold's candidate is (it then judges the rest of the adaptation, not
   * the turn); this is the agreement with the reference adapted unturned, against which a turned candidate must be not
   * worse than the margin too (hub/jobs/gate.ts `unturned`): a turn that fools the turned reference too, as on HAR
   * subject 10, is not confirmed by one that does not share it (docs/adaptation.md §1.5).
   */
  readonly unturned?: PairedVectors;
  /**
   * When a fold's candidate turned: the candidate adapted with no turn against the reference adapted unturned
   * (RedistillOutput.withoutTurn).
   */
  readonly plain?: PairedVectors;
}

/** Agreement with the reference per judged window, fold 0's windows first (RedistillTask.crossFit). */
export function crossFitAgreement(folds: readonly [WorkerFold, WorkerFold], m: CrossFitNets): CrossFitVectors {
  const parts = folds.map((fold, i) => judgeFold(fold.judged, folds[1 - i]!.windows, m));
  const join = (pick: (p: FoldVectors) => PairedVectors): PairedVectors => ({ candidate: concat(parts.map((p) => pick(p).candidate)), current: concat(parts.map((p) => pick(p).current)) });
  const turned = m.adapt.frame !== undefined && m.reference === 'adapted-teacher';
  // `plain` only when some fold's candidate turned: otherwise it is `agrees` over again.
  const anyTurned = parts.some((p) => p.plain !== undefined);
  return { agrees: join((p) => p.agrees), ...(turned && { unturned: join((p) => p.unturned ?? p.agrees) }), ...(anyTurned && { plain: join((p) => p.plain ?? p.agrees) }) };
}

interface FoldVectors {
  readonly agrees: PairedVectors;
  /** When the fold's candidate is turned: it against the unturned reference, and the candidate adapted unturned against it. */
  readonly unturned?: PairedVectors;
  readonly plain?: PairedVectors;
}

function judgeFold(judged: WindowSet, adaptTo: WindowSet, m: CrossFitNets): FoldVectors {
  if (judged.n === 0) return { agrees: { candidate: new Uint8Array(0), current: new Uint8Array(0) } };
  const cand = adaptToSite(m.generic, adaptTo, { ...m.adapt, ...(m.init !== undefined && { init: m.init }), voters: m.voters });
  const nets: Cnn[] = [cand.net];
  try {
    const turn = cand.turn !== undefined && cand.turn.degrees !== 0 && m.adapt.frame !== undefined ? { groups: m.adapt.frame.groups, turn: cand.turn } : undefined;
    const refOf = (fixedTurn?: FixedTurn): Cnn => {
      if (m.reference === 'teacher') return m.teacher;
      const net = adaptToSite(m.teacher, adaptTo, { ...m.referenceAdapt, ...(fixedTurn !== undefined && { fixedTurn }) }).net;
      nets.push(net);
      return net;
    };
    const current = argmaxRows(predictLogits(m.current, judged));
    const against = (ref: Cnn, c: Cnn): PairedVectors => {
      const truth = argmaxRows(predictLogits(ref, judged));
      return { candidate: matches(argmaxRows(predictLogits(c, judged)), truth), current: matches(current, truth) };
    };
    const agrees = against(refOf(turn), cand.net);
    if (turn === undefined || m.reference === 'teacher') return { agrees };
    const plainRef = refOf();
    const { frame: _frame, ...plainAdapt } = m.adapt;
    const plain = adaptToSite(m.generic, adaptTo, { ...plainAdapt, ...(m.init !== undefined && { init: m.init }) }).net;
    nets.push(plain);
    return { agrees, unturned: against(plainRef, cand.net), plain: against(plainRef, plain) };
  } finally {
    for (const n of nets) disposeVars(n.vars);
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
