/**
 * A head fitted to labelled windows (shared/ml/labelled-head.ts): softmax regression that separates what the starting
 * head gets wrong, at the feature scale of real models; the shortfall that keeps a head from being fitted; a copy
 * with the new head leaves the model as it was.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCnn } from '../../shared/ml/cnn';
import { fitHead, headArgmax, headOf, LABELLED_HEAD_MIN_PER_CLASS, labelledShortfall, withHead } from '../../shared/ml/labelled-head';
import { parseCnnSpec } from '../../shared/ml/model-spec';
import { disposeVars } from '../../shared/ml/params';
import { tf } from '../../shared/ml/tf';
import { createRng } from '../../shared/random';
import { assertClose, liveTensors, randn, useBackend } from '../helpers/tensors';

test('fitHead separates classes the starting head confuses, with features of norm ~8 (as pooled CNN features)', () => {
  // Two classes along one direction, both with a large common offset: a head that starts at zero says class 0 for all.
  const n = 80;
  const noise = randn(1, n * 3, 0.3);
  const y = Uint8Array.from({ length: n }, (_, i) => i % 2);
  const data = Float32Array.from({ length: n * 3 }, (_, t) => {
    const [i, j] = [Math.floor(t / 3), t % 3];
    return (j === 0 ? 8 : j === 1 ? (y[i] === 1 ? 1 : -1) : 0) + noise[t]!;
  });
  const f = { n, width: 3, data };
  const init = { w: new Float32Array(3 * 2), b: new Float32Array(2) };
  assert.deepEqual([...new Set(headArgmax(f, init))], [0], 'the zero head picks class 0 everywhere');
  const h = fitHead(f, y, init);
  assert.deepEqual([...headArgmax(f, h)], [...y], 'every labelled window right after the fit');
  const fresh = { n: 2, width: 3, data: Float32Array.from([8, 1.5, 0, 8, -1.5, 0]) };
  assert.deepEqual([...headArgmax(fresh, h)], [1, 0], 'new windows on either side');
  assert.deepEqual([...init.w], new Array(6).fill(0), 'the starting weights are not changed');
});

test('labelledShortfall names each class below the minimum, absent ones too; enough of every class fits', () => {
  const k = LABELLED_HEAD_MIN_PER_CLASS;
  const y = Uint8Array.from([...new Array(k + 2).fill(0), ...new Array(k).fill(1), 2, 2, 2]);
  const why = labelledShortfall(y, 4);
  assert.ok(why !== undefined && why.includes('class 2: 3') && why.includes('class 3: 0'), why);
  assert.ok(!why.includes('class 0') && !why.includes('class 1'), why);
  assert.equal(labelledShortfall(Uint8Array.from({ length: 3 * k }, (_, i) => i % 3), 3), undefined);
});

test('withHead: a copy with the given head, every other weight as it was; the model is left alone', async () => {
  await useBackend('cpu');
  const spec = parseCnnSpec({ inChannels: 2, windowLength: 16, numClasses: 3, kernelSize: 3, stride: 1, padding: 1, dropout: 0, midChannels: 4, finalChannels: 5 });
  const base = createCnn(spec, createRng(2));
  const before = headOf(base);
  const live = liveTensors();
  const h = { w: Float32Array.from({ length: 15 }, (_, i) => i / 10), b: Float32Array.from([1, 2, 3]) };
  const copy = withHead(base, h);
  assertClose(copy.vars['clf.w'] as tf.Tensor, h.w, 0, 'clf.w');
  assertClose(copy.vars['clf.b'] as tf.Tensor, h.b, 0, 'clf.b');
  for (const name of Object.keys(base.vars).filter((x) => !x.startsWith('clf.'))) assertClose(copy.vars[name] as tf.Tensor, (base.vars[name] as tf.Tensor).dataSync() as Float32Array, 0, name);
  assertClose(base.vars['clf.w'] as tf.Tensor, before.w, 0, 'the model keeps its head');
  disposeVars(copy.vars);
  assert.equal(liveTensors(), live, 'nothing leaks');
  disposeVars(base.vars);
});
