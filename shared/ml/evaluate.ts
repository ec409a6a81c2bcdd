/** Scoring a network on labelled windows: macro-F1 (sklearn semantics) and accuracy, as percentages like the paper. */
import { ErrorCode, SitekdError } from '../errors';
import type { Cnn } from './cnn';
import { accuracy, confusionMatrix, macroF1 } from './metrics';
import { argmaxRows, predictLogits } from './train';
import type { WindowSet } from './types';

export interface Score {
  readonly macroF1: number; // percent
  readonly accuracy: number; // percent
  readonly n: number;
  readonly confusion: number[][];
}

/**
 * `dropLastBatch` scores only the first floor(n/B)·B windows, as the official UNI-KD test loader does
 * (drop_last = True; docs/unikd.md §4.3); the default scores every window.
 */
export function evaluate(net: Cnn, ws: WindowSet, opts: { dropLastBatch?: number } = {}): Score {
  const y = ws.y;
  if (y === undefined) throw new SitekdError(ErrorCode.INPUT_SHAPE, 'evaluation needs labelled windows');
  const pred = argmaxRows(predictLogits(net, ws));
  const n = opts.dropLastBatch === undefined ? ws.n : Math.floor(ws.n / opts.dropLastBatch) * opts.dropLastBatch;
  const yt = y.subarray(0, n);
  const yp = pred.subarray(0, n);
  return {
    macroF1: 100 * macroF1(yt, yp, net.spec.numClasses),
    accuracy: 100 * accuracy(yt, yp),
    n,
    confusion: confusionMatrix(yt, yp, net.spec.numClasses),
  };
}
