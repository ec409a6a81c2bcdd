/**
 * End-to-end training on seeded synthetic shifted sites (shared/data/synthetic.ts, `tiny` preset): a DANN teacher,
 * then UNI-KD (code and paper presets), plain KD and source-only students. Checks finiteness, that the losses fall,
 * the loss bookkeeping of docs/unikd.md §2.2 step 18, the β schedule (§2.4), and bit-for-bit determinism per backend.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { defaultSyntheticSpec, generateSites } from '../../shared/data/synthetic';
import { HParamsSchema, type StepLosses, type TeacherOutputs } from '../../shared/ml/algorithms/algorithm';
import { UniKd } from '../../shared/ml/algorithms/unikd';
import { UNIKD_PRESETS, kdBeta, type UniKdOptions, type UniKdPreset } from '../../shared/ml/algorithms/unikd-options';
import { oneHot, toChannelsLast, windowsTensor, type Rows } from '../../shared/ml/batches';
import { createCnn, type Cnn } from '../../shared/ml/cnn';
import { inputFor, specFor } from '../../shared/ml/model-spec';
import { disposeVars, exportVars, importVars, type VarMap } from '../../shared/ml/params';
import { teacherOutputs, train, type TrainRequest, type TrainResult } from '../../shared/ml/train';
import { tf } from '../../shared/ml/tf';
import type { WindowSet } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import { randn, useBackend } from '../helpers/tensors';

const tiny = defaultSyntheticSpec.tiny;
const sites = generateSites(tiny);
const SRC = sites[0]?.train as WindowSet; // unshifted source site
const TGT: WindowSet = { ...(sites[2]?.train as WindowSet), y: undefined }; // shifted target site, labels withheld
const INPUT = inputFor(tiny.channels, tiny.length, tiny.numClasses);
const TEACHER_SPEC = specFor(INPUT, 'teacher');
const STUDENT_SPEC = specFor(INPUT, 'student');
const TEACHER_EPOCHS = 5;
const STUDENT_EPOCHS = 5;
const BATCH = 8;

let teacher: TrainResult;

before(async () => {
  await useBackend('wasm');
  teacher = train({ algorithm: 'dann', spec: TEACHER_SPEC, source: SRC, target: TGT, seed: 3, hparams: { epochs: TEACHER_EPOCHS, batchSize: BATCH } });
});

function studentReq(algorithm: TrainRequest['algorithm'], preset?: UniKdPreset, teacherNet: Cnn = teacher.net): TrainRequest {
  return {
    algorithm,
    spec: STUDENT_SPEC,
    source: SRC,
    target: TGT,
    seed: 13,
    hparams: { epochs: STUDENT_EPOCHS, batchSize: BATCH },
    ...(algorithm === 'kd' || algorithm === 'unikd' ? { teacher: teacherNet } : {}),
    ...(preset === undefined ? {} : { unikd: UNIKD_PRESETS[preset] }),
  };
}

function assertFinite(history: StepLosses[], keys: string[], label: string): void {
  for (const [e, h] of history.entries()) {
    assert.deepEqual(Object.keys(h).sort(), [...keys].sort(), `${label}: loss names at epoch ${e + 1}`);
    for (const [k, v] of Object.entries(h)) assert.ok(Number.isFinite(v), `${label}: ${k} = ${v} at epoch ${e + 1}`);
  }
}

/** last < 0.9 · first: a clear fall, not float noise. */
function assertFalls(history: StepLosses[], key: string, label: string): void {
  const first = history[0]?.[key] as number;
  const last = history[history.length - 1]?.[key] as number;
  assert.ok(last < 0.9 * first, `${label}: ${key} went ${first} → ${last}`);
}

const near = (a: number, b: number, tol: number): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('dann teacher: finite losses, source classification loss falls, loss = cls + dom', () => {
  const h = teacher.history;
  assert.equal(h.length, TEACHER_EPOCHS);
  assertFinite(h, ['total', 'cls', 'dom'], 'dann');
  assertFalls(h, 'cls', 'dann');
  assertFalls(h, 'total', 'dann');
  for (const e of h) assert.ok(near(e.total as number, (e.cls as number) + (e.dom as number), 1e-5), 'dann total = cls + dom');
  assert.equal(teacher.unikd, undefined);
});

for (const preset of ['code', 'paper'] as const) {
  test(`unikd (${preset} preset): finite losses, KD loss falls, total = cls + (1−β)·dom + β·kd + hint + adv, β schedule`, async () => {
    await useBackend('wasm');
    const epochsSeen: number[] = [];
    const r = train({ ...studentReq('unikd', preset), onEpoch: (epoch, epochs) => epochsSeen.push(epoch * 100 + epochs) });
    assert.deepEqual(epochsSeen, [1, 2, 3, 4, 5].map((e) => e * 100 + STUDENT_EPOCHS));
    assert.deepEqual(r.unikd, UNIKD_PRESETS[preset]);
    const h = r.history;
    assert.equal(h.length, STUDENT_EPOCHS);
    assertFinite(h, ['total', 'cls', 'dom', 'kd', 'hint', 'adv', 'discF', 'beta', 'alpha'], `unikd-${preset}`);
    assertFalls(h, 'kd', `unikd-${preset}`);
    assertFalls(h, 'cls', `unikd-${preset}`);
    if (preset === 'code') {
      // Paper preset: L_adv now trains the student against D_f (competing with L_hint), and the natural-log β grows the
      // KD weight 0.155 → 0.9 (×5.8), so neither the hint nor the total has to fall there.
      assertFalls(h, 'hint', `unikd-${preset}`);
      assertFalls(h, 'total', `unikd-${preset}`);
    }
    const log = UNIKD_PRESETS[preset].betaLog;
    h.forEach((e, i) => {
      const beta = kdBeta(i + 1, STUDENT_EPOCHS, log);
      assert.ok(near(e.beta as number, beta, 1e-9), `β at epoch ${i + 1}: ${e.beta} vs ${beta}`);
      assert.ok((e.alpha as number) > 0.99 && (e.alpha as number) <= 1, `α ${e.alpha}`);
      const expected = (e.cls as number) + (1 - beta) * (e.dom as number) + beta * (e.kd as number) + (e.hint as number) + (e.adv as number);
      assert.ok(near(e.total as number, expected, 1e-5), `epoch ${i + 1}: total ${e.total} vs ${expected}`);
    });
    assert.ok(near(h[STUDENT_EPOCHS - 1]?.beta as number, preset === 'code' ? 0.26 : 0.9, 0.01), 'β ends at 0.26 (log10) / 0.9 (ln)');
    disposeVars(r.net.vars);
  });
}

test('kd and source-only students: finite losses that fall; kd total = cls + kd', async () => {
  await useBackend('wasm');
  const kd = train(studentReq('kd'));
  assertFinite(kd.history, ['total', 'cls', 'kd'], 'kd');
  assertFalls(kd.history, 'kd', 'kd');
  assertFalls(kd.history, 'total', 'kd');
  for (const e of kd.history) assert.ok(near(e.total as number, (e.cls as number) + (e.kd as number), 1e-5));
  const so = train(studentReq('source-only'));
  assertFinite(so.history, ['total', 'cls'], 'source-only');
  assertFalls(so.history, 'total', 'source-only');
  assert.equal(kd.unikd, undefined);
  disposeVars(kd.net.vars);
  disposeVars(so.net.vars);
});

function assertSameRun(a: TrainResult, b: TrainResult, label: string): void {
  assert.deepEqual(a.history, b.history, `${label}: histories`);
  const wa = exportVars(a.net.vars);
  const wb = exportVars(b.net.vars);
  assert.deepEqual(Object.keys(wa), Object.keys(wb));
  for (const k of Object.keys(wa)) assert.deepEqual(wa[k]?.data, wb[k]?.data, `${label}: ${k} differs`);
}

test('wasm: the same seed gives bit-identical weights (teacher, unikd code/paper); another seed does not', async () => {
  await useBackend('wasm');
  const t2 = train({ algorithm: 'dann', spec: TEACHER_SPEC, source: SRC, target: TGT, seed: 3, hparams: { epochs: TEACHER_EPOCHS, batchSize: BATCH } });
  assertSameRun(teacher, t2, 'wasm dann');
  disposeVars(t2.net.vars);
  for (const preset of ['code', 'paper'] as const) {
    const a = train(studentReq('unikd', preset));
    const b = train(studentReq('unikd', preset));
    assertSameRun(a, b, `wasm unikd-${preset}`);
    const c = train({ ...studentReq('unikd', preset), seed: 14 });
    assert.notDeepEqual(exportVars(c.net.vars)['fe.conv1.w']?.data, exportVars(a.net.vars)['fe.conv1.w']?.data, 'a different seed must change the run');
    for (const r of [a, b, c]) disposeVars(r.net.vars);
  }
});

test('cpu: the same seed gives bit-identical weights (source-only, unikd with a teacher copied from wasm)', async () => {
  await useBackend('wasm');
  const weights = exportVars(teacher.net.vars);
  await useBackend('cpu');
  const cpuTeacher = createCnn(TEACHER_SPEC, createRng(0));
  importVars(cpuTeacher.vars, weights);
  try {
    // The cpu backend's convolutions are slow: one epoch (4 steps) is enough to show determinism.
    for (const [alg, preset] of [['source-only', undefined], ['unikd', 'code']] as const) {
      const req: TrainRequest = { ...studentReq(alg, preset, cpuTeacher), hparams: { epochs: 1, batchSize: BATCH } };
      const a = train(req);
      const b = train(req);
      assertSameRun(a, b, `cpu ${alg}`);
      for (const [k, v] of Object.entries(a.history.at(-1) ?? {})) assert.ok(Number.isFinite(v), `cpu ${alg} ${k}`);
      disposeVars(a.net.vars);
      disposeVars(b.net.vars);
    }
  } finally {
    disposeVars(cpuTeacher.vars);
  }
});

/**
 * One UniKd step on two identical students, where the second run sees a changed D_f or changed teacher target logits.
 * Returns whether the student (network + adapter) ended up bit-identical.
 */
function studentUnaffected(opts: UniKdOptions, change: 'featDisc' | 'tgtLogits'): boolean {
  const src = toChannelsLast(SRC);
  const tgt = toChannelsLast(TGT);
  const s = teacherOutputs(teacher.net, src);
  const t = teacherOutputs(teacher.net, tgt);
  const outputs: TeacherOutputs = { srcFeatures: s.features, srcLogits: s.logits, tgtFeatures: t.features, tgtLogits: t.logits };
  const perturbed: Rows = { ...t.logits, data: t.logits.data.map((v, i) => v + 3 * Math.sin(i)) };
  const hp = HParamsSchema.parse({ batchSize: BATCH });
  const srcIdx = Int32Array.from({ length: BATCH }, (_, i) => i * 4);
  const tgtIdx = Int32Array.from({ length: BATCH }, (_, i) => i * 3 + 1);
  const run = (variant: boolean): Record<string, Float32Array> => {
    const net = createCnn(STUDENT_SPEC, createRng(5));
    const alg = new UniKd(net, hp, opts, createRng(6), variant && change === 'tgtLogits' ? { ...outputs, tgtLogits: perturbed } : outputs);
    if (variant && change === 'featDisc') {
      const df: VarMap = alg.auxiliaries.featDisc.vars;
      const w = exportVars(df);
      let k = 0;
      for (const x of Object.values(w)) x.data.set(randn(100 + k++, x.data.length));
      importVars(df, w);
    }
    tf.tidy(() =>
      alg.step(
        { xs: windowsTensor(src, srcIdx, SRC.length, SRC.channels), ysOneHot: oneHot(SRC.y as Uint8Array, srcIdx, tiny.numClasses), xt: windowsTensor(tgt, tgtIdx, SRC.length, SRC.channels), srcIdx, tgtIdx },
        { epoch: 1, step: 0, stepsPerEpoch: 4, epochs: 5 },
      ),
    );
    const out: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries({ ...exportVars(net.vars), ...exportVars(alg.auxiliaries.adapter.vars) })) out[k] = v.data;
    alg.dispose();
    disposeVars(net.vars);
    return out;
  };
  const a = run(false);
  const b = run(true);
  return Object.keys(a).every((k) => a[k]?.every((v, i) => v === b[k]?.[i]));
}

test('unikd flags: D_f trains the student only with advGradToStudent; target logits are used only with targetKdUsesTargetLogits', async () => {
  await useBackend('wasm');
  const code = UNIKD_PRESETS.code;
  assert.equal(studentUnaffected(code, 'featDisc'), true, 'code: L_adv is detached, D_f cannot influence the student');
  assert.equal(studentUnaffected({ ...code, advGradToStudent: true }, 'featDisc'), false, 'advGradToStudent: D_f must influence the student');
  assert.equal(studentUnaffected(code, 'tgtLogits'), true, 'code: the "target" KD term reuses the source logits');
  assert.equal(studentUnaffected({ ...code, targetKdUsesTargetLogits: true }, 'tgtLogits'), false, 'targetKdUsesTargetLogits: the target logits matter');
});
