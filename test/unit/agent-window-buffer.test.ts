import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SensorParser } from '../../agent/sensor-parser';
import { WindowBuffer } from '../../agent/window-buffer';
import type { WindowBufferOptions } from '../../agent/window-buffer-options';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { createRng } from '../../shared/random';

interface Cut {
  start: number;
  data: number[];
}

/** A buffer that records its windows; 50 Hz (20 ms grid), one 1-channel source unless overridden. */
function makeBuffer(overrides: Partial<Omit<WindowBufferOptions, 'onWindow'>> = {}): { buf: WindowBuffer; cuts: Cut[] } {
  const cuts: Cut[] = [];
  const buf = new WindowBuffer({
    channelCount: 1,
    sources: [[0]],
    sampleRateHz: 50,
    windowLength: 4,
    stride: 2,
    reorderMs: 0,
    ...overrides,
    onWindow: (w, start) => cuts.push({ start, data: [...w] }),
  });
  return { buf, cuts };
}

test('cuts windows of windowLength every stride samples, with the first sample time', () => {
  const { buf, cuts } = makeBuffer();
  for (let i = 0; i < 8; i++) assert.equal(buf.push(0, 1000 + 20 * i, [i]), 'accepted');
  assert.deepEqual(cuts, [
    { start: 1000, data: [0, 1, 2, 3] },
    { start: 1040, data: [2, 3, 4, 5] },
    { start: 1080, data: [4, 5, 6, 7] },
  ]);
  const c = buf.counters;
  assert.equal(c.windows, 3);
  assert.equal(c.gridPoints, 8);
  assert.equal(c.accepted, 8);
});

test('joins sources channels-last and interpolates a source sampled off the grid', () => {
  // acc (channels 0, 2) on the grid; gyro (channel 1) 10 ms late, so its grid values are midpoints.
  const { buf, cuts } = makeBuffer({ channelCount: 3, sources: [[0, 2], [1]], windowLength: 3, stride: 3 });
  for (let i = 0; i < 5; i++) {
    buf.push(0, 20 * i, [i, -i]);
    buf.push(1, 20 * i + 10, [100 * i]);
  }
  // Grid 0 has no gyro reading before it (a gap at the start), so the first complete point is 20.
  assert.equal(cuts.length, 1);
  assert.deepEqual(cuts[0], { start: 20, data: [1, 50, -1, 2, 150, -2, 3, 250, -3] });
});

test("fill: 'hold' repeats the previous reading instead of interpolating", () => {
  const { buf, cuts } = makeBuffer({ channelCount: 2, sources: [[0], [1]], windowLength: 2, stride: 2, fill: 'hold' });
  for (let i = 0; i < 4; i++) {
    buf.push(0, 20 * i, [i]);
    buf.push(1, 20 * i + 10, [100 * i]);
  }
  assert.deepEqual(cuts, [{ start: 20, data: [1, 0, 2, 100] }]);
});

test('a short gap is filled by interpolation, a long one splits windows', () => {
  const { buf, cuts } = makeBuffer({ maxGapMs: 60, windowLength: 3, stride: 1 });
  // 0..40, then 100 (gap of 60 ms: filled), then 300 (gap of 200 ms: not filled).
  for (const [ts, v] of [[0, 0], [20, 1], [40, 2], [100, 5], [300, 10], [320, 11], [340, 12]] as const) buf.push(0, ts, [v]);
  assert.deepEqual(
    cuts.map((c) => c.start),
    [0, 20, 40, 60, 300],
  );
  assert.deepEqual(cuts[2]?.data, [2, 3, 4]);
  assert.deepEqual(cuts[4]?.data, [10, 11, 12]);
  for (const c of cuts) assert.ok(c.start + 40 <= 100 || c.start >= 300, `window at ${c.start} spans the gap`);
  assert.equal(buf.counters.gapResets, 1);
});

test('a grid point is complete only when every source has data near it', () => {
  // reorderMs > 0: with two topics, a reading of one may arrive just after the other's reading of the same instant.
  const { buf, cuts } = makeBuffer({ channelCount: 2, sources: [[0], [1]], windowLength: 3, stride: 1, maxGapMs: 40, reorderMs: 30 });
  for (let i = 0; i < 20; i++) {
    buf.push(0, 20 * i, [i]);
    // Source 1 is silent between 100 and 260 ms.
    if (i <= 5 || i >= 13) buf.push(1, 20 * i, [i]);
  }
  assert.ok(cuts.length > 0);
  for (const c of cuts) assert.ok(c.start + 40 <= 100 || c.start >= 260, `window at ${c.start} has a partial point`);
  assert.deepEqual(cuts.map((c) => c.start), [0, 20, 40, 60, 260, 280, 300]);
});

test('out-of-order readings within the reorder horizon give the same windows as in-order ones', () => {
  const opts = { reorderMs: 250, windowLength: 16, stride: 8, channelCount: 2, sources: [[0], [1]] };
  const inOrder = makeBuffer(opts);
  const shuffled = makeBuffer(opts);
  const readings: Array<[number, number, number]> = [];
  for (let i = 0; i < 300; i++) {
    readings.push([0, 20 * i, Math.sin(i / 7)]);
    readings.push([1, 20 * i + 7, Math.cos(i / 5)]);
  }
  for (const [s, ts, v] of readings) inOrder.buf.push(s, ts, [v]);
  // Shuffle inside blocks of 10 readings (≤ 100 ms of data): every reading stays inside the horizon.
  const rng = createRng(7);
  for (let b = 0; b < readings.length; b += 10) {
    for (const [s, ts, v] of rng.shuffle(readings.slice(b, b + 10))) assert.equal(shuffled.buf.push(s, ts, [v]), 'accepted');
  }
  assert.ok(inOrder.cuts.length >= 30);
  assert.deepEqual(shuffled.cuts, inOrder.cuts);
  assert.equal(shuffled.buf.counters.late, 0);
});

test('duplicates are ignored and counted; the first copy wins', () => {
  const { buf, cuts } = makeBuffer({ reorderMs: 100 });
  for (let i = 0; i < 12; i++) {
    buf.push(0, 20 * i, [i]);
    assert.equal(buf.push(0, 20 * i, [99]), 'duplicate');
  }
  assert.equal(buf.counters.duplicates, 12);
  for (const c of cuts) assert.ok(!c.data.includes(99));
});

test('readings older than the reorder horizon are dropped as late', () => {
  const { buf, cuts } = makeBuffer({ reorderMs: 100 });
  for (let i = 0; i < 20; i++) buf.push(0, 20 * i, [i]);
  const before = cuts.length;
  assert.equal(buf.push(0, 150, [99]), 'late');
  assert.equal(buf.push(0, 370, [99]), 'accepted'); // 380 − 100 = 280 ≤ 370: still inside the horizon
  assert.equal(buf.counters.late, 1);
  assert.equal(cuts.length, before);
});

test('a clock jump resyncs after resyncAfterLate late readings instead of starving', () => {
  const { buf, cuts } = makeBuffer({ reorderMs: 100, resyncAfterLate: 5 });
  for (let i = 0; i < 10; i++) buf.push(0, 20 * i, [i]);
  assert.equal(buf.push(0, 1e9, [0]), 'accepted'); // a glitched timestamp far in the future
  const outcomes = [];
  for (let i = 10; i < 30; i++) outcomes.push(buf.push(0, 20 * i, [i]));
  assert.deepEqual(outcomes.slice(0, 5), ['late', 'late', 'late', 'late', 'resync']);
  assert.ok(outcomes.slice(5).every((o) => o === 'accepted'));
  assert.equal(buf.counters.resyncs, 1);
  assert.ok(cuts.some((c) => c.start >= 280), 'windows resume after the resync');
});

test('a full reading ring drops the incoming reading as overflow', () => {
  // 10 s horizon at 1 Hz expected rate: a ring of ~15 readings, so a 50 Hz burst overflows it.
  const { buf } = makeBuffer({ reorderMs: 10_000, maxSourceRateHz: 1 });
  const outcomes = Array.from({ length: 40 }, (_, i) => buf.push(0, 20 * i, [i]));
  assert.ok(outcomes.includes('overflow'));
  assert.equal(buf.counters.overflows, outcomes.filter((o) => o === 'overflow').length);
});

test('HAR geometry: 128 samples at 50 Hz with stride 64 on epoch timestamps', () => {
  const C = 9;
  const { buf, cuts } = makeBuffer({ channelCount: C, sources: [[0, 1, 2], [3, 4, 5], [6, 7, 8]], windowLength: 128, stride: 64, reorderMs: 250 });
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < 600; i++) for (let s = 0; s < 3; s++) buf.push(s, t0 + 20 * i + s, [s, i, -i]);
  assert.ok(cuts.length >= 6);
  cuts.forEach((c, k) => {
    assert.equal(c.data.length, 128 * C);
    assert.equal(c.start, t0 + 20 + k * 64 * 20); // grid 0 precedes sources 1 and 2
  });
});

test('a rate whose period is not a whole number of ms still lines up with its readings', () => {
  const { buf, cuts } = makeBuffer({ sampleRateHz: 128, windowLength: 8, stride: 8 });
  const period = 1000 / 128;
  for (let i = 0; i < 64; i++) buf.push(0, 1_700_000_000_000 + period * i, [i]);
  assert.equal(cuts.length, 8);
  assert.deepEqual(cuts[7]?.data, [56, 57, 58, 59, 60, 61, 62, 63]);
});

test('reset forgets readings but keeps counters', () => {
  const { buf, cuts } = makeBuffer();
  for (let i = 0; i < 3; i++) buf.push(0, 20 * i, [i]);
  buf.reset();
  for (let i = 10; i < 13; i++) buf.push(0, 20 * i, [i]);
  assert.equal(cuts.length, 0);
  assert.equal(buf.counters.accepted, 6);
});

test('misuse throws coded errors', () => {
  const { buf } = makeBuffer({ channelCount: 2, sources: [[0, 1]] });
  assert.throws(() => buf.push(1, 0, [1, 2]), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  assert.throws(() => buf.push(0, 0, [1]), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  assert.throws(() => buf.push(0, 0, [1, Number.NaN]), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_NONFINITE));
  assert.throws(() => buf.push(0, Infinity, [1, 2]), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_NONFINITE));
  assert.throws(() => buf.push(0, -1, [1, 2]), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  const bad: Array<Partial<WindowBufferOptions>> = [
    { sources: [[0], [0]] },
    { channelCount: 2, sources: [[0]] },
    { sources: [[1]] },
    { windowLength: 0 },
    { stride: 1.5 },
    { sampleRateHz: 0 },
    { reorderMs: -1 },
    { maxGapMs: 0 },
  ];
  for (const o of bad) assert.throws(() => makeBuffer(o), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
});

test('the sensor parser output feeds the buffer directly', () => {
  const parser = new SensorParser({
    channels: ['acc_x', 'acc_y', 'gyro_x'],
    sources: [
      { topic: 'f/acc', channels: ['acc_x', 'acc_y'] },
      { topic: 'f/gyro', channels: ['gyro_x'] },
    ],
  });
  // Messages of 100 ms of readings alternate between the topics: reorderMs has to cover a whole message.
  const { buf, cuts } = makeBuffer({ channelCount: 3, sources: parser.sourceChannels, windowLength: 2, stride: 2, reorderMs: 150 });
  for (let m = 0; m < 4; m++) {
    const idx = [0, 1, 2, 3, 4].map((k) => 5 * m + k);
    const csv = idx.map((i) => `${20 * i},${i},${-i}`).join('\n');
    const json = JSON.stringify(idx.map((i) => ({ ts: 20 * i, values: [10 * i] })));
    for (const [topic, body] of [['f/acc', csv], ['f/gyro', json]] as const) {
      const r = parser.parse(topic, Buffer.from(body));
      assert.ok(r.ok);
      for (const reading of r.readings) assert.equal(buf.push(r.source, reading.ts, reading.values), 'accepted');
    }
  }
  assert.deepEqual(cuts[0], { start: 0, data: [0, 0, 0, 1, -1, 10] });
  assert.equal(cuts.length, 6); // points up to 220 ms are decided (380 − 150 = 230 is the watermark)
});
