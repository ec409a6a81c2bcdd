/**
 * Tensor lifetimes: eval predictions and training steps must not grow the live-tensor count, and `train()` must leave
 * only the returned network's variables alive (plus the few constants ops.ts caches per backend, which a warm-up run
 * creates once).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSyntheticSpec, generateSites } from '../../shared/data/synthetic';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import type { DistillAlgorithm, HParams, TeacherOutputs } from '../../shared/ml/algorithms/algorithm';
import { HParamsSchema } from '../../shared/ml/algorithms/algorithm';
import { PlainKd, SourceOnly } from '../../shared/ml/algorithms/baselines';
import { Dann } from '../../shared/ml/algorithms/dann';
import { UniKd } from '../../shared/ml/algorithms/unikd';
import { UNIKD_PRESETS } from '../../shared/ml/algorithms/unikd-options';
import { oneHot, toChannelsLast, windowsTensor } from '../../shared/ml/batches';
import { createCnn, type Cnn } from '../../shared/ml/cnn';
import { inputFor, parseCnnSpec, specFor } from '../../shared/ml/model-spec';
import { createMlp, disposeVars, exportVars, importVars } from '../../shared/ml/params';
import { predictLogits, teacherOutputs, train, type TrainRequest } from '../../shared/ml/train';
import { tf } from '../../shared/ml/tf';
import type { WindowSet } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import { assertNoTensorLeak, liveTensors, useBackend } from '../helpers/tensors';

const sites = generateSites(defaultSyntheticSpec.tiny);
const SRC = sites[0]?.train as WindowSet;
const TGT = sites[1]?.train as WindowSet;
const INPUT = inputFor(SRC.channels, SRC.length, defaultSyntheticSpec.tiny.numClasses);
const STUDENT = specFor(INPUT, 'student');
// A narrow "teacher" keeps the cpu runs fast; only its feature width (16 ≠ 32) matters to the algorithms.
const TEACHER = parseCnnSpec({ ...INPUT, midChannels: 8, finalChannels: 16 });
const HP: Partial<HParams> = { epochs: 1, batchSize: 8 }; // 36 windows → 4 steps per epoch

function nVars(net: Cnn): number {
  return Object.keys(net.vars).length;
}

test('variables: createCnn/createMlp + dispose and importVars leave no tensors behind', async () => {
  await useBackend('cpu');
  const n0 = liveTensors();
  const net = createCnn(STUDENT, createRng(1));
  assert.equal(liveTensors() - n0, nVars(net), 'one live tensor per variable (no leftover initial values)');
  disposeVars(net.vars);
  assert.equal(liveTensors(), n0);
  const mlp = createMlp([32, 64, 2], createRng(2), 'leak.mlp');
  assert.equal(liveTensors() - n0, 4);
  disposeVars(mlp.vars);
  assert.equal(liveTensors(), n0);

  const a = createCnn(STUDENT, createRng(3));
  const w = exportVars(createCnn(STUDENT, createRng(4)).vars);
  const n1 = liveTensors();
  assertNoTensorLeak(() => importVars(a.vars, w), 3, 'importVars');
  assert.equal(liveTensors(), n1);
  assert.deepEqual(exportVars(a.vars), w);
  disposeVars(a.vars);
});

test('repeated eval predictions (predictLogits, teacherOutputs) keep the tensor count constant', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const net = createCnn(STUDENT, createRng(5));
    assertNoTensorLeak(() => predictLogits(net, SRC), 3, `${backend} predictLogits`);
    const rows = toChannelsLast(TGT);
    assertNoTensorLeak(() => teacherOutputs(net, rows), 3, `${backend} teacherOutputs`);
    disposeVars(net.vars);
  }
  await useBackend('cpu');
});

type AlgName = 'dann' | 'source-only' | 'kd' | 'unikd-code' | 'unikd-paper';
const ALGS: AlgName[] = ['dann', 'source-only', 'kd', 'unikd-code', 'unikd-paper'];

function makeAlg(name: AlgName, net: Cnn, outputs: TeacherOutputs): DistillAlgorithm {
  const hp = HParamsSchema.parse(HP);
  const rng = createRng(11);
  switch (name) {
    case 'dann':
      return new Dann(net, hp, rng);
    case 'source-only':
      return new SourceOnly(net, hp, rng);
    case 'kd':
      return new PlainKd(net, hp, rng, outputs);
    case 'unikd-code':
      return new UniKd(net, hp, UNIKD_PRESETS.code, rng, outputs);
    case 'unikd-paper':
      return new UniKd(net, hp, UNIKD_PRESETS.paper, rng, outputs);
  }
}

test('repeated training steps of every algorithm keep the tensor count constant; dispose frees optimizer slots and auxiliaries', async () => {
  await useBackend('wasm'); // tensor bookkeeping is the engine's, the same on every backend; wasm is the fast one
  const teacher = createCnn(TEACHER, createRng(6));
  const src = toChannelsLast(SRC);
  const tgt = toChannelsLast(TGT);
  const t = teacherOutputs(teacher, src);
  const u = teacherOutputs(teacher, tgt);
  const outputs: TeacherOutputs = { srcFeatures: t.features, srcLogits: t.logits, tgtFeatures: u.features, tgtLogits: u.logits };
  const ys = SRC.y as Uint8Array;
  const b = 8;
  // Round 0 warms up ops.ts' constant caches for these shapes; round 1 checks that dispose frees everything else.
  for (const [round, name] of [...ALGS.map((a) => [0, a] as const), ...ALGS.map((a) => [1, a] as const)]) {
    const net = createCnn(STUDENT, createRng(7));
    const n0 = liveTensors();
    const alg = makeAlg(name, net, outputs);
    let step = 0;
    const doStep = (): void => {
      const srcIdx = Int32Array.from({ length: b }, (_, i) => (i + step * b) % src.n);
      const tgtIdx = Int32Array.from({ length: b }, (_, i) => (i * 3 + step) % tgt.n);
      const losses = tf.tidy(() =>
        alg.step(
          { xs: windowsTensor(src, srcIdx, STUDENT.windowLength, STUDENT.inChannels), ysOneHot: oneHot(ys, srcIdx, STUDENT.numClasses), xt: windowsTensor(tgt, tgtIdx, STUDENT.windowLength, STUDENT.inChannels), srcIdx, tgtIdx },
          { epoch: 1, step: step % 4, stepsPerEpoch: 4, epochs: 2 },
        ),
      );
      for (const [k, v] of Object.entries(losses)) assert.ok(Number.isFinite(v), `${name}: loss ${k} = ${v}`);
      step++;
    };
    assertNoTensorLeak(doStep, 4, `${name} step`);
    alg.dispose();
    if (round === 1) assert.equal(liveTensors(), n0, `${name}: after dispose only the network's variables remain`);
    disposeVars(net.vars);
  }
  disposeVars(teacher.vars);
  await useBackend('cpu');
});

async function checkTrainLeaves(backend: 'cpu' | 'wasm'): Promise<void> {
  await useBackend(backend);
  const teacherNet = createCnn(TEACHER, createRng(8));
  const reqs: TrainRequest[] = [
    { algorithm: 'dann', spec: TEACHER, source: SRC, target: TGT, seed: 1, hparams: HP },
    { algorithm: 'source-only', spec: STUDENT, source: SRC, target: TGT, seed: 1, hparams: HP },
    { algorithm: 'kd', spec: STUDENT, source: SRC, target: TGT, seed: 1, hparams: HP, teacher: teacherNet },
    { algorithm: 'unikd', spec: STUDENT, source: SRC, target: TGT, seed: 1, hparams: HP, teacher: teacherNet, unikd: UNIKD_PRESETS.code },
    { algorithm: 'unikd', spec: STUDENT, source: SRC, target: TGT, seed: 1, hparams: HP, teacher: teacherNet, unikd: UNIKD_PRESETS.paper },
  ];
  // Warm-up: fills ops.ts' per-backend constant caches. Their keys depend only on row counts (batch × length), which
  // are the same for every algorithm and both widths here, so one run is enough.
  disposeVars(train(reqs[1] as TrainRequest).net.vars);
  for (const req of reqs) {
    const n0 = liveTensors();
    const r = train(req);
    assert.equal(liveTensors() - n0, nVars(r.net), `${backend} ${req.algorithm}: only the returned net's variables stay alive`);
    disposeVars(r.net.vars);
    assert.equal(liveTensors(), n0);
  }
  disposeVars(teacherNet.vars);
}

test('cpu: train() leaves only the returned network alive', async () => {
  await checkTrainLeaves('cpu');
});

test('wasm: train() leaves only the returned network alive', async () => {
  await checkTrainLeaves('wasm');
  await useBackend('cpu');
});

test('a training run that fails (non-finite loss) frees everything it created', async () => {
  await useBackend('cpu');
  // Finite float32 inputs whose convolutions overflow to ±inf, so the first loss is NaN.
  const huge = (ws: WindowSet): WindowSet => ({ ...ws, x: ws.x.map((v) => (v >= 0 ? 3e38 : -3e38)) });
  const req: TrainRequest = { algorithm: 'source-only', spec: STUDENT, source: huge(SRC), target: TGT, seed: 1, hparams: HP };
  const n0 = liveTensors();
  assert.throws(() => train(req), (err: unknown) => isSitekdError(err, ErrorCode.DISTILL_NONFINITE));
  assert.equal(liveTensors(), n0);
});
