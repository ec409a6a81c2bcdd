/** The figures the rollout watch reads from logits (hub/jobs/rollout-figures.ts), on hand-made logits. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentsServing, argmaxRows, classMix, logitsMatch, meanConfidence, totalVariation } from '../../hub/jobs/rollout-figures';

test('argmax, confidence and class mix of [n, k] logits', () => {
  const logits = Float32Array.from([0, 5, 0, /**/ 2, 0, 0, /**/ 0, 0, 0]);
  assert.deepEqual([...argmaxRows(logits, 3)], [1, 0, 0]);
  const conf = meanConfidence(logits, 3) as number;
  const softmaxTop = (a: number): number => Math.exp(a) / (Math.exp(a) + 2);
  assert.ok(Math.abs(conf - (softmaxTop(5) + softmaxTop(2) + 1 / 3) / 3) < 1e-6);
  assert.equal(meanConfidence(new Float32Array(0), 3), null);
  assert.deepEqual(classMix([1, 0, 0, 2], 3), [0.5, 0.25, 0.25]);
  assert.equal(classMix([], 3), null);
});

test('total variation: 0 for the same mix, 1 for disjoint ones, null when a mix is missing', () => {
  assert.equal(totalVariation([0.5, 0.5, 0], [0.5, 0.5, 0]), 0);
  assert.equal(totalVariation([1, 0], [0, 1]), 1);
  assert.ok(Math.abs((totalVariation([0.5, 0.25, 0.25], [0.25, 0.25, 0.5]) as number) - 0.25) < 1e-12);
  assert.equal(totalVariation(null, [1]), null);
});

test('returned logits match the hub’s within a float tolerance, not another model’s', () => {
  const hub = Float32Array.from([1.5, -2, 0.25, 10, 0, 0]);
  const sameModel = hub.map((x) => x * (1 + 1e-5) + 1e-4); // another backend, folded batch norm
  assert.deepEqual(logitsMatch(sameModel, hub, 3), [true, true]);
  const other = Float32Array.from([1.5, -2, 0.25, 9.5, 0.3, 0]);
  assert.deepEqual(logitsMatch(other, hub, 3), [true, false]);
  assert.throws(() => logitsMatch(new Float32Array(3), hub, 3), RangeError);
});

test('an agent is judged only when its logits match on nearly every window', () => {
  const agents = ['a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'b', 'b', 'c'];
  const match = [true, true, true, true, true, true, true, true, true, false, false, false, true];
  const r = agentsServing(agents, match);
  assert.deepEqual([...r.serving].sort(), ['a', 'c']);
  assert.deepEqual(r.excluded, ['b']);
});
