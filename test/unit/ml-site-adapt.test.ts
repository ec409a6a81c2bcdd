/**
 * Label-free site adaptation (shared/ml/site-adapt.ts): the site's batch-norm statistics, block by block, against
 * statistics computed here from the formulas; the centroid head's argmax is the nearest centroid; the base model is
 * left untouched; warm starts; coded errors; the information-maximisation loss on hand-made logits; and on a synthetic site with a sensor gain and offset error, accuracy
 * the adaptation wins back without labels.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toChannelsLast, windowsTensor } from '../../shared/ml/batches';
import { createCnn, featuresEval, type Cnn } from '../../shared/ml/cnn';
import { generateSites } from '../../shared/data/synthetic';
import { evaluate } from '../../shared/ml/evaluate';
import { parseCnnSpec } from '../../shared/ml/model-spec';
import { disposeVars, exportVars } from '../../shared/ml/params';
import { adaptToSite, centroidsOfHead, infoMaxLoss, labelledCentroidHead } from '../../shared/ml/site-adapt';
import { tf } from '../../shared/ml/tf';
import { argmaxRows, predictLogits, train } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { assertClose, liveTensors, randn, useBackend } from '../helpers/tensors';

const SPEC = parseCnnSpec({ inChannels: 3, windowLength: 32, numClasses: 3, kernelSize: 5, stride: 1, padding: 2, dropout: 0, midChannels: 4, finalChannels: 6 });

function windows(n: number, seed: number, offset = 0): WindowSet {
  const x = randn(seed, n * 3 * 32, 1);
  for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) + offset;
  return { n, channels: 3, length: 32, x };
}

function weightsOf(net: Cnn): string {
  return JSON.stringify(Object.entries(exportVars(net.vars)).map(([k, v]) => [k, Array.from(v.data)]));
}

test('site adaptation: block 1 BN holds the mean and unbiased variance of the site\'s conv1 output; the base is untouched', async () => {
  await useBackend('cpu');
  const base = createCnn(SPEC, createRng(1));
  const before = weightsOf(base);
  const ws = windows(300, 2, 0.7); // > one chunk of 256: the chunked sums must add up
  const { net } = adaptToSite(base, ws, { iterations: 1 });
  assert.equal(weightsOf(base), before, 'the base model is not changed');
  const rows = toChannelsLast(ws);
  const idx = Array.from({ length: ws.n }, (_, i) => i);
  const [mean, variance] = tf.tidy(() => {
    const y = tf.conv1d(windowsTensor(rows, idx, 32, 3), net.vars['fe.conv1.w'] as tf.Tensor as tf.Tensor3D, 1, [[0, 0], [0, 0], [2, 2], [0, 0]]);
    const m = tf.moments(y, [0, 1]);
    const count = y.shape[0] * y.shape[1];
    return [m.mean.dataSync(), tf.mul(m.variance, count / (count - 1)).dataSync()];
  });
  assertClose(net.vars['fe.bn1.mean'] as tf.Tensor, mean as Float32Array, 1e-4, 'bn1 mean');
  assertClose(net.vars['fe.bn1.var'] as tf.Tensor, variance as Float32Array, 1e-3, 'bn1 var');
  for (const k of [2, 3]) assert.notDeepEqual(Array.from((net.vars[`fe.bn${k}.mean`] as tf.Tensor).dataSync()), Array.from((base.vars[`fe.bn${k}.mean`] as tf.Tensor).dataSync()));
  disposeVars(net.vars);
  disposeVars(base.vars);
});

test('site adaptation with a source prior: BN holds the mixture moments of the base\'s and the site\'s statistics; 1 keeps the base\'s', async () => {
  await useBackend('cpu');
  const base = createCnn(SPEC, createRng(5));
  // Source statistics that are not the site's, so the mixture is visible.
  tf.tidy(() => {
    base.vars['fe.bn1.mean']!.assign(tf.tensor1d([0.5, -0.3, 0.2, 1.1]));
    base.vars['fe.bn1.var']!.assign(tf.tensor1d([2, 0.5, 1.5, 3]));
  });
  const ws = windows(200, 6, 0.7);
  const site = adaptToSite(base, ws, { iterations: 0 }).net;
  const mixed = adaptToSite(base, ws, { iterations: 0, sourcePrior: 0.25 }).net;
  const read = (net: Cnn, name: string): Float32Array => (net.vars[name] as tf.Tensor).dataSync() as Float32Array;
  const [m0, v0, ms, vs] = [read(base, 'fe.bn1.mean'), read(base, 'fe.bn1.var'), read(site, 'fe.bn1.mean'), read(site, 'fe.bn1.var')];
  const mean = Float32Array.from(ms, (m, j) => 0.25 * m0[j]! + 0.75 * m);
  const variance = Float32Array.from(vs, (v, j) => 0.25 * (v0[j]! + m0[j]! ** 2) + 0.75 * (v + ms[j]! ** 2) - mean[j]! ** 2);
  assertClose(mixed.vars['fe.bn1.mean'] as tf.Tensor, mean, 1e-5, 'bn1 mean');
  assertClose(mixed.vars['fe.bn1.var'] as tf.Tensor, variance, 1e-4, 'bn1 var');
  const kept = adaptToSite(base, ws, { iterations: 0, sourcePrior: 1 }).net;
  for (const k of [1, 2, 3]) {
    for (const stat of ['mean', 'var']) assertClose(kept.vars[`fe.bn${k}.${stat}`] as tf.Tensor, read(base, `fe.bn${k}.${stat}`), 1e-6, `bn${k} ${stat} kept`);
  }
  for (const bad of [-0.1, 1.5, Number.NaN]) {
    assert.throws(() => adaptToSite(base, ws, { iterations: 0, sourcePrior: bad }), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
  }
  for (const net of [site, mixed, kept, base]) disposeVars(net.vars);
});

test('site adaptation: predictions are the nearest unit centroid by cosine; the head gives the centroids back; no tensor is left', async () => {
  await useBackend('cpu');
  const base = createCnn(SPEC, createRng(3));
  const ws = windows(120, 4);
  const live = liveTensors();
  const a = adaptToSite(base, ws, { iterations: 2 });
  const k = SPEC.numClasses;
  const f = SPEC.finalChannels;
  for (let c = 0; c < k; c++) {
    const row = a.centroids.subarray(c * f, (c + 1) * f);
    const norm = Math.hypot(...row);
    assert.ok(norm === 0 || Math.abs(norm - 1) < 1e-5, `centroid ${c} has length ${norm}`);
  }
  assertClose(centroidsOfHead(a.net), a.centroids, 1e-4, 'centroids from the head');
  const feats = tf.tidy(() => featuresEval(a.net, windowsTensor(toChannelsLast(ws), Array.from({ length: ws.n }, (_, i) => i), 32, 3)).arraySync());
  const predicted = argmaxRows(predictLogits(a.net, ws));
  feats.forEach((row, i) => {
    const scores = Array.from({ length: k }, (_, c) => row.reduce((s, v, j) => s + v * (a.centroids[c * f + j] as number), 0));
    assert.equal(predicted[i], scores.indexOf(Math.max(...scores)), `window ${i}`);
  });
  disposeVars(a.net.vars);
  assert.equal(liveTensors(), live, 'only the returned network stays alive');
  disposeVars(base.vars);
});

test('labelled centroid head (benchmarks): the nearest class centroid of the labelled features, by cosine; the rest of the net as it was', async () => {
  await useBackend('cpu');
  const base = createCnn(SPEC, createRng(11));
  const before = weightsOf(base);
  const ws: WindowSet = { ...windows(60, 12), y: Uint8Array.from({ length: 60 }, (_, i) => (i * 7) % 3) };
  const live = liveTensors();
  const head = labelledCentroidHead(base, ws);
  assert.equal(weightsOf(base), before, 'the net is not changed');
  for (const name of Object.keys(base.vars).filter((n) => !n.startsWith('clf.'))) assertClose(head.vars[name] as tf.Tensor, (base.vars[name] as tf.Tensor).dataSync() as Float32Array, 0, name);
  const k = SPEC.numClasses;
  const feats = tf.tidy(() => featuresEval(base, windowsTensor(toChannelsLast(ws), Array.from({ length: ws.n }, (_, i) => i), 32, 3)).arraySync());
  const sums = Array.from({ length: k }, () => new Array<number>(SPEC.finalChannels).fill(0));
  feats.forEach((row, i) => {
    const n = Math.hypot(...row);
    row.forEach((v, j) => (sums[ws.y![i]!]![j]! += v / n));
  });
  const predicted = argmaxRows(predictLogits(head, ws));
  feats.forEach((row, i) => {
    const cos = sums.map((c) => row.reduce((s, v, j) => s + v * c[j]!, 0) / Math.hypot(...c));
    assert.equal(predicted[i], cos.indexOf(Math.max(...cos)), `window ${i}`);
  });
  disposeVars(head.vars);
  assert.equal(liveTensors(), live, 'nothing leaks');
  assert.throws(() => labelledCentroidHead(base, windows(10, 13)), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  assert.throws(() => labelledCentroidHead(base, { ...windows(3, 13), y: Uint8Array.from([0, 1, 3]) }), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  disposeVars(base.vars);
});

test('site adaptation: a warm start from its own centroids is a fixed point; other centroids give other labels', async () => {
  await useBackend('cpu');
  const base = createCnn(SPEC, createRng(5));
  const ws = windows(90, 6);
  const a = adaptToSite(base, ws, { iterations: 50 }); // converged: nearest-centroid labels no longer change
  const again = adaptToSite(base, ws, { iterations: 0, init: a.centroids });
  assert.deepEqual(argmaxRows(predictLogits(again.net, ws)), argmaxRows(predictLogits(a.net, ws)));
  const rotated = new Float32Array(a.centroids.length);
  const f = SPEC.finalChannels;
  for (let c = 0; c < SPEC.numClasses; c++) rotated.set(a.centroids.subarray(((c + 1) % SPEC.numClasses) * f, ((c + 1) % SPEC.numClasses + 1) * f), c * f);
  const other = adaptToSite(base, ws, { iterations: 0, init: rotated });
  assert.notDeepEqual(argmaxRows(predictLogits(other.net, ws)), argmaxRows(predictLogits(a.net, ws)), 'the warm start is used');
  for (const n of [a.net, again.net, other.net, base]) disposeVars(n.vars);
});

test('site adaptation: too few windows, wrong warm-start centroids and non-finite windows are coded errors, nothing leaks', async () => {
  await useBackend('cpu');
  const base = createCnn(SPEC, createRng(7));
  const live = liveTensors();
  assert.throws(() => adaptToSite(base, windows(1, 8), { iterations: 1 }), (e: unknown) => isSitekdError(e, ErrorCode.DISTILL_TOO_FEW_SAMPLES));
  assert.throws(() => adaptToSite(base, windows(10, 8), { iterations: 1, init: new Float32Array(5) }), (e: unknown) => isSitekdError(e, ErrorCode.MODEL_SPEC_MISMATCH));
  const bad = windows(10, 9);
  bad.x[17] = Number.NaN;
  assert.throws(() => adaptToSite(base, bad, { iterations: 1 }), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_NONFINITE));
  assert.equal(liveTensors(), live);
  disposeVars(base.vars);
});

test('site adaptation: a site whose sensors have gain and offset errors gets back accuracy the source model lost, without labels', async () => {
  await useBackend('cpu');
  const knobs = { rotationDeg: 0, gain: 0.6, offset: 0.8, noise: 0, timeScale: 0, intensity: 0, labelSkew: 0 };
  const [source, site] = generateSites({ seed: 3, sites: 2, channels: 3, length: 32, numClasses: 3, trainPerClass: 40, testPerClass: 30, shift: 1, knobs });
  const spec = { ...SPEC, dropout: 0.2 };
  const net = train({ algorithm: 'source-only', spec, source: source!.train, target: source!.train, seed: 1, hparams: { epochs: 15 } }).net;
  const adapted = adaptToSite(net, site!.train, { iterations: 1 }).net;
  const [onSource, before, after] = [evaluate(net, source!.test).accuracy, evaluate(net, site!.test).accuracy, evaluate(adapted, site!.test).accuracy];
  assert.ok(before < onSource - 10, `the shift costs accuracy (source ${onSource.toFixed(1)}, site ${before.toFixed(1)})`);
  assert.ok(after >= before + 10, `adaptation wins back at least 10 points: ${before.toFixed(1)} → ${after.toFixed(1)}`);
  disposeVars(net.vars);
  disposeVars(adapted.vars);
});

test('information-maximisation loss: 0 when unsure or one class only, −ln k when sure and every class used', () => {
  const rows = (data: number[][]) => ({ n: data.length, width: data[0]!.length, data: Float32Array.from(data.flat()) });
  const near = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-6, `${a} is not ${b}`);
  // Every prediction uniform: entropy ln 3, mean uniform: ln 3.
  near(infoMaxLoss(rows([[0, 0, 0], [1, 1, 1]])), 0);
  // Sure of each window and the three classes equally used: about 0 − ln 3.
  near(infoMaxLoss(rows([[40, 0, 0], [0, 40, 0], [0, 0, 40]])), -Math.log(3));
  // Sure, but one class for all: no diversity, about 0.
  near(infoMaxLoss(rows([[40, 0, 0], [40, 0, 0]])), 0);
  // Sure of two classes of three, equally used: −ln 2, between the two.
  near(infoMaxLoss(rows([[40, 0, 0], [0, 40, 0]])), -Math.log(2));
});
