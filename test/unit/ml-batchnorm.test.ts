/**
 * BatchNorm1d → ReLU → MaxPool1d(2, 2, pad 1) with PyTorch semantics (docs/unikd.md §7.3, §7.5; docs/backends.md §4):
 * train and eval outputs against Float64 references written from the formulas, the fused custom gradient against
 * autodiff of the same block built from stock tfjs ops, and the running-statistics update through a tiny Cnn.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyRunningStats, createCnn, featuresTrain, type Cnn } from '../../shared/ml/cnn';
import { parseCnnSpec } from '../../shared/ml/model-spec';
import { BN_EPS, bnReluPoolEval, bnReluPoolTrain, type BatchStats } from '../../shared/ml/ops';
import { exportVars, importVars, disposeVars } from '../../shared/ml/params';
import { tf, type Tensor, type Tensor3D } from '../../shared/ml/tf';
import { createRng } from '../../shared/random';
import { arr3, bnReluPoolTrainRef, bnReluRef, conv1dRef, maxPoolRef, meanOverTime, runningUpdateRef, type Arr3 } from '../helpers/reference';
import { assertClose, assertNoTensorLeak, liveTensors, randn, randu, useBackend } from '../helpers/tensors';

interface BnData {
  readonly n: number;
  readonly len: number;
  readonly c: number;
  readonly y: Float32Array;
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
  readonly r: Float32Array; // upstream gradient for sum(out · R)
}

function bnData(n: number, len: number, c: number, seed: number): BnData {
  const lo = Math.floor(len / 2) + 1;
  const y = randn(seed, n * len * c, 2);
  // Per-channel offsets so the means are far from 0 (a wrong mean would show).
  for (let i = 0; i < y.length; i++) y[i] = (y[i] as number) + ((i % c) - 1) * 1.5;
  return { n, len, c, y, gamma: randu(seed + 1, c, 0.5, 1.5), beta: randu(seed + 2, c, -0.5, 0.5), r: randn(seed + 3, n * lo * c) };
}

function disposeStats(stats: BatchStats[]): void {
  for (const s of stats) {
    s.mean.dispose();
    s.variance.dispose();
  }
  stats.length = 0;
}

test('output length of MaxPool1d(2, 2, pad 1) is floor(L/2)+1, incl. odd L = 65 → 33', async () => {
  await useBackend('cpu');
  for (const [len, lo] of [[128, 65], [65, 33], [66, 34], [35, 18], [2, 2], [3, 2]] as const) {
    const d = bnData(2, len, 2, len);
    tf.tidy(() => {
      const stats: BatchStats[] = [];
      const y = tf.tensor3d(d.y, [2, len, 2]);
      assert.deepEqual(bnReluPoolTrain(y, tf.tensor1d(d.gamma), tf.tensor1d(d.beta), stats).shape, [2, lo, 2]);
      const rm = tf.zeros([2]);
      const rv = tf.ones([2]);
      assert.deepEqual(bnReluPoolEval(y, tf.tensor1d(d.gamma), tf.tensor1d(d.beta), rm, rv).shape, [2, lo, 2]);
      disposeStats(stats);
    });
  }
});

test('bnReluPoolTrain forward and batch statistics match the PyTorch formulas (Float64 reference)', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    for (const [n, len, c] of [[4, 32, 3], [5, 65, 3], [8, 33, 4]] as const) {
      const d = bnData(n, len, c, 10 * len + n);
      const ref = bnReluPoolTrainRef(arr3(n, len, c, d.y), d.gamma, d.beta);
      const where = `${backend} ${n}×${len}×${c}`;
      const stats: BatchStats[] = [];
      const out = tf.tidy(() => bnReluPoolTrain(tf.tensor3d(d.y, [n, len, c]), tf.tensor1d(d.gamma), tf.tensor1d(d.beta), stats));
      const lo = Math.floor(len / 2) + 1;
      assert.deepEqual(out.shape, [n, lo, c]);
      assertClose(out, ref.out.data, 1e-5, `${where}: output`);
      // Spot-check the pooling windows directly: out[0] = relu(z[0]), out[t] = max(relu(z[2t−1]), relu(z[2t])).
      const z = bnReluRef(arr3(n, len, c, d.y), ref.mean, ref.variance, d.gamma, d.beta);
      const o = out.dataSync();
      for (let ch = 0; ch < c; ch++) {
        assert.ok(Math.abs((o[ch] as number) - (z.data[ch] as number)) < 1e-5, `${where}: first pooled element = relu(z0)`);
        const t = 3;
        const expect = Math.max(z.data[(2 * t - 1) * c + ch] as number, z.data[2 * t * c + ch] as number);
        assert.ok(Math.abs((o[t * c + ch] as number) - expect) < 1e-5, `${where}: pooled element 3`);
      }
      if (len % 2 === 0) {
        // Even L: the last window is [x_{L−1}, pad].
        for (let ch = 0; ch < c; ch++) assert.ok(Math.abs((o[(lo - 1) * c + ch] as number) - (z.data[(len - 1) * c + ch] as number)) < 1e-5);
      }
      out.dispose();
      assert.equal(stats.length, 1);
      const s = stats[0] as BatchStats;
      assert.equal(s.count, n * len);
      assert.deepEqual(s.mean.shape, [1, c]);
      assertClose(s.mean, ref.mean, 1e-5, `${where}: batch mean`);
      assertClose(s.variance, ref.variance, 1e-5, `${where}: biased batch variance`);
      disposeStats(stats);
    }
  }
  await useBackend('cpu');
});

/** The block from stock ops: tf.moments + tf.batchNorm(eps 1e-5) + tf.relu + tf.maxPool with explicit [1, 1] padding. */
function stockBlock(y: Tensor, gamma: Tensor, beta: Tensor): Tensor {
  const [n, len, c] = y.shape as [number, number, number];
  const { mean, variance } = tf.moments(y, [0, 1]);
  const z = tf.relu(tf.batchNorm(y as Tensor3D, mean, variance, beta as tf.Tensor1D, gamma as tf.Tensor1D, BN_EPS));
  const p = tf.maxPool(tf.reshape(z, [n, 1, len, c]) as tf.Tensor4D, [1, 2], [1, 2], [[0, 0], [0, 0], [1, 1], [0, 0]]);
  return tf.reshape(p, [n, Math.floor(len / 2) + 1, c]);
}

interface Grads {
  readonly out: Float32Array;
  readonly dy: Float32Array;
  readonly dgamma: Float32Array;
  readonly dbeta: Float32Array;
}

function blockGrads(d: BnData, impl: 'stock' | 'custom'): Grads {
  const stats: BatchStats[] = [];
  const g = tf.tidy(() => {
    const { n, len, c } = d;
    const lo = Math.floor(len / 2) + 1;
    const y = tf.tensor3d(d.y, [n, len, c]);
    const gamma = tf.tensor1d(d.gamma);
    const beta = tf.tensor1d(d.beta);
    const r = tf.tensor3d(d.r, [n, lo, c]);
    const f = (yi: Tensor, gi: Tensor, bi: Tensor): Tensor => (impl === 'stock' ? stockBlock(yi, gi, bi) : bnReluPoolTrain(yi as Tensor3D, gi, bi, stats));
    const out = f(y, gamma, beta);
    const [dy, dgamma, dbeta] = tf.grads((yi: Tensor, gi: Tensor, bi: Tensor) => tf.sum(tf.mul(f(yi, gi, bi), r)))([y, gamma, beta]) as [Tensor, Tensor, Tensor];
    assert.deepEqual(dy.shape, y.shape);
    assert.deepEqual(dgamma.shape, gamma.shape);
    assert.deepEqual(dbeta.shape, beta.shape);
    return { out: out.dataSync() as Float32Array, dy: dy.dataSync() as Float32Array, dgamma: dgamma.dataSync() as Float32Array, dbeta: dbeta.dataSync() as Float32Array };
  });
  disposeStats(stats);
  return g;
}

const GRAD_CASES = [
  [4, 32, 3],
  [5, 65, 3],
  [8, 34, 5],
  [6, 17, 2],
] as const;

function compareGrads(got: Grads, ref: Grads, where: string): void {
  assertClose(got.out, ref.out, 1e-5, `${where}: output`);
  assertClose(got.dy, ref.dy, 1e-5, `${where}: dy`);
  assertClose(got.dgamma, ref.dgamma, 1e-5, `${where}: dgamma`);
  assertClose(got.dbeta, ref.dbeta, 1e-5, `${where}: dbeta`);
}

test('cpu: the fused BN/ReLU/pool gradient equals autodiff of the stock-op block', async () => {
  await useBackend('cpu');
  for (const [n, len, c] of GRAD_CASES) {
    const d = bnData(n, len, c, 7 * len + c);
    compareGrads(blockGrads(d, 'custom'), blockGrads(d, 'stock'), `cpu ${n}×${len}×${c}`);
  }
});

test('wasm: the fused BN/ReLU/pool gradient equals the stock-op autodiff computed on cpu', async () => {
  await useBackend('cpu');
  const refs = GRAD_CASES.map(([n, len, c]) => {
    const d = bnData(n, len, c, 7 * len + c);
    return { d, ref: blockGrads(d, 'stock') };
  });
  await useBackend('wasm');
  try {
    for (const { d, ref } of refs) compareGrads(blockGrads(d, 'custom'), ref, `wasm ${d.n}×${d.len}×${d.c}`);
  } finally {
    await useBackend('cpu');
  }
});

test('bnReluPoolEval uses the running statistics (Float64 reference), on cpu and wasm', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    for (const [n, len, c] of [[4, 32, 3], [3, 65, 4]] as const) {
      const d = bnData(n, len, c, 3 * len);
      const rm = randn(91, c);
      const rv = randu(92, c, 0.2, 3);
      const ref = maxPoolRef(bnReluRef(arr3(n, len, c, d.y), rm, rv, d.gamma, d.beta));
      const out = tf.tidy(() => bnReluPoolEval(tf.tensor3d(d.y, [n, len, c]), tf.tensor1d(d.gamma), tf.tensor1d(d.beta), tf.tensor1d(rm), tf.tensor1d(rv)));
      assert.deepEqual(out.shape, [n, Math.floor(len / 2) + 1, c]);
      assertClose(out, ref.data, 1e-5, `${backend} eval ${n}×${len}×${c}`);
      out.dispose();
    }
  }
  await useBackend('cpu');
});

// A tiny CNN without dropout, so that a Float64 reference of the whole train-mode forward is exact.
const TINY = parseCnnSpec({ inChannels: 3, windowLength: 32, numClasses: 3, kernelSize: 5, stride: 1, padding: 2, dropout: 0, midChannels: 4, finalChannels: 6 });

/** A Cnn with random γ, β and running statistics (so that the 0.9·old part of the update is exercised). */
function randomizedCnn(seed: number): Cnn {
  const net = createCnn(TINY, createRng(seed));
  const w = exportVars(net.vars);
  let s = seed * 100;
  for (const [name, t] of Object.entries(w)) {
    if (name.endsWith('.gamma')) t.data.set(randu(s++, t.data.length, 0.5, 1.5));
    if (name.endsWith('.beta') || name.endsWith('.mean')) t.data.set(randu(s++, t.data.length, -0.5, 0.5));
    if (name.endsWith('.var')) t.data.set(randu(s++, t.data.length, 0.5, 2));
  }
  importVars(net.vars, w);
  return net;
}

/** The train-mode forward of `net` in Float64, returning features and each block's batch statistics. */
function featuresTrainRef(net: Cnn, x: Arr3): { features: Float64Array; stats: { mean: Float64Array; variance: Float64Array; count: number }[] } {
  const w = exportVars(net.vars);
  const get = (k: string): Float32Array => (w[k] as { data: Float32Array }).data;
  let h = x;
  const stats: { mean: Float64Array; variance: Float64Array; count: number }[] = [];
  net.blocks.forEach((b, i) => {
    const y = conv1dRef(h, get(`fe.conv${i + 1}.w`), b.kernel, b.cout, b.stride, b.pad);
    assert.equal(y.len, b.lenConv);
    const r = bnReluPoolTrainRef(y, get(`fe.bn${i + 1}.gamma`), get(`fe.bn${i + 1}.beta`));
    assert.equal(r.out.len, b.lenPool);
    stats.push({ mean: r.mean, variance: r.variance, count: r.count });
    h = r.out;
  });
  return { features: meanOverTime(h), stats };
}

test('featuresTrain + applyRunningStats: batch-statistics forward and PyTorch running updates, 2 forwards per step', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const net = randomizedCnn(5);
    const before = exportVars(net.vars);
    const xs = randn(31, 6 * 32 * 3);
    const xt = randn(32, 4 * 32 * 3, 1.5);
    const refS = featuresTrainRef(net, arr3(6, 32, 3, xs));
    const refT = featuresTrainRef(net, arr3(4, 32, 3, xt));

    const stats: BatchStats[] = [];
    const next = (): number => {
      throw new Error('dropout 0 must not draw random numbers');
    };
    const [fs, ft] = tf.tidy(() => [
      featuresTrain(net, tf.tensor3d(xs, [6, 32, 3]), { stats, next }),
      featuresTrain(net, tf.tensor3d(xt, [4, 32, 3]), { stats, next }),
    ]) as [Tensor, Tensor];
    assert.deepEqual(fs.shape, [6, 6]);
    assertClose(fs, refS.features, 1e-5, `${backend} source features`);
    assertClose(ft, refT.features, 1e-5, `${backend} target features`);
    tf.dispose([fs, ft]);
    assert.equal(stats.length, 6, 'three BN calls per forward');
    // Forwards do not touch the running statistics; applyRunningStats does, in call order.
    for (const k of [1, 2, 3]) assert.deepEqual(net.vars[`fe.bn${k}.mean`]?.dataSync(), before[`fe.bn${k}.mean`]?.data);

    const tensorsBefore = liveTensors();
    applyRunningStats(net, stats);
    assert.equal(stats.length, 0, 'stats are consumed');
    assert.equal(liveTensors(), tensorsBefore - 12, 'the 12 kept statistics tensors are disposed');

    for (const k of [1, 2, 3]) {
      const rm = Float64Array.from((before[`fe.bn${k}.mean`] as { data: Float32Array }).data);
      const rv = Float64Array.from((before[`fe.bn${k}.var`] as { data: Float32Array }).data);
      for (const ref of [refS, refT]) {
        const s = ref.stats[k - 1] as { mean: Float64Array; variance: Float64Array; count: number };
        runningUpdateRef(rm, rv, s.mean, s.variance, s.count);
      }
      assertClose(net.vars[`fe.bn${k}.mean`] as Tensor, rm, 1e-5, `${backend} block ${k} running mean`);
      assertClose(net.vars[`fe.bn${k}.var`] as Tensor, rv, 1e-5, `${backend} block ${k} running var`);
    }
    disposeVars(net.vars);
  }
  await useBackend('cpu');
});

test('applyRunningStats rejects a statistics count that is not a multiple of the block count', async () => {
  await useBackend('cpu');
  const net = randomizedCnn(6);
  const stats: BatchStats[] = [];
  tf.tidy(() => {
    featuresTrain(net, tf.tensor3d(randn(1, 2 * 32 * 3), [2, 32, 3]), { stats, next: () => 0.5 });
  });
  stats.pop()?.mean.dispose();
  assert.throws(() => applyRunningStats(net, stats), /batch stats/);
  disposeStats(stats);
  disposeVars(net.vars);
});

test('bnReluPoolTrain leaks nothing outside the statistics it hands over', async () => {
  await useBackend('cpu');
  const d = bnData(4, 32, 3, 1);
  assertNoTensorLeak(() => blockGrads(d, 'custom'), 3, 'bn grads');
});
