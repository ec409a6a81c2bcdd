/**
 * The AdaTime CNN's shapes and sizes (docs/unikd.md §1.1–1.3) and its eval-mode forward against references built
 * independently: from stock tfjs ops (different padding/pooling/BN formulation) and from Float64 plain JS.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify, createCnn, featuresEval, featuresTrain, trainableVars, type Cnn } from '../../shared/ml/cnn';
import { HAR_INPUT, blockShapes, countParams, inputFor, parseCnnSpec, specFor, type CnnSpec } from '../../shared/ml/model-spec';
import { BN_EPS, type BatchStats } from '../../shared/ml/ops';
import { countVars, disposeVars, exportVars, importVars } from '../../shared/ml/params';
import { predictLogits } from '../../shared/ml/train';
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '../../shared/ml/tf';
import type { WindowSet } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import { arr3, bnReluRef, conv1dRef, maxPoolRef, meanOverTime, type Arr3 } from '../helpers/reference';
import { assertClose, randn, randu, useBackend } from '../helpers/tensors';

type Input = Omit<CnnSpec, 'midChannels' | 'finalChannels'>;

// docs/unikd.md §1.2 rows.
const DATASETS: Record<string, { input: Input; stages: number[]; teacher: number; student: number }> = {
  HAR: { input: HAR_INPUT, stages: [128, 65, 66, 34, 35, 18], teacher: 200_902, student: 13_366 },
  HHAR: { input: { ...HAR_INPUT, inChannels: 3 }, stages: [128, 65, 66, 34, 35, 18], teacher: 198_982, student: 12_886 },
  FD: {
    input: { inChannels: 1, windowLength: 5120, numClasses: 3, kernelSize: 32, stride: 6, padding: 16, dropout: 0.5 },
    stages: [854, 428, 429, 215, 216, 109],
    teacher: 199_683,
    student: 13_059,
  },
  SSC: {
    input: { inChannels: 1, windowLength: 3000, numClasses: 5, kernelSize: 25, stride: 6, padding: 12, dropout: 0.2 },
    stages: [500, 251, 252, 127, 128, 65],
    teacher: 199_493,
    student: 13_013,
  },
};

test('blockShapes: stage lengths conv1 → pool1 → conv2 → pool2 → conv3 → pool3 (docs/unikd.md §1.2)', () => {
  for (const [name, d] of Object.entries(DATASETS)) {
    for (const role of ['teacher', 'student'] as const) {
      const blocks = blockShapes(specFor(d.input, role));
      assert.equal(blocks.length, 3);
      assert.deepEqual(blocks.flatMap((b) => [b.lenConv, b.lenPool]), d.stages, `${name} ${role}`);
      assert.deepEqual(blocks.map((b) => b.lenIn), [d.input.windowLength, d.stages[1], d.stages[3]], `${name} ${role} lenIn`);
      assert.deepEqual(blocks.slice(1).map((b) => [b.kernel, b.stride, b.pad]), [[8, 1, 4], [8, 1, 4]]);
      assert.deepEqual([blocks[0]?.kernel, blocks[0]?.stride, blocks[0]?.pad], [d.input.kernelSize, d.input.stride, d.input.padding]);
    }
  }
  const t = blockShapes(specFor(HAR_INPUT, 'teacher'));
  assert.deepEqual(t.map((b) => [b.cin, b.cout]), [[9, 64], [64, 128], [128, 128]]);
  const s = blockShapes(specFor(HAR_INPUT, 'student'));
  assert.deepEqual(s.map((b) => [b.cin, b.cout]), [[9, 16], [16, 32], [32, 32]]);
});

test('inputFor: short windows get the HAR layout, long ones the SSC-like stride-6 layout', () => {
  assert.deepEqual(inputFor(9, 128, 6), HAR_INPUT);
  assert.deepEqual(inputFor(1, 3000, 5), DATASETS.SSC?.input);
});

test('countParams matches docs/unikd.md §1.3 for every dataset and role', () => {
  for (const [name, d] of Object.entries(DATASETS)) {
    assert.equal(countParams(specFor(d.input, 'teacher')), d.teacher, `${name} teacher`);
    assert.equal(countParams(specFor(d.input, 'student')), d.student, `${name} student`);
  }
});

test('createCnn: variable names and shapes, trainable count = countParams, BN buffers not trainable', async () => {
  await useBackend('cpu');
  for (const role of ['teacher', 'student'] as const) {
    const spec = specFor(HAR_INPUT, role);
    const net = createCnn(spec, createRng(1));
    const c1 = spec.midChannels;
    const c3 = spec.finalChannels;
    const expected: Record<string, number[]> = {
      'fe.conv1.w': [5, 9, c1],
      'fe.conv2.w': [8, c1, 2 * c1],
      'fe.conv3.w': [8, 2 * c1, c3],
      'clf.w': [c3, 6],
      'clf.b': [6],
    };
    for (const [k, c] of [[1, c1], [2, 2 * c1], [3, c3]] as const) for (const p of ['gamma', 'beta', 'mean', 'var']) expected[`fe.bn${k}.${p}`] = [c];
    assert.deepEqual(Object.keys(net.vars).sort(), Object.keys(expected).sort());
    for (const [k, shape] of Object.entries(expected)) assert.deepEqual(net.vars[k]?.shape, shape, k);
    assert.equal(countVars(net.vars), countParams(spec));
    assert.equal(countVars(trainableVars(net)), countParams(spec));
    // BN running buffers: 640 (teacher) / 160 (student) for HAR (docs/unikd.md §1.3).
    assert.equal(countVars(net.vars, false) - countVars(net.vars), role === 'teacher' ? 640 : 160);
    for (const [k, v] of Object.entries(net.vars)) assert.equal(v.trainable, !(k.endsWith('.mean') || k.endsWith('.var')), k);
    assert.deepEqual(Object.keys(trainableVars(net, 'clf')).sort(), ['clf.b', 'clf.w']);
    assert.equal(Object.keys(trainableVars(net, 'fe')).length, 9);
    // PyTorch init: BN γ = 1, β = 0, running mean 0, var 1; conv weights in ±1/√fan_in.
    const w = exportVars(net.vars);
    assert.ok(w['fe.bn2.gamma']?.data.every((x) => x === 1));
    assert.ok(w['fe.bn2.beta']?.data.every((x) => x === 0));
    assert.ok(w['fe.bn2.var']?.data.every((x) => x === 1));
    const bound = 1 / Math.sqrt(c1 * 8);
    assert.ok(w['fe.conv2.w']?.data.every((x) => Math.abs(x) <= bound));
    disposeVars(net.vars);
  }
});

/** A Cnn with random γ/β and running statistics, so eval-mode BN is really exercised. */
function randomizedCnn(spec: CnnSpec, seed: number): Cnn {
  const net = createCnn(spec, createRng(seed));
  const w = exportVars(net.vars);
  let s = seed * 1000;
  for (const [name, t] of Object.entries(w)) {
    if (name.endsWith('.gamma')) t.data.set(randu(s++, t.data.length, 0.5, 1.5));
    if (name.endsWith('.beta') || name.endsWith('.mean')) t.data.set(randu(s++, t.data.length, -0.3, 0.3));
    if (name.endsWith('.var')) t.data.set(randu(s++, t.data.length, 0.3, 2));
  }
  importVars(net.vars, w);
  return net;
}

function windowSet(n: number, channels: number, length: number, seed: number): WindowSet {
  return { n, channels, length, x: randn(seed, n * channels * length) };
}

/** `[n, C, L]` → `[n, L, C]`. */
function channelsLast(ws: WindowSet): Float32Array {
  const out = new Float32Array(ws.x.length);
  for (let i = 0; i < ws.n; i++) for (let c = 0; c < ws.channels; c++) for (let t = 0; t < ws.length; t++) out[(i * ws.length + t) * ws.channels + c] = ws.x[(i * ws.channels + c) * ws.length + t] as number;
  return out;
}

/** Eval forward from stock ops, formulated differently from cnn.ts: tf.pad + 'valid' conv, BN by its formula, zero-pad + 'valid' maxPool. */
function stockEvalFeatures(net: Cnn, x: Tensor3D): Tensor2D {
  let h: Tensor3D = x;
  net.blocks.forEach((b, i) => {
    const k = i + 1;
    const vv = (name: string): Tensor => net.vars[name] as Tensor;
    const xp = b.pad === 0 ? h : tf.pad(h, [[0, 0], [b.pad, b.pad], [0, 0]]);
    const y = tf.conv1d(xp, vv(`fe.conv${k}.w`) as Tensor3D, b.stride, 'valid');
    const z = tf.relu(tf.add(tf.mul(tf.div(tf.sub(y, vv(`fe.bn${k}.mean`)), tf.sqrt(tf.add(vv(`fe.bn${k}.var`), BN_EPS))), vv(`fe.bn${k}.gamma`)), vv(`fe.bn${k}.beta`)));
    const [n, len, c] = y.shape;
    const lo = Math.floor(len / 2) + 1;
    const zp = tf.pad(z, [[0, 0], [1, 2 * lo - len - 1], [0, 0]]); // zero padding is exact after ReLU
    h = tf.reshape(tf.maxPool(tf.reshape(zp, [n, 1, 2 * lo, c]) as tf.Tensor4D, [1, 2], [1, 2], 'valid'), [n, lo, c]);
  });
  return tf.mean(h, 1);
}

/** Eval forward in Float64 plain JS. */
function refEvalFeatures(net: Cnn, x: Arr3): Float64Array {
  const w = exportVars(net.vars);
  const get = (k: string): Float32Array => (w[k] as { data: Float32Array }).data;
  let h = x;
  net.blocks.forEach((b, i) => {
    const k = i + 1;
    const y = conv1dRef(h, get(`fe.conv${k}.w`), b.kernel, b.cout, b.stride, b.pad);
    h = maxPoolRef(bnReluRef(y, get(`fe.bn${k}.mean`), get(`fe.bn${k}.var`), get(`fe.bn${k}.gamma`), get(`fe.bn${k}.beta`)));
  });
  return meanOverTime(h);
}

const EVAL_SPECS: { name: string; spec: CnnSpec }[] = [
  { name: 'tiny student 3×32', spec: specFor(inputFor(3, 32, 3), 'student') },
  { name: 'HAR teacher 9×128', spec: specFor(HAR_INPUT, 'teacher') },
  { name: 'stride-6 student 1×600', spec: specFor(inputFor(1, 600, 5), 'student') },
  { name: 'odd lengths 2×45', spec: parseCnnSpec({ inChannels: 2, windowLength: 45, numClasses: 4, kernelSize: 3, stride: 1, padding: 1, dropout: 0.3, midChannels: 5, finalChannels: 7 }) },
];

test('featuresEval / classify / predictLogits: shapes and values against stock-op and Float64 references (cpu, wasm)', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    EVAL_SPECS.forEach(({ name, spec }, i) => {
      const where = `${backend} ${name}`;
      const net = randomizedCnn(spec, 10 + i);
      const ws = windowSet(5, spec.inChannels, spec.windowLength, 50 + i);
      const xcl = channelsLast(ws);
      const [feat, stock, logits] = tf.tidy(() => {
        const x = tf.tensor3d(xcl, [ws.n, ws.length, ws.channels]);
        const f = featuresEval(net, x);
        return [f, stockEvalFeatures(net, x), classify(net, f)];
      }) as [Tensor, Tensor, Tensor];
      assert.deepEqual(feat.shape, [5, spec.finalChannels], `${where}: features shape`);
      assert.deepEqual(logits.shape, [5, spec.numClasses], `${where}: logits shape`);
      assertClose(feat, stock, 1e-5, `${where}: featuresEval vs stock ops`);
      assertClose(feat, refEvalFeatures(net, arr3(ws.n, ws.length, ws.channels, xcl)), 1e-5, `${where}: featuresEval vs Float64`);
      const rows = predictLogits(net, ws);
      assert.deepEqual([rows.n, rows.width], [5, spec.numClasses], `${where}: predictLogits rows`);
      assertClose(rows.data, logits, 1e-6, `${where}: predictLogits = classify(featuresEval)`);
      tf.dispose([feat, stock, logits]);
      disposeVars(net.vars);
    });
  }
  await useBackend('cpu');
});

test('predictLogits: chunking (> 128 windows) does not change eval-mode results; train-mode features shape', async () => {
  await useBackend('cpu');
  const spec = specFor(inputFor(3, 32, 3), 'student');
  const net = randomizedCnn(spec, 3);
  const ws = windowSet(131, 3, 32, 9);
  const rows = predictLogits(net, ws);
  assert.equal(rows.n, 131);
  const whole = tf.tidy(() => classify(net, featuresEval(net, tf.tensor3d(channelsLast(ws), [131, 32, 3]))));
  assertClose(rows.data, whole, 1e-6, 'chunked vs whole');
  whole.dispose();
  const stats: BatchStats[] = [];
  const rng = createRng(1);
  const f = tf.tidy(() => featuresTrain(net, tf.tensor3d(channelsLast(ws), [131, 32, 3]), { stats, next: () => rng.next() }));
  assert.deepEqual(f.shape, [131, spec.finalChannels]);
  f.dispose();
  for (const s of stats) tf.dispose([s.mean, s.variance]);
  disposeVars(net.vars);
});
