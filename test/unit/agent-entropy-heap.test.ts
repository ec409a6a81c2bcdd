import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntropyHeap } from '../../agent/entropy-heap';
import { createRng } from '../../shared/random';

/** The heap invariant over the whole array: every parent's entropy ≤ its children's. */
function assertHeap(heap: EntropyHeap, entropy: Float64Array): void {
  const s = heap.slots();
  for (let i = 1; i < s.length; i++) {
    const parent = entropy[s[(i - 1) >> 1] as number] as number;
    assert.ok(parent <= (entropy[s[i] as number] as number), `slot at ${i} is below its parent`);
  }
}

test('the root is always the lowest entropy, through pushes and raised roots', () => {
  const rng = createRng(7);
  const entropy = new Float64Array(32);
  const heap = new EntropyHeap(entropy);
  for (let slot = 0; slot < entropy.length; slot++) {
    entropy[slot] = rng.next();
    heap.push(slot);
    assertHeap(heap, entropy);
  }
  for (let round = 0; round < 100; round++) {
    const min = Math.min(...heap.slots().map((s) => entropy[s] as number));
    const root = heap.root as number;
    assert.equal(entropy[root], min);
    entropy[root] = min + rng.next(); // what the selector does: overwrite the root with a more uncertain window
    heap.rootRaised();
    assertHeap(heap, entropy);
  }
  assert.equal(heap.size, 32);
  assert.deepEqual([...heap.slots()].sort((a, b) => a - b), [...Array(32).keys()], 'every slot kept exactly once');
});

test('an empty heap has no root; clear empties it', () => {
  const heap = new EntropyHeap(Float64Array.of(0.5, 0.1));
  assert.equal(heap.root, undefined);
  heap.push(0);
  heap.push(1);
  assert.equal(heap.root, 1);
  heap.clear();
  assert.equal(heap.size, 0);
  assert.equal(heap.root, undefined);
});
