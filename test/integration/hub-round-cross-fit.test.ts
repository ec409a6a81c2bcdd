/**
 * A cross-fitted round (hub/jobs/round.ts, `gateSplit: cross-fit`, the default) in the real worker on a real sample
 * store: the candidate is adapted to every stored window and every uniformly sampled window is judged (by fold
 * models that did not adapt to it), where a `holdout` round adapts to one side and judges the other; windows the agent
 * did not sample uniformly are adapted to but never judged; folds too small for a candidate skip the round.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RoundSettings } from '../../hub/jobs/round';
import { fedAdaptSiteHooks, roundOn } from './adapt-site-fixture';

const logs: string[] = [];
// Every third batch's windows were chosen for uncertainty (selectedBy 1), as the agent's selector may do.
const fed = fedAdaptSiteHooks('cross-fit', logs, (b) => (b % 3 === 2 ? 1 : 0));

const round = async (settings: Partial<RoundSettings>) => await roundOn(fed.site, { settings });

test('cross-fit adapts to every window and judges every uniformly sampled one; holdout judges one side', async () => {
  const { hub, stored, uniform } = fed.site;
  assert.equal(hub.settings.gateSplit, 'cross-fit', 'the default');
  const cross = await round({});
  assert.equal(cross.kind, 'decided', cross.kind === 'skipped' ? cross.reason : '');
  if (cross.kind !== 'decided') return;
  assert.equal(cross.trainWindows, stored);
  assert.equal(cross.heldOut, uniform);
  assert.equal(cross.output.evaluation.agrees.candidate.length, uniform);
  assert.equal(cross.setAside, 0);
  assert.match(cross.gate.reasons[0]!, new RegExp(`on ${uniform} held-out windows`));

  const hold = await round({ gateSplit: 'holdout' });
  assert.equal(hold.kind, 'decided', hold.kind === 'skipped' ? hold.reason : '');
  if (hold.kind !== 'decided') return;
  assert.ok(hold.trainWindows < stored && hold.heldOut < uniform, `holdout: ${hold.trainWindows} trained, ${hold.heldOut} judged`);
});

test('folds smaller than minTrainWindows skip the round and say so', async () => {
  const { stored } = fed.site;
  const out = await round({ minTrainWindows: Math.ceil(stored / 2) + 1 });
  assert.equal(out.kind, 'skipped');
  if (out.kind === 'skipped') assert.match(out.reason, /too few windows to cross-fit: \d+ in folds of \d+ and \d+ \(each needs \d+\)/);
});
