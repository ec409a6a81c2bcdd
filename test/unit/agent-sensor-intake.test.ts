import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SensorIntake } from '../../agent/sensor-intake';
import type { InboundKind } from '../../agent/agent-transport';
import { DropCounter } from '../../shared/drop-counter';
import { ErrorCode } from '../../shared/errors';
import { silentLogger } from '../../shared/log';
import { ManualClock } from '../helpers/manual-clock';

const TOPIC = 'factory/imu1';
const DAY_MS = 86_400_000;

function makeIntake(clock: ManualClock, maxClockSkewMs = 5000): { intake: SensorIntake; drops: DropCounter<InboundKind>; windows: number[]; finite: boolean[] } {
  const drops = new DropCounter<InboundKind>({ clock, log: silentLogger });
  const windows: number[] = [];
  const finite: boolean[] = [];
  const intake = new SensorIntake({
    channels: ['a', 'b', 'c'], sources: [{ topic: TOPIC, format: 'auto', channels: ['a', 'b', 'c'] }], sampleRateHz: 50, windowLength: 128, stride: 64,
    reorderMs: 250, maxPayloadBytes: 65_536, maxClockSkewMs, now: () => clock.now(), drops,
    onReadings: () => undefined, onWindow: (w, start) => {
      windows.push(start);
      finite.push(w.every(Number.isFinite));
    },
  });
  return { intake, drops, windows, finite };
}

const reading = (ts: number, v = 0.5): Buffer => Buffer.from(JSON.stringify({ ts, values: [v, -v, 1] }));

/** 60 s of a live 50 Hz feed whose clock is the agent's; every 400 ms one extra reading a day ahead, if asked. */
function feed(clock: ManualClock, intake: SensorIntake, withFuture: boolean): void {
  for (let i = 0; i < 3000; i++) {
    clock.advance(20);
    intake.onMessage(TOPIC, reading(clock.now(), Math.sin(i / 10)));
    if (withFuture && i % 20 === 0) intake.onMessage(TOPIC, reading(clock.now() + DAY_MS, 9));
  }
}

test('a reading a day ahead every 400 ms does not stop the windows of a normal 50 Hz feed', () => {
  const cleanClock = new ManualClock();
  const clean = makeIntake(cleanClock);
  feed(cleanClock, clean.intake, false);
  const clock = new ManualClock();
  const { intake, drops, windows } = makeIntake(clock);
  feed(clock, intake, true);
  assert.ok(clean.windows.length >= 44, `reference feed cut ${clean.windows.length} windows`);
  // Before the skew check this fed 0 windows: each future reading moved the watermark a day ahead.
  assert.equal(windows.length, clean.windows.length);
  assert.equal(drops.count(ErrorCode.READING_FUTURE), 150);
  assert.equal(intake.counters.resyncs, 0);
  assert.equal(intake.counters.late, 0);
});

test('the skew is a bound: a reading just inside it is used, one just beyond is dropped', () => {
  const clock = new ManualClock();
  const { intake, drops } = makeIntake(clock, 5000);
  intake.onMessage(TOPIC, reading(clock.now() + 5000));
  assert.equal(intake.counters.accepted, 1);
  intake.onMessage(TOPIC, reading(clock.now() + 5001));
  assert.equal(intake.counters.accepted, 1);
  assert.equal(drops.count(ErrorCode.READING_FUTURE), 1);
});

test('a sensor whose clock jumps back still resyncs (the future check leaves the buffer its own logic)', () => {
  const clock = new ManualClock();
  const { intake, windows } = makeIntake(clock);
  for (let i = 0; i < 500; i++) {
    clock.advance(20);
    intake.onMessage(TOPIC, reading(clock.now()));
  }
  const before = windows.length;
  // The sensor reboots with a clock an hour behind: late readings, then a resync, then windows again.
  for (let i = 0; i < 500; i++) {
    clock.advance(20);
    intake.onMessage(TOPIC, reading(clock.now() - 3_600_000));
  }
  assert.equal(intake.counters.resyncs, 1);
  assert.ok(windows.length > before + 3, `windows ${before} → ${windows.length}`);
});

test('a value beyond float32 never reaches a window: the message is dropped with READING_OUT_OF_RANGE', () => {
  const clock = new ManualClock();
  const { intake, drops, windows, finite } = makeIntake(clock);
  for (let i = 0; i < 400; i++) {
    clock.advance(20);
    intake.onMessage(TOPIC, reading(clock.now(), i === 200 ? 1e39 : 0.5));
  }
  assert.equal(drops.count(ErrorCode.READING_OUT_OF_RANGE), 1);
  assert.ok(windows.length >= 4, `${windows.length} windows`);
  assert.ok(finite.every(Boolean));
});
