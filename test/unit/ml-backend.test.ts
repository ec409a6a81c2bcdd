/**
 * selectBackend() must leave tfjs on the backend it reports, also after code switched backends with tf.setBackend
 * directly (tests and benchmarks switch between cpu and wasm in one process).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { currentBackend, selectBackend } from '../../shared/ml/backend';
import { tf } from '../../shared/ml/tf';

test('selectBackend switches cpu ↔ wasm and notices a direct tf.setBackend', async () => {
  assert.equal((await selectBackend('cpu')).name, 'cpu');
  assert.equal(currentBackend(), 'cpu');
  assert.equal((await selectBackend('wasm')).name, 'wasm');
  assert.equal(currentBackend(), 'wasm');
  assert.equal((await selectBackend('cpu')).name, 'cpu');
  assert.equal(currentBackend(), 'cpu');
  // Someone switches behind selectBackend's back…
  assert.equal(await tf.setBackend('wasm'), true);
  // …asking for cpu again must really switch back, not return the remembered choice.
  assert.equal((await selectBackend('cpu')).name, 'cpu');
  assert.equal(currentBackend(), 'cpu');
  // 'auto' keeps whatever was chosen last, and it is the backend in use.
  const auto = await selectBackend('auto');
  assert.equal(auto.name, currentBackend());
});
