import assert from 'node:assert/strict';
import { test } from 'node:test';
import { predictiveEntropy, SampleSelector, type SampleBatch, type SampleSelectorOptions } from '../../agent/sample-selector';
import { ErrorCode, isSitekdError } from '../../shared/errors';

const W = 6; // e.g. windowLength 3 × 2 channels
const K = 3;
const PER_SAMPLE = 4 * W + 4 * K + 8 + 1; // window, logits, float64 start, selectedBy code

function makeSelector(overrides: Partial<SampleSelectorOptions> = {}): { sel: SampleSelector; clock: { t: number } } {
  const clock = { t: 1_000_000 };
  const sel = new SampleSelector({
    windowSize: W,
    numClasses: K,
    budgetBytesPerMinute: 100 * PER_SAMPLE,
    batchOverheadBytes: 0,
    randomShare: 0,
    seed: 1,
    now: () => clock.t,
    ...overrides,
  });
  return { sel, clock };
}

/** Class probabilities whose entropy grows with `u` in [0, 1] (one-hot at 0, uniform at 1). */
function probsFor(u: number): number[] {
  const top = 1 - (u * (K - 1)) / K;
  const rest = (1 - top) / (K - 1);
  return [top, rest, rest];
}

/** Offers window i (all values i, logits [i, -i, 0]) with uncertainty u(i). */
function offerRange(sel: SampleSelector, n: number, u: (i: number) => number): void {
  for (let i = 0; i < n; i++) sel.offer(new Float32Array(W).fill(i), [i, -i, 0], probsFor(u(i)), 10_000 + i);
}

const idsOf = (b: SampleBatch | undefined): number[] => (b === undefined ? [] : [...b.windowStarts].map((s) => s - 10_000));

test('predictive entropy is 0 for a one-hot and ln K for a uniform distribution', () => {
  assert.equal(predictiveEntropy([1, 0, 0]), 0);
  assert.ok(Math.abs(predictiveEntropy([1 / 3, 1 / 3, 1 / 3]) - Math.log(3)) < 1e-12);
  assert.ok(predictiveEntropy(probsFor(0.2)) < predictiveEntropy(probsFor(0.8)));
});

test('with no random share, the batch is the most uncertain windows, sorted by start', () => {
  const { sel, clock } = makeSelector();
  // Uncertainty peaks at i = 10 and falls off on both sides.
  offerRange(sel, 20, (i) => 1 - Math.abs(i - 10) / 10);
  clock.t += 60_000;
  const b = sel.takeBatch(3);
  assert.deepEqual(idsOf(b), [9, 10, 11]);
  assert.equal(sel.pending, 0, 'candidates are cleared after a batch');
});

test('the batch is laid out for the wire: windows, logits, starts, entropies and bytes', () => {
  const { sel, clock } = makeSelector({ batchOverheadBytes: 100 });
  offerRange(sel, 4, (i) => i / 4);
  clock.t += 60_000;
  const b = sel.takeBatch(2);
  assert.ok(b !== undefined);
  assert.equal(b.n, 2);
  assert.deepEqual([...b.windows], [...new Array(W).fill(2), ...new Array(W).fill(3)]);
  assert.deepEqual([...b.logits], [2, -2, 0, 3, -3, 0]);
  assert.deepEqual([...b.windowStarts], [10_002, 10_003]);
  assert.ok(Math.abs((b.entropies[1] as number) - predictiveEntropy(probsFor(3 / 4))) < 1e-6);
  assert.equal(b.bytes, 100 + 2 * PER_SAMPLE);
  assert.equal(sel.bytesPerSample, PER_SAMPLE);
});

test('a random share brings in windows the student is sure about', () => {
  const { sel, clock } = makeSelector({ randomShare: 0.25, seed: 3 });
  offerRange(sel, 400, (i) => i / 400); // later windows are more uncertain
  clock.t += 60_000;
  const b = sel.takeBatch(8);
  const ids = idsOf(b);
  assert.equal(ids.length, 8);
  // Six come from the uncertain pool (all from the top of the range) and two from a uniform sample of everything.
  assert.ok(ids.filter((i) => i >= 300).length >= 6, `ids ${ids}`);
  assert.ok(ids.some((i) => i < 300), `no representative window in ${ids}`);
});

test('each window says how it was chosen: uniform (0) or uncertain (1)', () => {
  const { sel, clock } = makeSelector({ randomShare: 0.25, seed: 3 });
  offerRange(sel, 400, (i) => i / 400);
  clock.t += 60_000;
  const b = sel.takeBatch(8);
  assert.ok(b !== undefined);
  const ids = idsOf(b);
  const uniform = ids.filter((_, k) => b.selectedBy[k] === 0);
  const uncertain = ids.filter((_, k) => b.selectedBy[k] === 1);
  assert.equal(uniform.length, 2, `selectedBy ${[...b.selectedBy]}`);
  assert.ok(uncertain.every((i) => i >= 300), `uncertain windows come from the top of the range: ${uncertain}`);
  for (const [share, code] of [[0, 1], [1, 0]] as const) {
    const only = makeSelector({ randomShare: share, seed: 5 });
    offerRange(only.sel, 50, (i) => i / 50);
    only.clock.t += 60_000;
    assert.deepEqual([...(only.sel.takeBatch(8)?.selectedBy ?? [])], new Array(8).fill(code), `randomShare ${share}`);
  }
});

test('the random reservoir is a uniform sample of the offered windows', () => {
  let sum = 0;
  let count = 0;
  let lowHalf = 0;
  for (let seed = 0; seed < 60; seed++) {
    const { sel, clock } = makeSelector({ randomShare: 1, poolSize: 8, seed });
    offerRange(sel, 400, () => 0.5);
    clock.t += 60_000;
    for (const i of idsOf(sel.takeBatch(8))) {
      sum += i;
      count++;
      if (i < 200) lowHalf++;
    }
  }
  const mean = sum / count; // uniform over 0..399: 199.5, sd of the mean ≈ 115 / √480 ≈ 5.3
  assert.ok(Math.abs(mean - 199.5) < 25, `mean ${mean}`);
  assert.ok(Math.abs(lowHalf / count - 0.5) < 0.1, `share of the first half ${lowHalf / count}`);
});

test('the byte budget refills with the injected clock, starts empty and caps bursts', () => {
  const { sel, clock } = makeSelector({ budgetBytesPerMinute: 10 * PER_SAMPLE, burstBytes: 15 * PER_SAMPLE });
  offerRange(sel, 50, (i) => i / 50);
  assert.equal(sel.takeBatch(100), undefined, 'nothing is owed at start');
  clock.t += 30_000;
  assert.equal(sel.takeBatch(100)?.n, 5);
  offerRange(sel, 50, (i) => i / 50);
  assert.equal(sel.takeBatch(100), undefined, 'the bucket was spent');
  clock.t += 3_600_000; // an hour idle still buys only burstBytes
  assert.equal(sel.takeBatch(100)?.n, 15);
  const c = sel.counters;
  assert.equal(c.batches, 2);
  assert.equal(c.samplesTaken, 20);
  assert.equal(c.bytesTaken, 20 * PER_SAMPLE);
});

test('a clock that steps back neither mints nor burns budget', () => {
  const { sel, clock } = makeSelector({ budgetBytesPerMinute: 10 * PER_SAMPLE });
  offerRange(sel, 20, () => 0.5);
  clock.t += 6_000; // one sample's worth
  assert.equal(sel.takeBatch(20)?.n, 1);
  clock.t -= 3_600_000; // NTP steps the clock back an hour
  offerRange(sel, 20, () => 0.5);
  assert.equal(sel.takeBatch(20), undefined);
  clock.t += 3_600_000 + 6_000; // budget resumes from the latest time seen, not from the stepped-back one
  assert.equal(sel.takeBatch(20)?.n, 1);
});

test('the same seed, offers and clock give the same batches', () => {
  const run = (seed: number): number[][] => {
    const { sel, clock } = makeSelector({ randomShare: 0.5, seed, poolSize: 16 });
    const out: number[][] = [];
    for (let round = 0; round < 5; round++) {
      offerRange(sel, 100, (i) => ((i * 37) % 100) / 100);
      clock.t += 60_000;
      out.push(idsOf(sel.takeBatch(6)));
    }
    return out;
  };
  assert.deepEqual(run(42), run(42));
  assert.notDeepEqual(run(42), run(43));
});

test('non-finite windows, logits or probabilities are counted and not kept', () => {
  const { sel } = makeSelector();
  const ok = new Float32Array(W);
  assert.equal(sel.offer(ok, [0, Number.NaN, 0], probsFor(0.5), 1), 'nonfinite');
  assert.equal(sel.offer(ok, [0, 0, 0], [Number.NaN, 0, 0], 1), 'nonfinite');
  assert.equal(sel.offer(new Float32Array(W).fill(Infinity), [0, 0, 0], probsFor(0.5), 1), 'nonfinite');
  assert.equal(sel.offer(ok, [0, 0, 0], probsFor(0.5), Number.NaN), 'nonfinite');
  assert.equal(sel.counters.nonfinite, 4);
  assert.equal(sel.pending, 0);
});

test('a full pool keeps the most uncertain and drops the rest', () => {
  const { sel } = makeSelector({ poolSize: 2 });
  assert.equal(sel.offer(new Float32Array(W), [0, 0, 0], probsFor(0.5), 1), 'uncertain');
  assert.equal(sel.offer(new Float32Array(W), [0, 0, 0], probsFor(0.6), 2), 'uncertain');
  assert.equal(sel.offer(new Float32Array(W), [0, 0, 0], probsFor(0.1), 3), 'dropped');
  assert.equal(sel.offer(new Float32Array(W), [0, 0, 0], probsFor(0.9), 4), 'uncertain');
  assert.equal(sel.pending, 2);
});

test('wrong shapes throw INPUT_SHAPE and bad options CONFIG_INVALID', () => {
  const { sel } = makeSelector();
  assert.throws(() => sel.offer(new Float32Array(W + 1), [0, 0, 0], [1, 0, 0], 0), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  assert.throws(() => sel.offer(new Float32Array(W), [0, 0], [1, 0, 0], 0), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  const bad: Array<Partial<SampleSelectorOptions>> = [
    { randomShare: 1.5 },
    { budgetBytesPerMinute: 0 },
    { burstBytes: PER_SAMPLE - 1 },
    { windowSize: 0 },
    { poolSize: 0 },
  ];
  for (const o of bad) assert.throws(() => makeSelector(o), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
});
