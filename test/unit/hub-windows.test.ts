import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSitekdError } from '../../shared/errors';
import { channelsFirstToLast, channelsLastToFirst, sampleSetToWindowSet } from '../../hub/store/windows';
import { emptySet } from '../../hub/store/sample-set';

/** Value of window i, time t, channel c: unique, so any mix-up shows. */
const v = (i: number, t: number, c: number): number => 1000 * i + 10 * t + c;

test('channels-last [n, L, C] becomes channels-first [n, C, L] element by element', () => {
  const [n, L, C] = [2, 5, 3];
  const last = new Float32Array(n * L * C);
  for (let i = 0; i < n; i++) for (let t = 0; t < L; t++) for (let c = 0; c < C; c++) last[(i * L + t) * C + c] = v(i, t, c);
  const first = channelsLastToFirst(last, n, L, C);
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) for (let t = 0; t < L; t++) assert.equal(first[(i * C + c) * L + t], v(i, t, c));
  assert.deepEqual(channelsFirstToLast(first, n, C, L), last, 'the two conversions are inverse');
});

test('a length that does not match n·L·C is INPUT_SHAPE', () => {
  assert.throws(() => channelsLastToFirst(new Float32Array(10), 2, 5, 3), (e) => isSitekdError(e, 'SITEKD_ERR_INPUT_SHAPE'));
  assert.throws(() => channelsFirstToLast(new Float32Array(10), 2, 3, 5), (e) => isSitekdError(e, 'SITEKD_ERR_INPUT_SHAPE'));
});

test('a stored sample set becomes an unlabelled WindowSet with length = windowLength', () => {
  const [n, L, C] = [1, 4, 2];
  const windows = Float32Array.from({ length: n * L * C }, (_, k) => k); // x[t, c] = 2t + c
  const set = { ...emptySet({ channels: C, windowLength: L, numClasses: 3 }), n, windows, logits: new Float32Array(3) };
  const ws = sampleSetToWindowSet(set);
  assert.equal(ws.channels, C);
  assert.equal(ws.length, L);
  assert.equal(ws.y, undefined);
  assert.deepEqual([...ws.x], [0, 2, 4, 6, 1, 3, 5, 7]);
});
