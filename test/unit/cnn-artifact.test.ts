import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { cnnFromArtifact, decodeCnnArtifact, encodeCnn } from '../../shared/artifact/cnn-artifact';
import { isSitekdError } from '../../shared/errors';
import { defaultSyntheticSpec, generateSites } from '../../shared/data/synthetic';
import { selectBackend } from '../../shared/ml/backend';
import { inputFor, specFor } from '../../shared/ml/model-spec';
import { Predictor } from '../../shared/ml/predictor';
import { predictLogits, train } from '../../shared/ml/train';

test('a trained student round-trips through its artifact with bit-identical predictions', async () => {
  await selectBackend('wasm');
  const spec = defaultSyntheticSpec.tiny;
  const [src, tgt] = generateSites({ ...spec, sites: 2 });
  assert.ok(src && tgt);
  const input = inputFor(spec.channels, spec.length, spec.numClasses);
  const t = train({ algorithm: 'dann', spec: specFor(input, 'teacher'), source: src.train, target: tgt.train, seed: 1, hparams: { epochs: 2, batchSize: 8 } });
  const s = train({ algorithm: 'unikd', spec: specFor(input, 'student'), source: src.train, target: tgt.train, seed: 1, teacher: t.net, hparams: { epochs: 2, batchSize: 8 } });
  const bytes = encodeCnn(s.net, { kind: 'student', version: 'v1', algorithm: 'unikd', metrics: { macroF1: 50 } });
  const loaded = cnnFromArtifact(decodeCnnArtifact(bytes));
  const a = predictLogits(s.net, tgt.test).data;
  const b = predictLogits(loaded, tgt.test).data;
  assert.deepEqual(Buffer.from(b.buffer), Buffer.from(a.buffer));
  // The deployment path (folded BN) is equal to the exact eval path up to float rounding.
  const p = new Predictor(loaded);
  const w = new Float32Array(spec.length * spec.channels);
  for (let t2 = 0; t2 < spec.length; t2++) for (let c = 0; c < spec.channels; c++) w[t2 * spec.channels + c] = tgt.test.x[c * spec.length + t2] as number;
  const fast = p.predictWindow(w).logits;
  for (let j = 0; j < spec.numClasses; j++) assert.ok(Math.abs((fast[j] as number) - (a[j] as number)) < 1e-4);
  p.dispose();
  // Re-encoding the loaded model gives the same bytes' digest for the weights.
  const again = decodeCnnArtifact(encodeCnn(loaded, { kind: 'student', version: 'v1', algorithm: 'unikd', metrics: { macroF1: 50 }, createdAt: decodeCnnArtifact(bytes).createdAt }));
  assert.equal(again.sha256, decodeCnnArtifact(bytes).sha256);
  for (const net of [t.net, s.net, loaded]) for (const v of Object.values(net.vars)) v.dispose();
});

test('an artifact whose spec does not match its weights is refused with MODEL_SPEC_MISMATCH or MODEL_CORRUPT', async () => {
  await selectBackend('wasm');
  const spec = specFor(inputFor(3, 32, 3), 'student');
  const [src, tgt] = generateSites({ ...defaultSyntheticSpec.tiny, sites: 2 });
  assert.ok(src && tgt);
  const s = train({ algorithm: 'source-only', spec, source: src.train, target: tgt.train, seed: 0, hparams: { epochs: 1, batchSize: 8 } });
  const bytes = encodeCnn({ ...s.net, spec: { ...spec, midChannels: 8 } }, { kind: 'student', version: 'x', algorithm: 'source-only', metrics: {} });
  assert.throws(() => cnnFromArtifact(decodeCnnArtifact(bytes)), (e: unknown) => isSitekdError(e, 'SITEKD_ERR_MODEL_SPEC_MISMATCH'));
  for (const v of Object.values(s.net.vars)) v.dispose();
});
