/**
 * A round warm-starts from the previous round's state: the hub's round function (hub/jobs/round.ts, in the real
 * worker thread, on a real sample store) adapts the generic student to the site; a second round whose serving student
 * came from the first starts its clustering from that student's centroids. Against a cold second round on the very
 * same stored windows, the batch-norm statistics are identical (same windows) and the head differs (the state was
 * used); the artifacts say which round started warm.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCnnArtifact } from '../../shared/artifact/cnn-artifact';
import { decidedRoundOn, fedAdaptSiteHooks, type RoundOn } from './adapt-site-fixture';

const logs: string[] = [];
const fed = fedAdaptSiteHooks('warm-start', logs);

// No nearest-centroid rounds: on this well-separated synthetic site any start ends in the same partition after one,
// so the start itself is what the heads show. No turn: the turn kept depends on the head the clustering ends with, so a
// warm and a cold round could turn differently and their convolutions differ (the turn: hub-round-turn.test.ts).
const round = async (jobId: string, current: NonNullable<RoundOn['current']>) => await decidedRoundOn(fed.site, { jobId, current, settings: { adaptIterations: 0, adaptTurnDegrees: 0 } });

test('a second round starts from the first round\'s centroids; a cold round on the same windows does not', async () => {
  const { hub } = fed.site;
  assert.equal(hub.settings.roundRecipe, 'site-adapt', 'the default recipe');
  const generic = { version: '1-00000000', bytes: hub.bundle.generic.bytes };
  const first = await round('r1', generic);
  assert.equal(first.output.history[0]?.['warmStart'], 0, 'a generic serving student has no centroids to start from');
  const firstArtifact = decodeCnnArtifact(first.output.artifact);
  assert.equal(firstArtifact.algorithm, 'site-adapt');

  const warm = await round('r2', { version: '2-11111111', bytes: first.output.artifact });
  const cold = await round('r2-cold', generic);
  assert.equal(warm.output.history[0]?.['warmStart'], 1);
  assert.equal(cold.output.history[0]?.['warmStart'], 0);
  const [w, c] = [decodeCnnArtifact(warm.output.artifact).weights, decodeCnnArtifact(cold.output.artifact).weights];
  for (const name of ['fe.bn1.mean', 'fe.bn3.var', 'fe.conv2.w']) {
    assert.deepEqual(Array.from(w[name]!.data), Array.from(c[name]!.data), `${name}: same windows, same statistics and convolutions`);
  }
  assert.notDeepEqual(Array.from(w['clf.w']!.data), Array.from(c['clf.w']!.data), 'the head depends on where the clustering started');
});
