import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { accuracy, confusionMatrix, macroF1, perClassF1 } from '../../shared/ml/metrics';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`);

test('accuracy', () => {
  assert.equal(accuracy([0, 1, 2, 1], [0, 1, 1, 1]), 0.75);
  assert.equal(accuracy(Uint8Array.from([3, 3]), Int32Array.from([3, 3])), 1);
  assert.equal(accuracy([0], [1]), 0);
});

test('macroF1 matches sklearn: y_true=[0,0,1,1], y_pred=[0,1,1,1]', () => {
  // class 0: tp=1 fp=0 fn=1 → F1 = 2·1/(2·1+0+1) = 2/3
  // class 1: tp=2 fp=1 fn=0 → F1 = 2·2/(2·2+1+0) = 4/5
  // macro = (2/3 + 4/5) / 2 = 11/15 ≈ 0.7333
  close(macroF1([0, 0, 1, 1], [0, 1, 1, 1]), 11 / 15);
  assert.deepEqual(perClassF1([0, 0, 1, 1], [0, 1, 1, 1]), [2 / 3, 4 / 5]);
});

test('macroF1 averages only over classes in y_true ∪ y_pred', () => {
  // y_true=[0,0,2,2], y_pred=[0,2,2,1], numClasses=4 (class 3 absent from both)
  // class 0: tp=1 (i0) fn=1 (i1)          → 2/(2+0+1) = 2/3
  // class 1: fp=1 (i3), only predicted    → 0
  // class 2: tp=1 (i2) fp=1 (i1) fn=1 (i3) → 2/(2+1+1) = 1/2
  // class 3: absent → not averaged; macro = (2/3 + 0 + 1/2)/3 = 7/18 ≈ 0.3889 (not /4 = 0.2917)
  close(macroF1([0, 0, 2, 2], [0, 2, 2, 1], 4), 7 / 18);
  close(macroF1([0, 0, 2, 2], [0, 2, 2, 1]), 7 / 18);
  // perClassF1 reports every class 0..K-1; absent classes get 0 (sklearn labels=range(K)).
  assert.deepEqual(perClassF1([0, 0, 2, 2], [0, 2, 2, 1], 4), [2 / 3, 0, 1 / 2, 0]);
});

test('a class never predicted counts with F1 = 0', () => {
  // y_true=[0,1,2], y_pred=[0,0,0]: class 0 tp=1 fp=2 → 2/(2+2) = 1/2; classes 1, 2: tp=0 → 0
  // macro = (1/2 + 0 + 0)/3 = 1/6 (sklearn: 0.16666…)
  close(macroF1([0, 1, 2], [0, 0, 0]), 1 / 6);
});

test('perfect and totally wrong predictions', () => {
  assert.equal(macroF1([0, 1, 2, 2], [0, 1, 2, 2]), 1);
  // y_true all 0, y_pred all 1: both classes present, both F1 0.
  assert.equal(macroF1([0, 0], [1, 1]), 0);
  // Single class, all right.
  assert.equal(macroF1([5, 5, 5], [5, 5, 5]), 1);
});

test('confusionMatrix rows = true, columns = predicted', () => {
  assert.deepEqual(confusionMatrix([0, 0, 2, 2], [0, 2, 2, 1], 3), [
    [1, 0, 1],
    [0, 0, 0],
    [0, 1, 1],
  ]);
});

test('empty input, length mismatch and bad labels throw INPUT_SHAPE', () => {
  const isShape = (e: unknown): boolean => isSitekdError(e, ErrorCode.INPUT_SHAPE);
  assert.throws(() => accuracy([], []), isShape);
  assert.throws(() => macroF1([], []), isShape);
  assert.throws(() => perClassF1([], [], 3), isShape);
  assert.throws(() => confusionMatrix([], [], 3), isShape);
  assert.throws(() => accuracy([0, 1], [0]), isShape);
  assert.throws(() => macroF1([0], [0, 1]), isShape);
  assert.throws(() => macroF1([0, 1], [0, 3], 3), isShape); // label ≥ numClasses
  assert.throws(() => macroF1([0, -1], [0, 1]), isShape);
  assert.throws(() => accuracy([0, 1.5], [0, 1]), isShape);
  assert.throws(() => confusionMatrix([0], [0], 0), isShape);
});
