/**
 * A round with an operator's labelled set (hub/worker/labelled-eval.ts), through the hub's round function and its
 * worker thread on a real sample store: with 20 or more labelled windows of every class the candidate's head is fitted to them,
 * the labelled set decides the gate and says so, and the published artifact is marked so that the next round does not
 * warm-start from a head that holds no centroids; with `fitLabelledHead` off the candidate keeps its centroid head.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCnnArtifact } from '../../shared/artifact/cnn-artifact';
import { generateSites } from '../../shared/data/synthetic';
import { LABELLED_HEAD_MIN_PER_CLASS } from '../../shared/ml/labelled-head';
import type { WindowSet } from '../../shared/ml/types';
import type { RoundSettings } from '../../hub/jobs/round';
import { decidedRoundOn, fedAdaptSiteHooks, type RoundOn } from './adapt-site-fixture';
import { FIXTURE_SPEC } from './hub-fixture';

const logs: string[] = [];
const fed = fedAdaptSiteHooks('labelled', logs);
// The fixture's site 1 again, with a test split of the size a fitted head needs (same site shift: sites depend on their index).
const labelled: WindowSet = generateSites({ ...FIXTURE_SPEC, testPerClass: 2 * LABELLED_HEAD_MIN_PER_CLASS })[1]!.test;

const round = async (jobId: string, current: NonNullable<RoundOn['current']>, settings: Partial<RoundSettings> = {}) =>
  await decidedRoundOn(fed.site, { jobId, current, labelled, settings });

test('a labelled set with enough of every class: the head is fitted, the labelled set decides and says how it was judged; the next round starts cold', async () => {
  const { hub } = fed.site;
  const generic = { version: '1-00000000', bytes: hub.bundle.generic.bytes };
  const fitted = await round('r1', generic);
  const lab = fitted.output.evaluation.labelled;
  assert.ok(lab !== undefined && lab.head.fitted, lab?.head.why);
  assert.equal(lab.n, labelled.n);
  assert.equal(fitted.gate.decidedBy, 'labelled');
  assert.ok(fitted.gate.reasons.some((r) => r.startsWith(`the head is fitted to ${labelled.n} labelled windows (judged cross-fitted`)), fitted.gate.reasons.join('\n'));
  assert.equal(decodeCnnArtifact(fitted.output.artifact).algorithm, 'site-adapt+labels');

  const plain = await round('r1-off', generic, { fitLabelledHead: false });
  assert.equal(decodeCnnArtifact(plain.output.artifact).algorithm, 'site-adapt');
  assert.ok(plain.gate.reasons.includes('the head is not fitted: fitLabelledHead is off'), plain.gate.reasons.join('\n'));
  const w = (o: typeof plain, name: string): number[] => Array.from(decodeCnnArtifact(o.output.artifact).weights[name]!.data);
  assert.deepEqual(w(fitted, 'fe.bn2.mean'), w(plain, 'fe.bn2.mean'), 'the same adaptation below the head');
  assert.notDeepEqual(w(fitted, 'clf.w'), w(plain, 'clf.w'), 'only the head differs');

  const next = await round('r2', { version: '2-11111111', bytes: fitted.output.artifact });
  assert.equal(next.output.history[0]?.['warmStart'], 0, 'a fitted head holds no centroids to start from');
});
