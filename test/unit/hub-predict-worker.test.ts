/**
 * The worker side of the `predict` task (hub/worker/predict-worker.ts), in-process with real tfjs: the models' logits
 * in task order, and the adapted reference adapted to `adaptTo` when given (the rollout watch adapts it to the site's
 * stored windows, not to the fresh windows it judges) or to the judged windows otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCnn } from '../../shared/artifact/cnn-artifact';
import { createCnn, type Cnn } from '../../shared/ml/cnn';
import { defaultSyntheticSpec, generateSites } from '../../shared/data/synthetic';
import { inputFor, specFor } from '../../shared/ml/model-spec';
import { disposeVars } from '../../shared/ml/params';
import { adaptToSite } from '../../shared/ml/site-adapt';
import { predictLogits } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import { runPredict } from '../../hub/worker/predict-worker';
import { useBackend } from '../helpers/tensors';

const sites = generateSites(defaultSyntheticSpec.tiny);
const STORED = sites[1]?.train as WindowSet;
const JUDGED = sites[1]?.test as WindowSet;
const SPEC = specFor(inputFor(STORED.channels, STORED.length, defaultSyntheticSpec.tiny.numClasses), 'student');
const settings = { iterations: 1, sourcePrior: 0.25 };

function adaptedLogits(net: Cnn, to: WindowSet): Float32Array {
  const a = adaptToSite(net, to, settings).net;
  try {
    return predictLogits(a, JUDGED).data;
  } finally {
    disposeVars(a.vars);
  }
}

test('the last model adapts to adaptTo when given, else to the judged windows; the others run as they are', async () => {
  await useBackend('cpu');
  const net = createCnn(SPEC, createRng(3));
  const bytes = encodeCnn(net, { kind: 'student', version: 'p-1', algorithm: 'kd', metrics: {} });
  const plain = predictLogits(net, JUDGED).data;
  const toStored = runPredict({ kind: 'predict', backend: 'wasm', models: [bytes, bytes], windows: JUDGED, adaptLast: settings, adaptTo: STORED }, 'wasm');
  assert.deepEqual(toStored.numClasses, [net.spec.numClasses, net.spec.numClasses]);
  assert.deepEqual(toStored.logits[0], plain);
  assert.deepEqual(toStored.logits[1], adaptedLogits(net, STORED));
  const toJudged = runPredict({ kind: 'predict', backend: 'wasm', models: [bytes, bytes], windows: JUDGED, adaptLast: settings }, 'wasm');
  assert.deepEqual(toJudged.logits[1], adaptedLogits(net, JUDGED));
  assert.notDeepEqual(toJudged.logits[1], toStored.logits[1], 'adapting to other windows gives another reference');
  disposeVars(net.vars);
});
