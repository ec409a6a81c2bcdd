/**
 * An operator's labelled set in a round (hub config `labelledSites`): it decides the gate (hub/jobs/gate.ts), and
 * with `fitLabelledHead` a `site-adapt` candidate's head is fitted to it (shared/ml/labelled-head.ts).
 *
 * A head fitted to the labelled windows cannot be judged on them, so the evidence is cross-fitted as the site's
 * windows are (docs/adaptation.md §2): the labelled windows fall into two halves (alternately within each class, so
 * both halves hold every class), each half is predicted by a head fitted to the other half, and the serving student
 * by itself on all of them. The published head is fitted to all of them. Each fold's head saw half the labels the
 * published one sees, so the test errs towards rejecting; so does a serving student whose head an earlier round fitted
 * to this same set, judged on the windows it was fitted to. Windows that overlap in time and fall into different
 * halves flatter the fold heads; an operator's set of separate recordings has none.
 */
import type { Cnn } from '../../shared/ml/cnn';
import { fitHead, headArgmax, headOf, labelledShortfall, withHead } from '../../shared/ml/labelled-head';
import { accuracy, macroF1 } from '../../shared/ml/metrics';
import { toChannelsLast, type Rows } from '../../shared/ml/batches';
import { argmaxRows, featureRows, predictLogits } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { matches } from '../jobs/gate';
import type { Evaluation } from './ml-worker-protocol';

export type LabelledScores = NonNullable<Evaluation['labelled']>;

/**
 * The candidate to publish (with a fitted head when `fit` is true and every class has enough labelled windows; else
 * `candidate` itself) and the labelled set's scores of it and of `current`. A new net is returned only when fitted;
 * `fit` is otherwise why not.
 */
export function labelledRound(candidate: Cnn, current: Cnn, ws: WindowSet, fit: true | string): { net: Cnn; scores: LabelledScores } {
  const y = ws.y;
  if (y === undefined || y.length !== ws.n) throw new SitekdError(ErrorCode.INPUT_SHAPE, 'the labelled set of the site has no labels');
  const k = candidate.spec.numClasses;
  const short = fit === true ? labelledShortfall(y, k) : fit;
  const currentPred = argmaxRows(predictLogits(current, ws));
  if (short !== undefined) {
    return { net: candidate, scores: scores(y, argmaxRows(predictLogits(candidate, ws)), currentPred, k, { fitted: false, why: `the head is not fitted: ${short}` }) };
  }
  const f = featureRows(candidate, toChannelsLast(ws));
  const init = headOf(candidate);
  const half = halves(y, k);
  const pred = new Uint8Array(ws.n);
  for (const side of [0, 1]) {
    const fitOn = pick(f, half, 1 - side);
    const h = fitHead(fitOn.rows, pick1(y, half, 1 - side), init);
    const judged = pick(f, half, side);
    headArgmax(judged.rows, h).forEach((c, j) => (pred[judged.index[j]!] = c));
  }
  const net = withHead(candidate, fitHead(f, y, init));
  const why = `the head is fitted to ${ws.n} labelled windows (judged cross-fitted: each half by a head fitted to the other)`;
  return { net, scores: scores(y, pred, currentPred, k, { fitted: true, why }) };
}

function scores(y: Uint8Array, c: Uint8Array, p: Uint8Array, k: number, head: LabelledScores['head']): LabelledScores {
  return {
    n: y.length,
    candidateMacroF1: 100 * macroF1(y, c, k),
    currentMacroF1: 100 * macroF1(y, p, k),
    candidateAccuracy: 100 * accuracy(y, c),
    currentAccuracy: 100 * accuracy(y, p),
    correct: { candidate: matches(c, y), current: matches(p, y) },
    head,
  };
}

/** 0 or 1 per window: the windows of each class alternate between the halves, in order. */
function halves(y: Uint8Array, k: number): Uint8Array {
  const seen = new Array<number>(k).fill(0);
  return Uint8Array.from(y, (l) => seen[l]!++ % 2);
}

function pick(f: Rows, half: Uint8Array, side: number): { rows: Rows; index: number[] } {
  const index: number[] = [];
  half.forEach((h, i) => h === side && index.push(i));
  const data = new Float32Array(index.length * f.width);
  index.forEach((i, j) => data.set(f.data.subarray(i * f.width, (i + 1) * f.width), j * f.width));
  return { rows: { n: index.length, width: f.width, data }, index };
}

function pick1(y: Uint8Array, half: Uint8Array, side: number): Uint8Array {
  return y.filter((_, i) => half[i] === side);
}
