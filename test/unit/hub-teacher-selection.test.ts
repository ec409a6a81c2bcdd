import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { selectByConsensus } from '../../shared/ml/teacher-selection';
import { defaultSyntheticSpec, generateSites } from '../../shared/data/synthetic';
import { selectBackend } from '../../shared/ml/backend';
import { createCnn } from '../../shared/ml/cnn';
import { inputFor, specFor } from '../../shared/ml/model-spec';
import { createRng } from '../../shared/random';

test('the consensus teacher is one of the runs that agree with the majority, never the outlier', async () => {
  await selectBackend('cpu');
  const spec = defaultSyntheticSpec.tiny;
  const [, target] = generateSites({ ...spec, sites: 2 });
  assert.ok(target);
  const s = specFor(inputFor(spec.channels, spec.length, spec.numClasses), 'teacher');
  // Two identical networks (same seed) and one different: the pair forms the majority.
  const odd = createCnn(s, createRng(99));
  const a = createCnn(s, createRng(5));
  const b = createCnn(s, createRng(5));
  const choice = selectByConsensus([odd, a, b], target.train);
  assert.equal(choice.index, 1);
  assert.equal(choice.agreement[1], 1);
  assert.equal(choice.agreement[2], 1);
  assert.ok((choice.agreement[0] as number) < 1);
  for (const net of [odd, a, b]) for (const v of Object.values(net.vars)) v.dispose();
});
