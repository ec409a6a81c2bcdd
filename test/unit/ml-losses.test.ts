/**
 * Loss functions, GRL, dropout masks and the α/β schedules against their PyTorch / docs/unikd.md definitions
 * (docs/unikd.md §2.2, §2.4, §7.7, §7.11).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grlAlpha } from '../../shared/ml/algorithms/algorithm';
import { kdBeta } from '../../shared/ml/algorithms/unikd-options';
import { bceWithLogits, crossEntropy, dense, dropoutMask, gradReverse, klRows, l1Mean, sumRows } from '../../shared/ml/ops';
import { tf, type Tensor, type Tensor2D } from '../../shared/ml/tf';
import { createRng } from '../../shared/random';
import { assertClose, randn, useBackend } from '../helpers/tensors';

const B = 6;
const C = 4;

function logSoftmaxRow(z: ArrayLike<number>, off: number, n: number, tau = 1): number[] {
  let m = -Infinity;
  for (let j = 0; j < n; j++) m = Math.max(m, (z[off + j] as number) / tau);
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp((z[off + j] as number) / tau - m);
  return Array.from({ length: n }, (_, j) => (z[off + j] as number) / tau - m - Math.log(s));
}

test('crossEntropy = mean −log softmax at the label; klRows = Σ q_T (log q_T − log q_S) at temperature τ', async () => {
  await useBackend('cpu');
  const zs = randn(1, B * C, 3);
  const zt = randn(2, B * C, 3);
  const labels = [0, 3, 1, 2, 2, 0];
  let ce = 0;
  for (let i = 0; i < B; i++) ce -= logSoftmaxRow(zs, i * C, C)[labels[i] as number] as number;
  ce /= B;
  const kl = Array.from({ length: B }, (_, i) => {
    const lt = logSoftmaxRow(zt, i * C, C, 4);
    const ls = logSoftmaxRow(zs, i * C, C, 4);
    return lt.reduce((s, v, j) => s + Math.exp(v) * (v - (ls[j] as number)), 0);
  });
  tf.tidy(() => {
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), C).toFloat() as Tensor2D;
    assertClose(crossEntropy(tf.tensor2d(zs, [B, C]), oneHot), [ce], 1e-6, 'crossEntropy');
    const k = klRows(tf.tensor2d(zt, [B, C]), tf.tensor2d(zs, [B, C]), 4);
    assert.deepEqual(k.shape, [B]);
    assertClose(k, kl, 1e-5, 'klRows');
    assertClose(klRows(tf.tensor2d(zs, [B, C]), tf.tensor2d(zs, [B, C]), 2), new Array(B).fill(0), 1e-6, 'KL(p‖p) = 0');
    // Large logits stay finite (log-softmax on both sides, docs/unikd.md §7.11).
    const big = tf.tensor2d([1e4, -1e4, 0, 0, -1e4, 1e4, 0, 0], [2, C]);
    const kBig = klRows(big, tf.reverse(big, 0) as Tensor2D, 1).dataSync();
    assert.ok(Array.from(kBig).every(Number.isFinite), `KL with huge logits: ${Array.from(kBig)}`);
    assert.ok(Number.isFinite(crossEntropy(big, tf.tensor2d([0, 1, 0, 0, 1, 0, 0, 0], [2, C])).dataSync()[0] as number));
  });
});

test('bceWithLogits = mean BCE(sigmoid(x), label), finite for |x| = 100; l1Mean = mean |a − b|', async () => {
  await useBackend('cpu');
  const x = [-100, -3, -0.5, 0, 0.7, 2, 100];
  // −log σ(x) = softplus(−x), −log(1 − σ(x)) = softplus(x), with softplus written the overflow-free way.
  const softplus = (v: number): number => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));
  const refStable = (label: 0 | 1): number => x.reduce((s, v) => s + softplus(label === 1 ? -v : v), 0) / x.length;
  tf.tidy(() => {
    const t = tf.tensor2d(x, [x.length, 1]);
    assertClose(bceWithLogits(t, 1), [refStable(1)], 1e-6, 'bce label 1');
    assertClose(bceWithLogits(t, 0), [refStable(0)], 1e-6, 'bce label 0');
    const a = randn(3, 12);
    const b = randn(4, 12);
    let l1 = 0;
    for (let i = 0; i < 12; i++) l1 += Math.abs((a[i] as number) - (b[i] as number)) / 12;
    assertClose(l1Mean(tf.tensor2d(a, [3, 4]), tf.tensor2d(b, [3, 4])), [l1], 1e-6, 'l1Mean');
  });
  // Spot values: BCE(x=0) = ln 2 for either label; BCE(100, 1) ≈ 0; BCE(100, 0) = 100.
  tf.tidy(() => {
    assertClose(bceWithLogits(tf.tensor1d([0]), 1), [Math.LN2], 1e-6, 'ln 2');
    assertClose(bceWithLogits(tf.tensor1d([100]), 0), [100], 1e-6, '100');
    assertClose(bceWithLogits(tf.tensor1d([100]), 1), [0], 1e-6, '0');
  });
});

test('gradReverse: identity forward, −α·dy backward; dense and sumRows', async () => {
  await useBackend('cpu');
  tf.tidy(() => {
    const x = tf.tensor2d(randn(5, 6), [2, 3]);
    const r = tf.tensor2d(randn(6, 6), [2, 3]);
    assertClose(gradReverse(x, 0.7), x, 0, 'forward');
    const g = tf.grad((xi: Tensor) => tf.sum(tf.mul(gradReverse(xi, 0.7), r)))(x);
    assertClose(g, tf.mul(r, -0.7), 1e-7, 'backward');
    const w = tf.tensor2d(randn(7, 12), [3, 4]);
    const bias = tf.tensor1d(randn(8, 4));
    assertClose(dense(x, w, bias), tf.add(tf.matMul(x, w), bias), 1e-6, 'dense');
    assertClose(sumRows(x), tf.sum(x, 0, true), 1e-6, 'sumRows');
  });
});

test('dropoutMask: inverted dropout values 0 or 1/(1−p), rate ≈ p, reproducible from the seed', async () => {
  await useBackend('cpu');
  const draw = (seed: number): Float32Array => {
    const rng = createRng(seed);
    const m = dropoutMask([20, 50], 0.2, () => rng.next());
    const v = m.dataSync() as Float32Array;
    m.dispose();
    return Float32Array.from(v);
  };
  const a = draw(1);
  assert.ok(a.every((v) => v === 0 || Math.abs(v - 1.25) < 1e-7));
  const dropped = a.filter((v) => v === 0).length / a.length;
  assert.ok(dropped > 0.15 && dropped < 0.25, `dropped ${dropped}`);
  assert.deepEqual(draw(1), a);
  assert.notDeepEqual(draw(2), a);
});

test('β and α schedules match docs/unikd.md §2.4', () => {
  const r3 = (v: number): number => Math.round(v * 1000) / 1000;
  assert.deepEqual([1, 2, 5, 10].map((e) => r3(kdBeta(e, 10, 'log10'))), [0.11, 0.121, 0.161, 0.26]);
  assert.deepEqual([1, 2, 5, 10].map((e) => r3(kdBeta(e, 10, 'ln'))), [0.125, 0.155, 0.3, 0.9]);
  assert.deepEqual([1, 2, 5, 80].map((e) => r3(kdBeta(e, 80, 'log10'))), [0.101, 0.102, 0.106, 0.26]);
  assert.deepEqual([1, 2, 5, 80].map((e) => r3(kdBeta(e, 80, 'ln'))), [0.103, 0.106, 0.115, 0.9]);
  const a3 = grlAlpha({ epoch: 1, step: 0, stepsPerEpoch: 3, epochs: 10 });
  const a7 = grlAlpha({ epoch: 1, step: 0, stepsPerEpoch: 7, epochs: 10 });
  assert.equal(Math.round(a3 * 1e4) / 1e4, 0.9965);
  assert.equal(Math.round(a7 * 1e4) / 1e4, 0.9996);
  assert.ok(grlAlpha({ epoch: 10, step: 2, stepsPerEpoch: 3, epochs: 10 }) > a3);
});
