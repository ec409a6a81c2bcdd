/**
 * Classification metrics on plain label arrays (no tfjs), with scikit-learn semantics so our
 * numbers are comparable with the PyTorch reference (AdaTime / UNI-KD report sklearn's
 * `f1_score(average='macro')` and accuracy).
 *
 * All results are fractions in 0..1; callers multiply by 100 for the usual "percent" tables.
 */
import { ErrorCode, SitekdError } from '../errors';

/** Anything indexable with integer labels: number[], Uint8Array, Int32Array… */
export type Labels = ArrayLike<number>;

/** Throws INPUT_SHAPE on empty input, length mismatch, or a label that is not a valid class index. */
function checkLabels(yTrue: Labels, yPred: Labels, numClasses?: number): void {
  if (yTrue.length !== yPred.length) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `yTrue has ${yTrue.length} labels but yPred has ${yPred.length}`);
  }
  // An empty set has no accuracy; returning 0 or NaN would silently poison averaged tables.
  if (yTrue.length === 0) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, 'cannot compute a metric on zero samples');
  }
  if (numClasses !== undefined && (!Number.isInteger(numClasses) || numClasses <= 0)) {
    throw new SitekdError(ErrorCode.INPUT_SHAPE, `numClasses must be a positive integer, got ${numClasses}`);
  }
  for (const [name, ys] of [['yTrue', yTrue], ['yPred', yPred]] as const) {
    for (let i = 0; i < ys.length; i++) {
      const v = ys[i] as number;
      if (!Number.isInteger(v) || v < 0 || (numClasses !== undefined && v >= numClasses)) {
        const range = numClasses === undefined ? 'a non-negative integer' : `an integer in [0, ${numClasses})`;
        throw new SitekdError(ErrorCode.INPUT_SHAPE, `${name}[${i}] = ${v} is not ${range}`);
      }
    }
  }
}

function maxLabel(yTrue: Labels, yPred: Labels): number {
  let m = 0;
  for (let i = 0; i < yTrue.length; i++) m = Math.max(m, yTrue[i] as number, yPred[i] as number);
  return m;
}

/** Fraction of positions where yPred equals yTrue. */
export function accuracy(yTrue: Labels, yPred: Labels): number {
  checkLabels(yTrue, yPred);
  let hit = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hit++;
  return hit / yTrue.length;
}

/**
 * `cm[t][p]` = number of samples with true class t predicted as p (rows true, columns predicted,
 * as sklearn's `confusion_matrix`).
 */
export function confusionMatrix(yTrue: Labels, yPred: Labels, numClasses: number): number[][] {
  checkLabels(yTrue, yPred, numClasses);
  const cm = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const row = cm[yTrue[i] as number] as number[];
    const p = yPred[i] as number;
    row[p] = (row[p] as number) + 1;
  }
  return cm;
}

interface ClassCounts {
  tp: number[];
  fp: number[];
  fn: number[];
}

function countPerClass(yTrue: Labels, yPred: Labels, k: number): ClassCounts {
  const tp = new Array<number>(k).fill(0);
  const fp = new Array<number>(k).fill(0);
  const fn = new Array<number>(k).fill(0);
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i] as number;
    const p = yPred[i] as number;
    if (t === p) {
      tp[t] = (tp[t] as number) + 1;
    } else {
      fp[p] = (fp[p] as number) + 1;
      fn[t] = (fn[t] as number) + 1;
    }
  }
  return { tp, fp, fn };
}

/**
 * F1 of each class 0..K-1, K = numClasses ?? (largest label + 1), computed as 2tp / (2tp + fp + fn).
 * That equals the harmonic mean of precision and recall and, like sklearn with its default
 * `zero_division`, gives 0 when a class has no true positives — including a class that is never
 * predicted, and a class absent from both arrays (sklearn `labels=range(K)`).
 */
export function perClassF1(yTrue: Labels, yPred: Labels, numClasses?: number): number[] {
  checkLabels(yTrue, yPred, numClasses);
  const k = numClasses ?? maxLabel(yTrue, yPred) + 1;
  const { tp, fp, fn } = countPerClass(yTrue, yPred, k);
  return tp.map((t, c) => {
    const denom = 2 * t + (fp[c] as number) + (fn[c] as number);
    return denom === 0 ? 0 : (2 * t) / denom;
  });
}

/**
 * sklearn `f1_score(y_true, y_pred, average='macro')`: the unweighted mean of per-class F1 over the
 * classes that occur in yTrue ∪ yPred (sklearn's default `labels`). A class that occurs in neither
 * is NOT averaged in (so a small test set missing a class is not penalised); a class that occurs
 * only in yTrue (never predicted) or only in yPred counts with F1 = 0.
 * `numClasses` only validates the labels (each must be < numClasses); it does not change the average.
 */
export function macroF1(yTrue: Labels, yPred: Labels, numClasses?: number): number {
  checkLabels(yTrue, yPred, numClasses);
  const k = maxLabel(yTrue, yPred) + 1;
  const { tp, fp, fn } = countPerClass(yTrue, yPred, k);
  let sum = 0;
  let present = 0;
  for (let c = 0; c < k; c++) {
    const t = tp[c] as number;
    const denom = 2 * t + (fp[c] as number) + (fn[c] as number);
    if (denom === 0) continue; // absent from both arrays
    present++;
    sum += (2 * t) / denom;
  }
  return sum / present;
}
