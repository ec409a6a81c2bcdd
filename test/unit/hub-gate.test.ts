import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agreement, decideGate } from '../../hub/jobs/gate';

const base = { heldOut: 50, candidateAgreement: 0.8, currentAgreement: 0.8, tolerance: 0, minHeldOut: 16 };

test('agreement is the share of equal labels', () => {
  assert.equal(agreement([0, 1, 2, 3], [0, 1, 0, 3]), 0.75);
  assert.equal(agreement([], []), 0);
  assert.throws(() => agreement([1], [1, 2]), RangeError);
});

test('a candidate as good as the current student passes; a worse one is rejected with both numbers', () => {
  assert.equal(decideGate(base).pass, true);
  assert.equal(decideGate({ ...base, candidateAgreement: 0.9 }).pass, true);
  const worse = decideGate({ ...base, candidateAgreement: 0.7 });
  assert.equal(worse.pass, false);
  assert.match(worse.reasons.join(), /candidate 70\.0% < current 80\.0%/);
});

test('the tolerance allows a small shortfall', () => {
  assert.equal(decideGate({ ...base, candidateAgreement: 0.79, tolerance: 0.02 }).pass, true);
  assert.equal(decideGate({ ...base, candidateAgreement: 0.77, tolerance: 0.02 }).pass, false);
});

test('a labelled set adds a macro-F1 check that can reject on its own', () => {
  const labelled = { n: 30, candidateMacroF1: 60, currentMacroF1: 70 };
  const d = decideGate({ ...base, candidateAgreement: 0.95, labelled });
  assert.equal(d.pass, false);
  assert.equal(d.reasons.length, 2);
  assert.match(d.reasons[1] ?? '', /macro-F1 on 30 labelled windows: candidate 60\.0 < current 70\.0/);
  assert.equal(decideGate({ ...base, labelled: { ...labelled, candidateMacroF1: 71 } }).pass, true);
  assert.equal(decideGate({ ...base, labelled, tolerance: 0.1 }).pass, true, '10 points of tolerance');
});

test('too few held-out windows or non-finite numbers never pass', () => {
  assert.equal(decideGate({ ...base, heldOut: 3 }).pass, false);
  assert.equal(decideGate({ ...base, candidateAgreement: Number.NaN }).pass, false);
  assert.equal(decideGate({ ...base, labelled: { n: 3, candidateMacroF1: Number.NaN, currentMacroF1: 1 } }).pass, false);
});
