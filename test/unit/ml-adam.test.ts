/**
 * AdamL2 = PyTorch Adam with coupled L2 weight decay (docs/unikd.md §7.9): g ← g + wd·θ, then the Adam update with
 * eps 1e-8. Checked against a Float64 reference, incl. a step in which one variable has no gradient.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamL2 } from '../../shared/ml/adam';
import { tf } from '../../shared/ml/tf';
import { assertClose, liveTensors, randn, useBackend } from '../helpers/tensors';

interface RefState {
  theta: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/** One PyTorch Adam step (coupled L2) at step count t (1-based). */
function refStep(s: RefState, g: ArrayLike<number>, t: number, o: { lr: number; beta1: number; beta2: number; eps: number; wd: number }): void {
  for (let i = 0; i < s.theta.length; i++) {
    const gi = (g[i] as number) + o.wd * (s.theta[i] as number);
    s.m[i] = o.beta1 * (s.m[i] as number) + (1 - o.beta1) * gi;
    s.v[i] = o.beta2 * (s.v[i] as number) + (1 - o.beta2) * gi * gi;
    const mHat = (s.m[i] as number) / (1 - o.beta1 ** t);
    const vHat = (s.v[i] as number) / (1 - o.beta2 ** t);
    s.theta[i] = (s.theta[i] as number) - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
  }
}

const OPTS = { lr: 1e-2, beta1: 0.5, beta2: 0.99, eps: 1e-8, wd: 1e-4 };

function ref(init: Float32Array): RefState {
  return { theta: Float64Array.from(init), m: new Float64Array(init.length), v: new Float64Array(init.length) };
}

test('AdamL2 matches PyTorch Adam with coupled L2 over several steps (cpu, wasm)', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const a0 = randn(1, 12);
    const b0 = randn(2, 5);
    const a = tf.variable(tf.tensor2d(a0, [3, 4]), true, `adam.a.${backend}`);
    const b = tf.variable(tf.tensor1d(b0), true, `adam.b.${backend}`);
    const frozen = tf.variable(tf.zeros([2]), false, `adam.frozen.${backend}`);
    const opt = new AdamL2({ a, b, frozen }, { lr: OPTS.lr, beta1: OPTS.beta1, beta2: OPTS.beta2, weightDecay: OPTS.wd });
    assert.deepEqual(opt.varList.map((v) => v.name), [a.name, b.name], 'non-trainable variables are not optimised');
    const ra = ref(a0);
    const rb = ref(b0);
    for (let t = 1; t <= 4; t++) {
      const ga = randn(10 + t, 12, 0.1 * t);
      const gb = randn(20 + t, 5, 1e-3);
      tf.tidy(() => opt.step({ [a.name]: tf.tensor2d(ga, [3, 4]), [b.name]: tf.tensor1d(gb) }));
      refStep(ra, ga, t, OPTS);
      refStep(rb, gb, t, OPTS);
      assertClose(a, ra.theta, 1e-5, `${backend} a after step ${t}`);
      assertClose(b, rb.theta, 1e-5, `${backend} b after step ${t}`);
    }
    const n = liveTensors();
    opt.dispose();
    assert.equal(liveTensors(), n - 2 * 2 - 2, 'dispose frees 2 moment slots per variable and the 2 β-power scalars');
    tf.dispose([a, b, frozen]);
  }
  await useBackend('cpu');
});

test('AdamL2: a variable without a gradient is skipped and the others keep their own moments', async () => {
  await useBackend('cpu');
  // Same shapes, so that a slot mix-up would not even fail loudly.
  const a0 = randn(3, 6);
  const b0 = randn(4, 6);
  const a = tf.variable(tf.tensor1d(a0), true, 'adam.skip.a');
  const b = tf.variable(tf.tensor1d(b0), true, 'adam.skip.b');
  const opt = new AdamL2({ a, b }, { lr: OPTS.lr, beta1: OPTS.beta1, beta2: OPTS.beta2, weightDecay: OPTS.wd });
  const rb = ref(b0);
  const ga1 = randn(30, 6, 5); // large, so that a's moments differ a lot from b's
  const gb = [randn(31, 6, 0.01), randn(32, 6, 0.01), randn(33, 6, 0.01)];
  tf.tidy(() => opt.step({ [a.name]: tf.tensor1d(ga1), [b.name]: tf.tensor1d(gb[0] as Float32Array) }));
  refStep(rb, gb[0] as Float32Array, 1, OPTS);
  const aAfter1 = Float32Array.from(a.dataSync());
  // Step 2: only b has a gradient (e.g. a branch that did not contribute to the loss).
  tf.tidy(() => opt.step({ [b.name]: tf.tensor1d(gb[1] as Float32Array) }));
  refStep(rb, gb[1] as Float32Array, 2, OPTS);
  assert.deepEqual(Float32Array.from(a.dataSync()), aAfter1, 'a is not updated without a gradient');
  assertClose(b, rb.theta, 1e-5, 'b after step 2 uses its own moments');
  tf.tidy(() => opt.step({ [b.name]: tf.tensor1d(gb[2] as Float32Array) }));
  refStep(rb, gb[2] as Float32Array, 3, OPTS);
  assertClose(b, rb.theta, 1e-5, 'b after step 3');
  opt.dispose();
  tf.dispose([a, b]);
});
