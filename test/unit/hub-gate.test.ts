/**
 * The rollout gate (hub/jobs/gate.ts) on hand-made paired counts: a clear win, a clear loss, a tie (the issue's
 * 99.4 vs 99.4), a near tie below the minimum gain, a tiny held-out set, all-agree, the margin, the operator's labelled set deciding, and the minimum
 * held-out size checked against the test itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agreement, decideGate, gateMinHeldOut, matches, pairedCounts, pairedTest, type GateInput, type PairedCounts } from '../../hub/jobs/gate';

/** n windows: `wins` only the candidate gets right, `losses` only the current student, `both` both, the rest neither. */
function counts(n: number, wins: number, losses: number, both = n - wins - losses): PairedCounts {
  return { n, both, candidateOnly: wins, currentOnly: losses, neither: n - both - wins - losses };
}

const settings = { confidence: 0.95, margin: 0.02, minGain: 0.005, minHeldOut: 6 };
const gate = (agreementCounts: PairedCounts, over: Partial<GateInput> = {}): ReturnType<typeof decideGate> =>
  decideGate({ agreement: agreementCounts, reference: 'adapted-teacher', settings, ...over });

test('agreement, matches and paired counts', () => {
  assert.equal(agreement([0, 1, 2, 3], [0, 1, 0, 3]), 0.75);
  assert.equal(agreement([], []), 0);
  assert.throws(() => agreement([1], [1, 2]), RangeError);
  assert.deepEqual([...matches([0, 1, 2], [0, 2, 2])], [1, 0, 1]);
  assert.deepEqual(pairedCounts([1, 1, 0, 0, 1], [1, 0, 1, 0, 0]), { n: 5, both: 1, candidateOnly: 2, currentOnly: 1, neither: 1 });
  assert.throws(() => pairedCounts([1], []), RangeError);
});

test('a clear win passes and names n, the discordant counts, the p-value and the bound', () => {
  const d = gate(counts(60, 12, 1));
  assert.equal(d.pass, true, d.reasons.join('\n'));
  assert.equal(d.decidedBy, 'agreement');
  assert.deepEqual([d.agreement.n, d.agreement.candidateOnly, d.agreement.currentOnly], [60, 12, 1]);
  assert.equal(d.agreement.lowerBound, 0);
  const text = d.reasons.join('\n');
  assert.match(text, /adapted-teacher agreement on 60 held-out windows: candidate \d+\.\d% vs current \d+\.\d%/);
  assert.match(text, /candidate alone 12, current alone 1 \(McNemar exact p = 0\.002\)/);
  assert.match(text, /candidate − current ≥ \+0\.0 points at 95\.0% confidence \(margin 2\.0\)/);
  assert.match(text, /pass: .* right on 11 more windows/);
});

test('a clear loss is rejected', () => {
  const d = gate(counts(60, 1, 12));
  assert.equal(d.pass, false);
  assert.ok(d.agreement.lowerBound < -0.1);
  assert.match(d.reasons.join('\n'), /reject: the candidate loses more windows than it wins \(12 against 1\)/);
});

test('a tie is not an improvement: 99.4 vs 99.4 does not republish, however many windows', () => {
  // 160 windows, each student alone right on one: both at 99.4 %.
  const d = gate(counts(160, 1, 1, 158));
  assert.equal(d.pass, false);
  assert.match(d.reasons.join('\n'), /candidate 99\.4% vs current 99\.4%/);
  assert.match(d.reasons.join('\n'), /reject: a tie \(1 against 1\) is not an improvement/);
  assert.equal(gate(counts(5000, 40, 40)).pass, false);
});

test('a near tie does not republish: one net window of 714 is below the minimum gain, four are enough', () => {
  // What `npm start` once published: 2 wins against 1 loss on 714 windows, not worse by the bound.
  const d = gate(counts(714, 2, 1, 700));
  assert.equal(d.pass, false);
  assert.equal(d.agreement.neededNetWins, 4, 'half a point of 714 windows, rounded up');
  assert.match(d.reasons.join('\n'), /reject: right on only 1 more of 714 windows \(0\.1 points\); a new version needs 4 \(gateMinGain\)/);
  assert.equal(gate(counts(714, 5, 1, 700)).pass, true, '4 more windows: half a point');
  assert.equal(gate(counts(714, 2, 1, 700), { settings: { ...settings, minGain: 0 } }).pass, true, 'without a minimum, one more window passes');
  assert.equal(gate(counts(60, 2, 1)).agreement.neededNetWins, 1, 'on few windows, one window is the minimum');
});

test('all-agree (no discordant window) is a tie too, with p = 1', () => {
  const d = gate(counts(500, 0, 0, 480));
  assert.equal(d.pass, false);
  assert.equal(d.agreement.pValue, 1);
  assert.match(d.reasons.join('\n'), /a tie \(0 against 0\)/);
});

test('a tiny held-out set cannot pass, even when the candidate wins every window', () => {
  assert.equal(gate(counts(5, 5, 0), { settings: { ...settings, minHeldOut: 1 } }).pass, false, 'the bound itself refuses 5 of 5');
  const small = gate(counts(5, 5, 0));
  assert.equal(small.pass, false);
  assert.match(small.reasons.join('\n'), /only 5 held-out windows, the gate needs 6/);
  assert.equal(gate(counts(6, 6, 0)).pass, true, '6 of 6 is enough at 95 %');
  // 16 windows (the old default minimum): 3 wins and no loss is not enough evidence.
  assert.equal(gate(counts(16, 3, 0)).pass, false);
  // An operator's floor above the computed one is respected.
  assert.equal(gate(counts(20, 12, 0), { settings: { ...settings, minHeldOut: 32 } }).pass, false);
});

test('the margin and the confidence are settings', () => {
  const c = counts(60, 8, 2); // bound −3.2 points
  assert.equal(gate(c).pass, false);
  assert.equal(gate(c, { settings: { ...settings, margin: 0.05 } }).pass, true);
  assert.equal(gate(counts(1000, 10, 5)).pass, true, 'few discordant windows among many: the bound stays near 0');
  assert.equal(gate(counts(1000, 10, 5), { settings: { ...settings, margin: 0.002 } }).pass, false);
  assert.equal(gate(counts(40, 7, 0), { settings: { ...settings, confidence: 0.999 } }).pass, false);
  assert.throws(() => gate(c, { settings: { ...settings, confidence: 1 } }), RangeError);
  assert.throws(() => gate(c, { settings: { ...settings, margin: -0.1 } }), RangeError);
});

test('an operator\'s labelled set decides; agreement is still reported', () => {
  const win = { correct: counts(90, 15, 1), candidateMacroF1: 88, currentMacroF1: 80 };
  const d = gate(counts(60, 1, 12), { labelled: win });
  assert.equal(d.pass, true, d.reasons.join('\n'));
  assert.equal(d.decidedBy, 'labelled');
  assert.equal(d.agreement.pass, false);
  assert.match(d.reasons.join('\n'), /accuracy on 90 labelled windows: .*candidate alone 15, current alone 1/);
  assert.match(d.reasons.join('\n'), /the labelled set decides/);
  const loss = gate(counts(60, 12, 1), { labelled: { ...win, correct: counts(90, 1, 15) } });
  assert.equal(loss.pass, false);
  // Accuracy up, but macro-F1 down by more than the margin (a minority class lost): rejected.
  const f1 = gate(counts(60, 12, 1), { labelled: { ...win, candidateMacroF1: 70 } });
  assert.equal(f1.pass, false);
  assert.match(f1.reasons.join('\n'), /macro-F1 there: candidate 70\.0 vs current 80\.0, more than 2\.0 points lower/);
  assert.equal(gate(counts(60, 12, 1), { labelled: { ...win, candidateMacroF1: Number.NaN } }).pass, false);
});

test('the minimum held-out size is the smallest n on which some outcome passes', () => {
  for (const confidence of [0.9, 0.95, 0.99]) {
    for (const margin of [0, 0.02, 0.05, 0.1]) {
      const s = { confidence, margin };
      const min = gateMinHeldOut(s);
      const passesAt = (n: number): boolean => {
        for (let b = 1; b <= n; b++) for (let w = 0; w < b && b + w <= n; w++) if (pairedTest(counts(n, b, w, 0), s).pass) return true;
        return false;
      };
      assert.ok(passesAt(min), `${confidence}/${margin}: nothing passes at ${min}`);
      for (let n = 1; n < min; n++) assert.ok(!passesAt(n), `${confidence}/${margin}: ${n} < ${min} passes`);
      assert.ok(min <= Math.ceil(Math.log2(2 / (1 - confidence))), `${confidence}/${margin}: ${min}`);
    }
  }
  assert.equal(gateMinHeldOut({ confidence: 0.95, margin: 0.02 }), 6);
  assert.equal(gateMinHeldOut({ confidence: 0.99, margin: 0.02 }), 8);
});

test('with turns on, a candidate that passes against the turned reference must also be not worse than the margin against the unturned one', () => {
  // HAR subject 10, seed 0 (docs/adaptation.md §1.5): the turn fools the reference turned alike, not the unturned one.
  const contradicted = gate(counts(300, 21, 7), { unturned: counts(300, 11, 22) });
  assert.equal(contradicted.pass, false);
  assert.match(contradicted.reasons.join('\n'), /adapted-teacher \(unturned\) agreement on 300 held-out windows: .*candidate alone 11, current alone 22/);
  assert.match(contradicted.reasons.at(-1)!, /reject: against the reference adapted unturned the candidate is not shown to be no worse than the margin \(bound −\d+\.\d points\): its turn is not confirmed/);
  // Seed 2: more wins than losses there, but not enough windows to bound the loss within 2 points.
  assert.equal(gate(counts(300, 39, 13), { unturned: counts(300, 26, 20) }).pass, false);
  // Not worse there with the stated confidence: passes, no gain needed against the unturned reference.
  const confirmed = gate(counts(300, 30, 2), { unturned: counts(300, 12, 3) });
  assert.equal(confirmed.pass, true, confirmed.reasons.join('\n'));
  assert.equal(gate(counts(300, 30, 2), { unturned: counts(300, 0, 0) }).pass, true, 'all agree: nothing against it');
  // It never rescues a candidate the main test rejects.
  assert.equal(gate(counts(300, 5, 5), { unturned: counts(300, 40, 0) }).pass, false);
  // An operator's labelled set still decides alone.
  const labelled = { correct: counts(120, 10, 1), candidateMacroF1: 95, currentMacroF1: 90 };
  assert.equal(gate(counts(300, 40, 5), { unturned: counts(300, 0, 40), labelled }).pass, true);
});
