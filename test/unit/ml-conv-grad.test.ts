/**
 * ops.conv1d's custom gradient (forward convolutions only, docs/backends.md §6) must equal tfjs' stock conv1d gradient.
 * The stock gradient needs Conv2DBackpropFilter, which only the cpu backend has, so the reference is always computed on
 * cpu; the custom op is checked on cpu and on wasm (the backend it exists for).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conv1d } from '../../shared/ml/ops';
import { tf, type Tensor, type Tensor3D } from '../../shared/ml/tf';
import { assertClose, assertNoTensorLeak, randn, useBackend } from '../helpers/tensors';

interface Case {
  readonly name: string;
  readonly n: number;
  readonly len: number;
  readonly cin: number;
  readonly cout: number;
  readonly k: number;
  readonly stride: number;
  readonly pad: number;
  readonly needInputGrad: boolean;
}

const CASES: Case[] = [
  { name: 'HAR block 1: k5 pad2', n: 4, len: 32, cin: 3, cout: 5, k: 5, stride: 1, pad: 2, needInputGrad: true },
  { name: 'blocks 2/3: k8 pad4 (length L+1)', n: 4, len: 33, cin: 6, cout: 7, k: 8, stride: 1, pad: 4, needInputGrad: true },
  { name: 'k8 pad4, even length', n: 5, len: 32, cin: 3, cout: 4, k: 8, stride: 1, pad: 4, needInputGrad: true },
  { name: 'valid k3 pad0', n: 4, len: 32, cin: 3, cout: 5, k: 3, stride: 1, pad: 0, needInputGrad: true },
  { name: 'k1 pad0', n: 4, len: 16, cin: 3, cout: 2, k: 1, stride: 1, pad: 0, needInputGrad: true },
  { name: 'SSC block 1: k25 stride6 pad12', n: 4, len: 64, cin: 3, cout: 5, k: 25, stride: 6, pad: 12, needInputGrad: false },
  { name: 'FD block 1: k32 stride6 pad16', n: 4, len: 70, cin: 1, cout: 4, k: 32, stride: 6, pad: 16, needInputGrad: false },
  { name: 'k5 stride2 pad0 (uneven tail)', n: 3, len: 31, cin: 2, cout: 3, k: 5, stride: 2, pad: 0, needInputGrad: false },
];

interface Data {
  readonly x: Float32Array;
  readonly w: Float32Array;
  readonly r: Float32Array;
  readonly lOut: number;
}

function caseData(c: Case, seed: number): Data {
  const lOut = Math.floor((c.len + 2 * c.pad - c.k) / c.stride) + 1;
  return {
    x: randn(seed, c.n * c.len * c.cin),
    w: randn(seed + 1, c.k * c.cin * c.cout, 1 / Math.sqrt(c.k * c.cin)),
    r: randn(seed + 2, c.n * lOut * c.cout),
    lOut,
  };
}

interface Result {
  readonly y: Float32Array;
  readonly dx: Float32Array;
  readonly dw: Float32Array;
}

/** Output and gradients of sum(conv(x, w) · R) on the current backend, with either implementation. */
function run(c: Case, d: Data, impl: 'stock' | 'custom'): Result {
  return tf.tidy(() => {
    const x = tf.tensor3d(d.x, [c.n, c.len, c.cin]);
    const w = tf.tensor3d(d.w, [c.k, c.cin, c.cout]);
    const r = tf.tensor3d(d.r, [c.n, d.lOut, c.cout]);
    const conv = (xi: Tensor, wi: Tensor): Tensor3D =>
      impl === 'stock'
        ? tf.conv1d(xi as Tensor3D, wi as Tensor3D, c.stride, c.pad === 0 ? 'valid' : [[0, 0], [0, 0], [c.pad, c.pad], [0, 0]])
        : conv1d(xi as Tensor3D, wi as Tensor3D, c.stride, c.pad, c.needInputGrad);
    const y = conv(x, w);
    assert.deepEqual(y.shape, [c.n, d.lOut, c.cout]);
    const [dx, dw] = tf.grads((xi: Tensor, wi: Tensor) => tf.sum(tf.mul(conv(xi, wi), r)))([x, w]) as [Tensor, Tensor];
    assert.deepEqual(dx.shape, x.shape);
    assert.deepEqual(dw.shape, w.shape);
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

const RTOL = 1e-5;

function compare(c: Case, got: Result, ref: Result, where: string): void {
  assertClose(got.y, ref.y, RTOL, `${where} ${c.name}: forward`);
  assertClose(got.dw, ref.dw, RTOL, `${where} ${c.name}: dW`);
  if (c.needInputGrad) assertClose(got.dx, ref.dx, RTOL, `${where} ${c.name}: dx`);
  else assert.ok(got.dx.every((v) => v === 0), `${where} ${c.name}: dx must be zeros when needInputGrad is false`);
}

test('cpu: custom conv1d gradient equals the stock tf.conv1d gradient', async () => {
  await useBackend('cpu');
  CASES.forEach((c, i) => {
    const d = caseData(c, 100 + 10 * i);
    compare(c, run(c, d, 'custom'), run(c, d, 'stock'), 'cpu');
  });
});

test('wasm: custom conv1d gradient equals the stock gradient computed on cpu', async () => {
  await useBackend('cpu');
  const refs = CASES.map((c, i) => {
    const d = caseData(c, 100 + 10 * i);
    return { c, d, ref: run(c, d, 'stock') };
  });
  await useBackend('wasm');
  try {
    for (const { c, d, ref } of refs) compare(c, run(c, d, 'custom'), ref, 'wasm');
  } finally {
    await useBackend('cpu');
  }
});

test('conv1d rejects an input gradient with stride > 1', async () => {
  await useBackend('cpu');
  tf.tidy(() => {
    const x = tf.zeros([2, 16, 1]) as Tensor3D;
    const w = tf.zeros([4, 1, 2]) as Tensor3D;
    assert.throws(() => conv1d(x, w, 2, 1, true), /stride > 1/);
  });
});

test('conv1d forward and backward leak no tensors', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const c = CASES[1] as Case;
    const d = caseData(c, 7);
    assertNoTensorLeak(() => run(c, d, 'custom'), 3, `${backend} conv1d grads`);
  }
  await useBackend('cpu');
});
