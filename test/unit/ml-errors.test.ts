/**
 * Bad inputs to the ML core fail with coded SitekdErrors (docs/errors.md), before any work is done and without leaving
 * tensors behind.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, isSitekdError, type ErrorCode as ErrorCodeT } from '../../shared/errors';
import { createCnn } from '../../shared/ml/cnn';
import { HAR_INPUT, inputFor, parseCnnSpec, specFor } from '../../shared/ml/model-spec';
import { disposeVars, exportVars, importVars } from '../../shared/ml/params';
import { predictLogits, train, type TrainRequest } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import { liveTensors, randn, useBackend } from '../helpers/tensors';

const INPUT = inputFor(3, 32, 3);
const STUDENT = specFor(INPUT, 'student');

function windows(n: number, channels = 3, length = 32, labelled = true, seed = 1): WindowSet {
  const ws: WindowSet = { n, channels, length, x: randn(seed, n * channels * length) };
  return labelled ? { ...ws, y: Uint8Array.from({ length: n }, (_, i) => i % 3) } : ws;
}

const GOOD: TrainRequest = { algorithm: 'source-only', spec: STUDENT, source: windows(8), target: windows(8, 3, 32, false, 2), seed: 1, hparams: { epochs: 1, batchSize: 4 } };

const hasCode = (code: ErrorCodeT) => (err: unknown): boolean => {
  assert.ok(isSitekdError(err), `expected a SitekdError with ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return true;
};

/** `train(req)` throws `code` and leaves the live-tensor count unchanged. */
function assertTrainThrows(req: TrainRequest, code: ErrorCodeT): void {
  const n0 = liveTensors();
  assert.throws(() => train(req), hasCode(code));
  assert.equal(liveTensors(), n0, `a failed train() (${code}) must not leave tensors behind`);
}

test('train: the well-formed request used below trains', async () => {
  await useBackend('cpu');
  const r = train(GOOD);
  assert.equal(r.history.length, 1);
  disposeVars(r.net.vars);
});

test('train: windows of the wrong channel count or length → INPUT_SHAPE', async () => {
  await useBackend('cpu');
  assertTrainThrows({ ...GOOD, source: windows(8, 4, 32) }, ErrorCode.INPUT_SHAPE);
  assertTrainThrows({ ...GOOD, target: windows(8, 3, 31, false) }, ErrorCode.INPUT_SHAPE);
  assertTrainThrows({ ...GOOD, source: windows(8, 9, 128) }, ErrorCode.INPUT_SHAPE);
  // x.length not n·C·L.
  const short = windows(8);
  assertTrainThrows({ ...GOOD, source: { ...short, x: short.x.subarray(0, short.x.length - 1) } }, ErrorCode.INPUT_SHAPE);
});

test('train: NaN or ±Infinity in source or target windows → INPUT_NONFINITE', async () => {
  await useBackend('cpu');
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    const s = windows(8);
    s.x[100] = bad;
    assertTrainThrows({ ...GOOD, source: s }, ErrorCode.INPUT_NONFINITE);
    const t = windows(8, 3, 32, false);
    t.x[t.x.length - 1] = bad;
    assertTrainThrows({ ...GOOD, target: t }, ErrorCode.INPUT_NONFINITE);
  }
});

test('train: unlabelled source, a label count ≠ n, or labels ≥ numClasses → INPUT_SHAPE', async () => {
  await useBackend('cpu');
  assertTrainThrows({ ...GOOD, source: windows(8, 3, 32, false) }, ErrorCode.INPUT_SHAPE);
  assertTrainThrows({ ...GOOD, source: { ...windows(8), y: new Uint8Array(7) } }, ErrorCode.INPUT_SHAPE);
  const outOfRange = windows(8);
  (outOfRange.y as Uint8Array)[5] = 3; // numClasses is 3
  assertTrainThrows({ ...GOOD, source: outOfRange }, ErrorCode.INPUT_SHAPE);
});

test('train: fewer than 2 source or target windows → DISTILL_TOO_FEW_SAMPLES', async () => {
  await useBackend('cpu');
  assertTrainThrows({ ...GOOD, source: windows(1) }, ErrorCode.DISTILL_TOO_FEW_SAMPLES);
  assertTrainThrows({ ...GOOD, target: windows(1, 3, 32, false) }, ErrorCode.DISTILL_TOO_FEW_SAMPLES);
  assertTrainThrows({ ...GOOD, source: windows(0) }, ErrorCode.DISTILL_TOO_FEW_SAMPLES);
});

test('train: kd/unikd without a teacher → CLI_USAGE; a teacher for other windows or classes → MODEL_SPEC_MISMATCH', async () => {
  await useBackend('cpu');
  assertTrainThrows({ ...GOOD, algorithm: 'kd' }, ErrorCode.CLI_USAGE);
  assertTrainThrows({ ...GOOD, algorithm: 'unikd' }, ErrorCode.CLI_USAGE);
  const other = [
    createCnn(specFor(inputFor(3, 64, 3), 'student'), createRng(1)), // other window length
    createCnn(specFor(inputFor(4, 32, 3), 'student'), createRng(1)), // other channel count
    createCnn(specFor(inputFor(3, 32, 4), 'student'), createRng(1)), // other classes
  ];
  for (const teacher of other) {
    assertTrainThrows({ ...GOOD, algorithm: 'kd', teacher }, ErrorCode.MODEL_SPEC_MISMATCH);
    assertTrainThrows({ ...GOOD, algorithm: 'unikd', teacher }, ErrorCode.MODEL_SPEC_MISMATCH);
    disposeVars(teacher.vars);
  }
});

test('train: invalid hyper-parameters or UNI-KD options → CONFIG_INVALID', async () => {
  await useBackend('cpu');
  assertTrainThrows({ ...GOOD, hparams: { epochs: 0 } }, ErrorCode.CONFIG_INVALID);
  assertTrainThrows({ ...GOOD, hparams: { lr: -1 } }, ErrorCode.CONFIG_INVALID);
  assertTrainThrows({ ...GOOD, hparams: { batchSize: 1.5 } }, ErrorCode.CONFIG_INVALID);
  assertTrainThrows({ ...GOOD, hparams: { epochz: 3 } as unknown as TrainRequest['hparams'] }, ErrorCode.CONFIG_INVALID);
  assertTrainThrows({ ...GOOD, unikd: { betaLog: 'log2' } as unknown as TrainRequest['unikd'] }, ErrorCode.CONFIG_INVALID);
});

test('predictLogits: wrong window shape → INPUT_SHAPE, NaN → INPUT_NONFINITE', async () => {
  await useBackend('cpu');
  const net = createCnn(STUDENT, createRng(1));
  assert.throws(() => predictLogits(net, windows(2, 3, 33)), hasCode(ErrorCode.INPUT_SHAPE));
  assert.throws(() => predictLogits(net, windows(2, 2, 32)), hasCode(ErrorCode.INPUT_SHAPE));
  const nan = windows(2);
  nan.x[0] = Number.NaN;
  assert.throws(() => predictLogits(net, nan), hasCode(ErrorCode.INPUT_NONFINITE));
  disposeVars(net.vars);
});

test('parseCnnSpec: bad values → MODEL_SPEC_INVALID', () => {
  const good = { ...HAR_INPUT, midChannels: 16, finalChannels: 32 };
  assert.deepEqual(parseCnnSpec(good), good);
  const bad: unknown[] = [
    null,
    'har',
    42,
    {},
    { ...good, inChannels: 0 },
    { ...good, inChannels: 2.5 },
    { ...good, windowLength: -128 },
    { ...good, windowLength: Number.NaN },
    { ...good, numClasses: 1 },
    { ...good, kernelSize: 0 },
    { ...good, stride: 0 },
    { ...good, padding: -1 },
    { ...good, dropout: 1 },
    { ...good, dropout: -0.1 },
    { ...good, midChannels: '16' },
    { ...good, finalChannels: undefined },
    { ...good, extra: true },
    { ...good, windowLength: 8, kernelSize: 64, padding: 0 }, // too short for the block-1 kernel
  ];
  // The shortest window a kernel fits: conv1 1 → pool 1 → conv2 2 → pool 2 → conv3 3 → pool 2.
  assert.doesNotThrow(() => parseCnnSpec({ ...good, windowLength: 8, kernelSize: 8, padding: 0 }));
  for (const v of bad) assert.throws(() => parseCnnSpec(v), hasCode(ErrorCode.MODEL_SPEC_INVALID), JSON.stringify(v));
});

test('importVars: wrong shape, missing weight or wrong data size → MODEL_SPEC_MISMATCH', async () => {
  await useBackend('cpu');
  const net = createCnn(STUDENT, createRng(1));
  const w = exportVars(net.vars);
  assert.throws(() => importVars(net.vars, { ...w, 'clf.w': { shape: [32, 4], data: new Float32Array(128) } }), hasCode(ErrorCode.MODEL_SPEC_MISMATCH));
  assert.throws(() => importVars(net.vars, { ...w, 'fe.conv1.w': { shape: [3, 5, 16], data: new Float32Array(240) } }), hasCode(ErrorCode.MODEL_SPEC_MISMATCH));
  assert.throws(() => importVars(net.vars, { ...w, 'clf.b': { shape: [], data: new Float32Array(1) } }), hasCode(ErrorCode.MODEL_SPEC_MISMATCH));
  const missing = { ...w };
  delete missing['fe.bn2.var'];
  assert.throws(() => importVars(net.vars, missing), hasCode(ErrorCode.MODEL_SPEC_MISMATCH));
  assert.throws(() => importVars(net.vars, { ...w, 'clf.b': { shape: [3], data: new Float32Array(2) } }), hasCode(ErrorCode.MODEL_SPEC_MISMATCH));
  // A teacher's weights do not fit a student.
  const teacher = exportVars(createCnn(specFor(INPUT, 'teacher'), createRng(2)).vars);
  assert.throws(() => importVars(net.vars, teacher), hasCode(ErrorCode.MODEL_SPEC_MISMATCH));
  disposeVars(net.vars);
});
