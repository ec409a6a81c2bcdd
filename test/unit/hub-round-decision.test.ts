/**
 * hub/jobs/round.ts `decideRound`: with turns on, a turned candidate the gate rejects gives way to the candidate adapted
 * without a turn (RedistillOutput.withoutTurn), judged as with turns off; the output never carries both.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideRound } from '../../hub/jobs/round';
import type { PairedVectors, RedistillOutput } from '../../hub/worker/ml-worker-protocol';

/** n windows: the candidate alone agrees with the reference on `wins`, the serving student alone on `losses`. */
function vectors(n: number, wins: number, losses: number): PairedVectors {
  const candidate = new Uint8Array(n).fill(1);
  const current = new Uint8Array(n).fill(1);
  for (let i = 0; i < wins; i++) current[i] = 0;
  for (let i = wins; i < wins + losses; i++) candidate[i] = 0;
  return { candidate, current };
}

function output(tag: number, agrees: PairedVectors, unturned?: PairedVectors, withoutTurn?: RedistillOutput): RedistillOutput {
  return {
    artifact: Uint8Array.of(tag), history: [], trainSeconds: 0, backend: 'cpu',
    evaluation: { reference: 'adapted-teacher', heldOut: agrees.candidate.length, candidateAgreement: 0, currentAgreement: 0, agrees, ...(unturned !== undefined && { unturned }) },
    ...(unturned !== undefined && { turn: { axis: 0, degrees: 20 } }), ...(withoutTurn !== undefined && { withoutTurn }),
  };
}

const settings = { confidence: 0.95, margin: 0.02, minGain: 0.005, minHeldOut: 6 };

test('a turned candidate that passes is published as it is, without the unturned one', () => {
  const d = decideRound(output(1, vectors(300, 30, 2), vectors(300, 20, 10), output(2, vectors(300, 15, 2))), settings);
  assert.equal(d.gate.pass, true);
  assert.deepEqual([...d.output.artifact], [1]);
  assert.equal(d.output.withoutTurn, undefined, 'the unturned candidate is not carried on');
});

test('a contradicted turn gives way to the candidate without it, which the gate then judges', () => {
  const d = decideRound(output(1, vectors(300, 40, 5), vectors(300, 12, 30), output(2, vectors(300, 15, 2))), settings);
  assert.equal(d.gate.pass, true, d.gate.reasons.join('\n'));
  assert.deepEqual([...d.output.artifact], [2], 'the unturned candidate is published');
  const text = d.gate.reasons.join('\n');
  assert.match(text, /its turn is not confirmed/);
  assert.match(text, /without a turn: adapted-teacher agreement on 300 held-out windows: .*candidate alone 15, current alone 2/);
  assert.match(d.gate.reasons.at(-1)!, /the candidate adapted without a turn is published instead/);
  assert.equal(d.output.turn, undefined);
});

test('when both are rejected the round reports the turned candidate with both reasons; no fallback without one', () => {
  const both = decideRound(output(1, vectors(300, 40, 5), vectors(300, 12, 30), output(2, vectors(300, 5, 5))), settings);
  assert.equal(both.gate.pass, false);
  assert.deepEqual([...both.output.artifact], [1]);
  assert.match(both.gate.reasons.join('\n'), /without a turn: reject: a tie/);
  assert.equal(both.gate.reasons.at(-1), 'without a turn it is rejected too');
  const alone = decideRound(output(1, vectors(300, 5, 5)), settings);
  assert.equal(alone.gate.pass, false);
  assert.ok(!alone.gate.reasons.join('\n').includes('without a turn'));
});
