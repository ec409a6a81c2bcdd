import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TelemetrySchema } from '../../shared/protocol/messages';
import { DriftMeter, LatencyRecorder, percentile, TelemetryCollector } from '../../agent/telemetry';

test('nearest-rank percentiles', () => {
  const xs = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 0.5), 50);
  assert.equal(percentile(xs, 0.99), 99);
  assert.equal(percentile(xs, 1), 100);
  assert.equal(percentile([7], 0.5), 7);
  assert.equal(percentile([1, 2], 0.5), 1);
  assert.ok(Number.isNaN(percentile([], 0.5)));
});

test('the latency recorder reports per interval and keeps a bounded reservoir', () => {
  const r = new LatencyRecorder(64);
  assert.equal(r.take(), null);
  for (let i = 1; i <= 10; i++) r.add(i);
  assert.deepEqual(r.take(), { p50: 5, p99: 10 });
  assert.equal(r.take(), null, 'a new interval starts empty');
  for (let i = 0; i < 10_000; i++) r.add(i % 2 === 0 ? 1 : 3);
  const p = r.take();
  assert.ok(p !== null && p.p50 >= 1 && p.p50 <= 3 && p.p99 === 3);
});

test('drift is null until the baseline is complete, 0 without change, positive when predictions flatten', () => {
  const d = new DriftMeter(10, 10);
  const sure = [0.97, 0.01, 0.01, 0.01];
  const flat = [0.25, 0.25, 0.25, 0.25];
  for (let i = 0; i < 9; i++) d.add(sure);
  assert.equal(d.score(), null);
  d.add(sure);
  assert.ok(Math.abs(d.score() as number) < 1e-12);
  for (let i = 0; i < 10; i++) d.add(flat);
  const s = d.score() as number;
  assert.ok(s > 0.7 && s <= 1, `score ${s}`);
  d.reset();
  assert.equal(d.score(), null);
});

test('a snapshot is a valid Telemetry message with rates over the interval', () => {
  let mono = 0;
  const c = new TelemetryCollector(
    {
      outbox: () => ({ depth: 2, bytes: 900, droppedRecords: 5, droppedBytes: 7000 }),
      bytesUploaded: () => 1234,
      modelVersion: () => 'v1',
      dropped: () => ({ SITEKD_ERR_MSG_DECODE: 3 }),
      tfMemory: () => ({ numTensors: 10, numBytes: 4000 }),
      rssBytes: () => 5e7,
    },
    () => mono,
  );
  for (let i = 0; i < 4; i++) c.recordWindow(2 + i, [0.5, 0.5]);
  c.recordReadings(100);
  mono = 2000;
  const t = c.snapshot(1_700_000_000_000);
  assert.ok(TelemetrySchema.safeParse(t).success);
  assert.equal(t.windowsPerSec, 2);
  assert.equal(t.readingsPerSec, 50);
  assert.equal(t.inferP50Ms, 3);
  assert.equal(t.inferP99Ms, 5);
  assert.deepEqual(t.dropped, { SITEKD_ERR_MSG_DECODE: 3 });
  assert.deepEqual([t.outboxDropped, t.outboxDroppedBytes], [5, 7000]);
  mono = 3000;
  const next = c.snapshot(1_700_000_001_000);
  assert.equal(next.windowsPerSec, 0);
  assert.equal(next.inferP50Ms, null);
  assert.deepEqual([next.classCounts, next.meanConfidence], [[], null]);
});

test('a snapshot carries the interval\'s predicted class mix and mean top-class probability', () => {
  const c = new TelemetryCollector(
    { outbox: () => ({ depth: 0, bytes: 0, droppedRecords: 0, droppedBytes: 0 }), bytesUploaded: () => 0, modelVersion: () => null, dropped: () => ({}), tfMemory: () => ({ numTensors: 0, numBytes: 0 }), rssBytes: () => 0 },
    () => 0,
  );
  c.recordWindow(1, [0.1, 0.2, 0.7]);
  c.recordWindow(1, [0.9, 0.05, 0.05]);
  c.recordWindow(1, [0.2, 0.1, 0.7]);
  c.recordWindow(1, [Number.NaN, Number.NaN, Number.NaN]); // not a class: counted as a window, not in the mix
  const t = c.snapshot(1_700_000_000_000);
  assert.ok(TelemetrySchema.safeParse(t).success);
  assert.deepEqual(t.classCounts, [1, 0, 2]);
  assert.ok(Math.abs((t.meanConfidence as number) - (0.7 + 0.9 + 0.7) / 3) < 1e-12);
  // An agent from before issue 9 sends neither field and still validates.
  const { classCounts: _c, meanConfidence: _m, ...old } = t;
  assert.ok(TelemetrySchema.safeParse(old).success);
  assert.equal(TelemetrySchema.safeParse({ ...t, meanConfidence: 1.5 }).success, false);
});
