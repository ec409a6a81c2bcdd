/**
 * Rollback on evidence, decided on hand-made paired counts (hub/jobs/rollout-watch.ts): a clear regression rolls
 * back, no evidence keeps watching (and confirms at the budget), too few windows waits (and is inconclusive at the
 * budget), a gap within the margin does not roll back; the look plan keeps the overall confidence and its minimum is
 * the smallest count on which the per-look test can pass at all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pairedTest, type PairedCounts } from '../../hub/jobs/gate';
import { decideWatch, watchPlan, type WatchInput } from '../../hub/jobs/rollout-watch';

/** n windows: `previousWins` only P agrees with the reference on, `rolledOutWins` only N, `both` both. */
function counts(n: number, previousWins: number, rolledOutWins: number, both = n - previousWins - rolledOutWins): PairedCounts {
  return { n, both, candidateOnly: previousWins, currentOnly: rolledOutWins, neither: n - both - previousWins - rolledOutWins };
}

const plan = watchPlan({ confidence: 0.95, margin: 0.02, windowBudget: 256 });
const decide = (c: PairedCounts, over: Partial<WatchInput> = {}): ReturnType<typeof decideWatch> =>
  decideWatch({ counts: c, plan, margin: 0.02, final: false, previous: '1-aaaaaaaa', rolledOut: '2-bbbbbbbb', reference: 'teacher', ...over });

test('the look plan: looks double up to the budget, each at a Bonferroni share of the confidence', () => {
  assert.deepEqual(plan.thresholds, [9, 18, 36, 72, 144, 256]);
  assert.ok(plan.thresholds.length * (1 - plan.perLookConfidence) <= 0.05 + 1e-12, 'all looks together keep 95 %');
  // The minimum is the smallest n on which a sweep (every discordant window to P) rolls back at this confidence.
  const sweep = (n: number): boolean => pairedTest(counts(n, n, 0), { confidence: plan.perLookConfidence, margin: 0 }).pass;
  assert.equal(sweep(plan.minWindows), true);
  assert.equal(sweep(plan.minWindows - 1), false);
  const asked = watchPlan({ confidence: 0.95, margin: 0.02, windowBudget: 256, minWindows: 32 });
  assert.deepEqual(asked.thresholds, [32, 64, 128, 256], 'an operator may ask for more windows before the first look');
  assert.equal(watchPlan({ confidence: 0.95, margin: 0.02, windowBudget: 256, minWindows: 2 }).minWindows, plan.minWindows, 'never fewer than the test needs');
  assert.deepEqual(watchPlan({ confidence: 0.95, margin: 0, windowBudget: 3 }).thresholds, [6], 'a budget below the minimum is raised to it');
  assert.throws(() => watchPlan({ confidence: 0.95, margin: 0, windowBudget: 0 }), RangeError);
});

test('a clear regression rolls back, with the figures in the reason', () => {
  const d = decide(counts(36, 14, 1));
  assert.equal(d.verdict, 'rollback', d.reason);
  assert.match(d.reason, /^roll back: 1-aaaaaaaa agrees with the teacher on \d+ of 36 fresh windows, 2-bbbbbbbb on \d+; discordant: 1-aaaaaaaa alone 14, 2-bbbbbbbb alone 1 \(McNemar exact p = 0\.0005\); 1-aaaaaaaa − 2-bbbbbbbb = \+36\.1 points/);
  assert.equal(d.test?.candidateOnly, 14);
});

test('no evidence against the new student keeps watching, and confirms it at the budget', () => {
  for (const c of [counts(36, 3, 3), counts(36, 1, 9), counts(36, 0, 0), counts(36, 5, 1)]) {
    assert.equal(decide(c).verdict, 'keep', decide(c).reason);
    assert.equal(decide(c, { final: true }).verdict, 'confirm');
  }
  assert.match(decide(counts(36, 5, 1)).reason, /^keep \(not shown with the stated confidence\)/);
});

test('too few judged windows waits, and is inconclusive at the budget', () => {
  const d = decide(counts(plan.minWindows - 1, plan.minWindows - 1, 0));
  assert.equal(d.verdict, 'wait');
  assert.equal(d.test, undefined);
  assert.match(d.reason, /8 judged windows from agents serving 2-bbbbbbbb, a decision needs 9/);
  assert.equal(decide(counts(0, 0, 0), { final: true }).verdict, 'inconclusive');
});

test('a significant gap within the margin does not roll back', () => {
  // 2000 windows: 60 against 20 discordant is significant, but 2 points is not more than the 2-point margin.
  const c = counts(2000, 60, 20);
  assert.equal(pairedTest(c, { confidence: plan.perLookConfidence, margin: 0 }).pass, true);
  assert.equal(decide(c).verdict, 'keep');
  assert.match(decide(c).reason, /the gap is within the margin/);
  assert.equal(decide(c, { margin: 0.01 }).verdict, 'rollback');
});
