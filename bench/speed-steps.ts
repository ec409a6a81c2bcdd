/**
 * Per-step and per-call timings on one tfjs backend (bench/speed.ts prints them beside PyTorch).
 *
 * Like against like: the official UNI-KD step runs the frozen teacher forward on its 64 windows in every step, while
 * sitekd's training loop computes the teacher's outputs once per run (shared/ml/train.ts) and its UNI-KD step only
 * looks them up. So the UNI-KD step is timed both ways: `unikd-step-live` runs the teacher forward inside the timed
 * step (the official code's work, comparable with its figure); `unikd-step-pre` is the step sitekd's loop runs,
 * which has no PyTorch counterpart. The backend study's student is 16/32/16, not sitekd's 16/32/32
 * (docs/pytorch-reference.md §4), so that network is timed too and only it is set against the study's figures.
 */
import { createRng } from '../shared/random';
import { selectBackend, type BackendName } from '../shared/ml/backend';
import { Dann } from '../shared/ml/algorithms/dann';
import { SourceOnly } from '../shared/ml/algorithms/baselines';
import { UniKd } from '../shared/ml/algorithms/unikd';
import { HParamsSchema, type DistillAlgorithm, type HParams, type StepBatch, type TeacherOutputs } from '../shared/ml/algorithms/algorithm';
import { UNIKD_PRESETS } from '../shared/ml/algorithms/unikd-options';
import type { Rows } from '../shared/ml/batches';
import { classify, createCnn, featuresEval, type Cnn } from '../shared/ml/cnn';
import { countParams, HAR_INPUT, parseCnnSpec, specFor, type CnnSpec } from '../shared/ml/model-spec';
import { disposeVars } from '../shared/ml/params';
import { Predictor } from '../shared/ml/predictor';
import { tf } from '../shared/ml/tf';
import type { Rng } from '../shared/random';
import { timeIt, type Timed } from './timing';

export const SPECS = {
  teacher: specFor(HAR_INPUT, 'teacher'),
  student: specFor(HAR_INPUT, 'student'),
  /** The student of the backend study (docs/pytorch-reference.md §4). */
  studyStudent: parseCnnSpec({ ...HAR_INPUT, midChannels: 16, finalChannels: 16 }),
} as const;

/** `16/32/32 (13,366 params)`, from the spec itself. */
export function describe(spec: CnnSpec): string {
  return `${spec.midChannels}/${spec.midChannels * 2}/${spec.finalChannels} (${countParams(spec).toLocaleString('en-US')} params)`;
}

/** Task ids in table order, with labels built from the networks actually timed. */
export function taskLabels(): [string, string][] {
  const [t, s, ss] = [describe(SPECS.teacher), describe(SPECS.student), describe(SPECS.studyStudent)];
  return [
    ['dann-step', `DANN teacher step, 32+32 windows, teacher ${t}`],
    ['unikd-step-live', `UNI-KD step, 32+32, teacher forward inside the step (the official code's step), student ${s}`],
    ['unikd-step-pre', 'UNI-KD step, 32+32, teacher outputs precomputed once per run (the step sitekd\'s loop runs)'],
    ['student-step', `student ${s} source-only step, batch 32`],
    ['teacher-train-b32', `teacher ${t} source-only step, batch 32`],
    ['study-student-train-b32', `student ${ss} source-only step, batch 32`],
    ['student-b1', `student ${s} inference, batch 1`],
    ['student-b32', `student ${s} inference, batch 32`],
    ['study-student-b1', `student ${ss} inference, batch 1`],
    ['study-student-b32', `student ${ss} inference, batch 32`],
    ['teacher-b1', `teacher ${t} inference, batch 1`],
    ['teacher-b32', `teacher ${t} inference, batch 32`],
  ];
}

function randomBatch(b: number): StepBatch {
  const idx = Int32Array.from({ length: b }, (_, i) => i);
  const labels = Array.from({ length: b }, (_, i) => i % 6);
  return {
    xs: tf.randomNormal([b, 128, 9]) as tf.Tensor3D, xt: tf.randomNormal([b, 128, 9]) as tf.Tensor3D,
    ysOneHot: tf.oneHot(tf.tensor1d(labels, 'int32'), 6) as tf.Tensor2D, srcIdx: idx, tgtIdx: idx,
  };
}

const rows = (n: number, width: number): Rows => ({ n, width, data: new Float32Array(n * width) });

/** The teacher's eval-mode features and logits of the batch, written into `out` (rows 0..B-1). */
function teacherForward(teacher: Cnn, batch: StepBatch, out: TeacherOutputs): void {
  tf.tidy(() => {
    for (const [x, f, z] of [[batch.xs, out.srcFeatures, out.srcLogits], [batch.xt, out.tgtFeatures, out.tgtLogits]] as const) {
      const feats = featuresEval(teacher, x);
      f.data.set(feats.dataSync());
      z.data.set(classify(teacher, feats).dataSync());
    }
  });
}

interface Timing {
  readonly minMs: number;
  readonly warmup: number;
}

function timeSteps(alg: DistillAlgorithm, batch: StepBatch, t: Timing, before?: () => void): Timed {
  let step = 0;
  const ms = timeIt(() => {
    before?.();
    alg.step(batch, { epoch: 1, step: step++ % 6, stepsPerEpoch: 6, epochs: 10 });
  }, t.minMs, t.warmup);
  alg.dispose();
  disposeVars(alg.net.vars);
  return ms;
}

function timeUniKd(teacher: Cnn, batch: StepBatch, hp: HParams, rng: Rng, t: Timing): { live: Timed; pre: Timed } {
  const b = batch.xs.shape[0];
  const fT = teacher.spec.finalChannels;
  const k = teacher.spec.numClasses;
  const out: TeacherOutputs = { srcFeatures: rows(b, fT), tgtFeatures: rows(b, fT), srcLogits: rows(b, k), tgtLogits: rows(b, k) };
  teacherForward(teacher, batch, out);
  const pre = timeSteps(new UniKd(createCnn(SPECS.student, rng), hp, UNIKD_PRESETS.code, rng, out), batch, t);
  const live = timeSteps(new UniKd(createCnn(SPECS.student, rng), hp, UNIKD_PRESETS.code, rng, out), batch, t, () => teacherForward(teacher, batch, out));
  return { live, pre };
}

function timeInference(net: Cnn, slow: boolean): { b1: Timed; b32: Timed } {
  const p = new Predictor(net);
  const w = Float32Array.from({ length: 128 * 9 }, () => Math.random() - 0.5);
  const b1 = timeIt(() => p.predictWindow(w), slow ? 200 : 1500, 20);
  const x32 = tf.randomNormal([32, 128, 9]) as tf.Tensor3D;
  const b32 = timeIt(() => { const z = p.logits(x32); z.dataSync(); z.dispose(); }, slow ? 200 : 1500, 3);
  x32.dispose();
  p.dispose();
  return { b1, b32 };
}

/** Every task of taskLabels() on `name`. */
export async function benchBackend(name: BackendName): Promise<Record<string, Timed>> {
  await selectBackend(name);
  const slow = name === 'cpu';
  const t: Timing = { minMs: slow ? 1 : 1500, warmup: slow ? 1 : 3 };
  const hp = HParamsSchema.parse({});
  const rng = createRng(0);
  const teacher = createCnn(SPECS.teacher, rng);
  const batch = randomBatch(32);
  const out: Record<string, Timed> = {};
  out['dann-step'] = timeSteps(new Dann(createCnn(SPECS.teacher, rng), hp, rng), batch, t);
  const uni = timeUniKd(teacher, batch, hp, rng, t);
  out['unikd-step-live'] = uni.live;
  out['unikd-step-pre'] = uni.pre;
  out['student-step'] = timeSteps(new SourceOnly(createCnn(SPECS.student, rng), hp, rng), batch, t);
  out['teacher-train-b32'] = timeSteps(new SourceOnly(createCnn(SPECS.teacher, rng), hp, rng), batch, t);
  out['study-student-train-b32'] = timeSteps(new SourceOnly(createCnn(SPECS.studyStudent, rng), hp, rng), batch, t);
  for (const [id, spec] of [['student', SPECS.student], ['study-student', SPECS.studyStudent]] as const) {
    const net = createCnn(spec, rng);
    const r = timeInference(net, slow);
    out[`${id}-b1`] = r.b1;
    out[`${id}-b32`] = r.b32;
    disposeVars(net.vars);
  }
  const r = timeInference(teacher, slow);
  out['teacher-b1'] = r.b1;
  out['teacher-b32'] = r.b32;
  disposeVars(teacher.vars);
  tf.dispose([batch.xs, batch.xt, batch.ysOneHot]);
  return out;
}
