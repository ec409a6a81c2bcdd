/**
 * A cross-fitted round (hub/jobs/round.ts, `gateSplit: cross-fit`, the default) in the real worker on a real sample
 * store: the candidate is adapted to every stored window and every uniformly sampled window is judged (by fold
 * models that did not adapt to it), where a `holdout` round adapts to one side and judges the other; windows the agent
 * did not sample uniformly are adapted to but never judged; folds too small for a candidate skip the round.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runRound, type RoundOutcome, type RoundSettings } from '../../hub/jobs/round';
import type { AdaptHub, SiteIntake } from '../../lab/adapt-hub';
import { fedAdaptSite } from './adapt-site-fixture';
import type { Fixture } from './hub-fixture';

let fx: Fixture;
let hub: AdaptHub;
let intake: SiteIntake;
let stored: number;
let uniform: number;
const logs: string[] = [];

before(async () => {
  // Every third batch's windows were chosen for uncertainty (selectedBy 1), as the agent's selector may do.
  ({ fx, hub, intake, stored, uniform } = await fedAdaptSite('cross-fit', logs, (b) => (b % 3 === 2 ? 1 : 0)));
});

after(async () => {
  await intake?.close();
  fx.cleanup();
});

async function round(over: Partial<RoundSettings>): Promise<RoundOutcome> {
  const settings = { ...hub.settings, minTrainWindows: 16, minHeldOutWindows: 4, ...over };
  return await runRound(
    { store: intake.store, source: hub.source.train, input: hub.input, run: hub.run, settings, now: () => Date.now() },
    { site: 'site-1', jobId: 'j', teacher: hub.bundle, current: async () => ({ version: '1-00000000', bytes: hub.bundle.generic.bytes }), report: () => undefined, signal: new AbortController().signal },
  );
}

test('cross-fit adapts to every window and judges every uniformly sampled one; holdout judges one side', async () => {
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
  const out = await round({ minTrainWindows: Math.ceil(stored / 2) + 1 });
  assert.equal(out.kind, 'skipped');
  if (out.kind === 'skipped') assert.match(out.reason, /too few windows to cross-fit: \d+ in folds of \d+ and \d+ \(each needs \d+\)/);
});
