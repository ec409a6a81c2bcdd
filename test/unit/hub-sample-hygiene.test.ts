import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelRanges, judgeBatches, plausibleRanges, type BatchValues } from '../../hub/store/sample-hygiene';
import { createRng } from '../../shared/random';

const SHAPE = { channels: 2, windowLength: 16, numClasses: 3 };

/** A batch of n windows `[n, 16, 2]` of N(mean, sd) per channel, with tame logits. */
function batch(seed: number, mean: number, sd: number, n = 4): BatchValues & { windows: Float32Array; logits: Float32Array } {
  const rng = createRng(seed);
  const windows = new Float32Array(n * 16 * 2).map(() => mean + sd * (rng.next() + rng.next() + rng.next() - 1.5) * 2);
  return { n, windows, logits: new Float32Array(n * 3).fill(0.5) };
}

const SOURCE = [{ lo: -2, hi: 2 }, { lo: -2, hi: 2 }];

test('channelRanges reads channels-first windows', () => {
  // [n=1, C=2, L=3]: channel 0 = 1, 5, -1; channel 1 = 0, 0, 7.
  assert.deepEqual(channelRanges(Float32Array.of(1, 5, -1, 0, 0, 7), 1, 2, 3), [{ lo: -1, hi: 5 }, { lo: 0, hi: 7 }]);
});

test('genuine batches pass, also at a site that reads on another scale than the source', () => {
  for (const scale of [1, 40]) {
    const site = Array.from({ length: 10 }, (_, i) => batch(i, 0, scale));
    const verdicts = judgeBatches(site, plausibleRanges(site, SHAPE, { source: SOURCE }));
    assert.ok(verdicts.every((v) => v.ok), `scale ${scale}: ${JSON.stringify(verdicts.find((v) => !v.ok))}`);
  }
});

test('a poisoned batch among genuine ones fails, the others pass', () => {
  for (const poison of [3e38, -5e4, 1e3]) {
    const site = Array.from({ length: 10 }, (_, i) => batch(i, 0, 1));
    (site[3]?.windows as Float32Array)[17] = poison;
    const verdicts = judgeBatches(site, plausibleRanges(site, SHAPE, { source: SOURCE }));
    assert.deepEqual(verdicts.map((v) => v.ok), site.map((_, i) => i !== 3), `poison ${poison}`);
    const bad = verdicts[3];
    assert.ok(bad !== undefined && !bad.ok && bad.channel === 1 && bad.value === Math.fround(poison));
  }
});

test('a history that is mostly poisoned still cannot make 3e38 plausible (the site part is capped by the source)', () => {
  const site = Array.from({ length: 10 }, (_, i) => batch(i, i < 7 ? 3e38 : 0, i < 7 ? 1e37 : 1));
  const ranges = plausibleRanges(site, SHAPE, { source: SOURCE });
  assert.ok(ranges.every((r) => r.hi < 1e5 && r.lo > -1e5), JSON.stringify(ranges));
  assert.deepEqual(judgeBatches(site, ranges).map((v) => v.ok), site.map((_, i) => i >= 7));
});

test('logits must be finite and bounded; without source ranges only the absolute bound applies', () => {
  const site = [batch(1, 0, 1), batch(2, 0, 1), batch(3, 0, 1)];
  (site[1]?.logits as Float32Array)[2] = Number.POSITIVE_INFINITY;
  (site[2]?.windows as Float32Array)[0] = 5e5; // far out for the site, yet within the bound when nothing else is known
  const verdicts = judgeBatches(site, plausibleRanges(site, SHAPE));
  assert.deepEqual(verdicts.map((v) => v.ok), [true, false, true]);
  (site[2]?.windows as Float32Array)[0] = 3e38;
  assert.equal(judgeBatches(site, plausibleRanges(site, SHAPE))[2]?.ok, false);
});
