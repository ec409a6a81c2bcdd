/**
 * An operator's labelled set in a round (hub/worker/labelled-eval.ts), with a real tfjs CNN: the candidate's head is
 * fitted to it and judged cross-fitted, so labels the features cannot predict score near chance although a head
 * fitted to all of them gets most of them right; a class with too few windows, or the setting off, leaves the head
 * as it was and says why.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toChannelsLast } from '../../shared/ml/batches';
import { createCnn, type Cnn } from '../../shared/ml/cnn';
import { headArgmax, headOf } from '../../shared/ml/labelled-head';
import { parseCnnSpec } from '../../shared/ml/model-spec';
import { disposeVars } from '../../shared/ml/params';
import { argmaxRows, featureRows, predictLogits } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import { labelledRound } from '../../hub/worker/labelled-eval';
import { liveTensors, randn, useBackend } from '../helpers/tensors';

const SPEC = parseCnnSpec({ inChannels: 3, windowLength: 32, numClasses: 2, kernelSize: 5, stride: 1, padding: 2, dropout: 0, midChannels: 8, finalChannels: 24 });

function windows(n: number, seed: number): WindowSet {
  return { n, channels: 3, length: 32, x: randn(seed, n * 3 * 32, 1) };
}

/** Windows with labels the net's features do predict: the 40 with the lowest first feature (0) and the 40 highest (1). */
function featureLabelled(net: Cnn, ws: WindowSet): WindowSet & { y: Uint8Array } {
  const f = featureRows(net, toChannelsLast(ws));
  const order = Array.from({ length: f.n }, (_, i) => i).sort((a, b) => f.data[a * f.width]! - f.data[b * f.width]!);
  const keep = [...order.slice(0, 40), ...order.slice(-40)].sort((a, b) => a - b);
  const per = ws.channels * ws.length;
  const x = new Float32Array(keep.length * per);
  keep.forEach((i, j) => x.set(ws.x.subarray(i * per, (i + 1) * per), j * per));
  return { n: keep.length, channels: ws.channels, length: ws.length, x, y: Uint8Array.from(keep, (i) => (order.indexOf(i) < 40 ? 0 : 1)) };
}

const share = (v: Uint8Array): number => (100 * v.reduce((s, x) => s + x, 0)) / v.length;

test('labelled set: a fitted head, judged cross-fitted, learns what the features say; the serving student is judged as it is', async () => {
  await useBackend('cpu');
  const candidate = createCnn(SPEC, createRng(1));
  const current = createCnn(SPEC, createRng(2));
  const ws = featureLabelled(candidate, windows(200, 3));
  const live = liveTensors();
  const { net, scores } = labelledRound(candidate, current, ws, true);
  assert.ok(net !== candidate && scores.head.fitted, scores.head.why);
  assert.match(scores.head.why, /fitted to 80 labelled windows \(judged cross-fitted/);
  assert.ok(scores.candidateAccuracy >= 85, `cross-fitted accuracy ${scores.candidateAccuracy}`);
  const own = share(argmaxRows(predictLogits(candidate, ws)).map((c, i) => (c === ws.y[i] ? 1 : 0)));
  assert.ok(scores.candidateAccuracy > own + 20, `fitted ${scores.candidateAccuracy} vs the candidate's own head ${own}`);
  const cur = argmaxRows(predictLogits(current, ws));
  assert.deepEqual([...scores.correct.current], [...cur].map((c, i) => (c === ws.y[i] ? 1 : 0)));
  assert.equal(scores.correct.candidate.length, 80);
  disposeVars(net.vars);
  assert.equal(liveTensors(), live, 'only the returned net was made');
  disposeVars(candidate.vars);
  disposeVars(current.vars);
});

test('labelled set: labels the features cannot predict are judged near chance, though the head fitted to all gets most right', async () => {
  await useBackend('cpu');
  const candidate = createCnn(SPEC, createRng(4));
  const rng = createRng(5);
  const ws = { ...windows(40, 6), y: Uint8Array.from({ length: 40 }, (_, i) => (i < 20 ? 0 : 1)) };
  rng.shuffle(ws.y);
  const { net, scores } = labelledRound(candidate, candidate, ws, true);
  const inSample = share(headArgmax(featureRows(net, toChannelsLast(ws)), headOf(net)).map((c, i) => (c === ws.y[i] ? 1 : 0)));
  assert.ok(inSample >= 80, `the head fitted to all 40 gets ${inSample} % of them right`);
  assert.ok(scores.candidateAccuracy <= 65, `cross-fitted ${scores.candidateAccuracy} %`);
  disposeVars(net.vars);
  disposeVars(candidate.vars);
});

test('labelled set: too few windows of a class, or the setting off, keeps the candidate and its head, and says why', async () => {
  await useBackend('cpu');
  const candidate = createCnn(SPEC, createRng(7));
  const ws = { ...windows(30, 8), y: Uint8Array.from({ length: 30 }, (_, i) => (i < 26 ? 0 : 1)) };
  const short = labelledRound(candidate, candidate, ws, true);
  assert.equal(short.net, candidate);
  assert.ok(!short.scores.head.fitted);
  assert.match(short.scores.head.why, /not fitted: .*class 1: 4/);
  assert.equal(short.scores.candidateAccuracy, short.scores.currentAccuracy, 'the same model judged on the same windows');
  const off = labelledRound(candidate, candidate, { ...ws, y: Uint8Array.from({ length: 30 }, (_, i) => i % 2) }, 'fitLabelledHead is off');
  assert.equal(off.net, candidate);
  assert.match(off.scores.head.why, /not fitted: fitLabelledHead is off/);
  disposeVars(candidate.vars);
});
