/**
 * The cross-fitted split of a round (hub/jobs/cross-fit.ts): two folds that are disjoint, cover every window, keep a
 * batch in one fold, come out the same every time, judge only uniformly sampled windows, and fall back to a split by
 * window when the batches cannot fill both folds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crossFitSplit, joinWindows } from '../../hub/jobs/cross-fit';
import { emptySet, type SampleSet, type Selection } from '../../hub/store/sample-set';

/** `batches` batches of `per` windows (2 channels × 4 readings); window i's first value is i. */
function set(batches: number, per: number, selection: (i: number) => Selection = () => 'uniform'): SampleSet {
  const s = emptySet({ channels: 2, windowLength: 4, numClasses: 3 });
  const n = batches * per;
  for (let i = 0; i < n; i++) {
    s.batchIds.push(`gw-1-${String(Math.floor(i / per)).padStart(9, '0')}`);
    s.seq.push(i + 1);
    s.windowStarts.push(1_700_000_000_000 + i * 1280);
    s.selectedBy.push(selection(i));
    s.agents.push('gw-1');
    s.modelVersions.push('1-00000000');
  }
  const windows = new Float32Array(n * 8).map((_, k) => (k % 8 === 0 ? k / 8 : 0));
  return { ...s, n, windows, logits: new Float32Array(n * 3) };
}

const ids = (s: SampleSet): string[] => s.seq.map(String);

test('the folds are disjoint, cover every window, keep each batch whole and come out the same every time', () => {
  const all = set(20, 8);
  const a = crossFitSplit(all, 16);
  const b = crossFitSplit(all, 16);
  assert.equal(a.by, 'batch');
  const [f0, f1] = a.folds;
  assert.ok(f0.windows.n > 0 && f1.windows.n > 0);
  assert.equal(f0.windows.n + f1.windows.n, all.n);
  const s0 = new Set(ids(f0.windows));
  assert.equal(ids(f1.windows).filter((x) => s0.has(x)).length, 0, 'no window in both folds');
  assert.deepEqual(ids(b.folds[0].windows), ids(f0.windows), 'deterministic');
  assert.deepEqual(ids(b.folds[1].windows), ids(f1.windows));
  const batches0 = new Set(f0.windows.batchIds);
  assert.ok(f1.windows.batchIds.every((id) => !batches0.has(id)), 'a batch stays in one fold');
  assert.equal(f0.windows.windows[8], all.windows[Number(f0.windows.seq[1]! - 1) * 8], 'the windows travel with their ids');
});

test('only uniformly sampled windows of a fold are judged; the others are still adapted to', () => {
  const all = set(20, 8, (i) => (i % 4 === 0 ? 'uncertain' : 'uniform'));
  const { folds } = crossFitSplit(all, 16);
  for (const f of folds) {
    assert.ok(f.judged.selectedBy.every((x) => x === 'uniform'));
    assert.equal(f.judged.n, f.windows.selectedBy.filter((x) => x === 'uniform').length);
    assert.ok(f.windows.selectedBy.includes('uncertain'));
  }
});

test('too few batches for two folds: split by window, still disjoint and deterministic', () => {
  const all = set(1, 64);
  const a = crossFitSplit(all, 16);
  assert.equal(a.by, 'window');
  assert.ok(a.folds.every((f) => f.windows.n >= 16), `folds of ${a.folds.map((f) => f.windows.n).join(' and ')}`);
  assert.equal(a.folds[0].windows.n + a.folds[1].windows.n, 64);
  assert.deepEqual(ids(crossFitSplit(all, 16).folds[0].windows), ids(a.folds[0].windows));
  // Too few windows for two folds of 16 at all: the batch split stands (the round is then skipped by its caller).
  assert.equal(crossFitSplit(set(1, 20), 16).by, 'batch');
});

test('joinWindows puts the first set before the second', () => {
  const w = (n: number, v: number) => ({ n, channels: 1, length: 2, x: new Float32Array(n * 2).fill(v) });
  const j = joinWindows(w(2, 1), w(1, 2));
  assert.equal(j.n, 3);
  assert.deepEqual(Array.from(j.x), [1, 1, 1, 1, 2, 2]);
});
