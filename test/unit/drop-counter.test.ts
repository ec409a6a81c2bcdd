import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DropCounter } from '../../shared/drop-counter';
import { ErrorCode, SitekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { ManualClock } from '../helpers/manual-clock';

interface Line {
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

function recordingLogger(): { log: Logger; warnings: Line[] } {
  const warnings: Line[] = [];
  const log: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (msg, fields) => void warnings.push({ msg, fields: fields ?? {} }),
    error: () => undefined,
    child: () => log,
  };
  return { log, warnings };
}

const decodeErr = new SitekdError(ErrorCode.MSG_DECODE, 'not msgpack');
const schemaErr = new SitekdError(ErrorCode.MSG_SCHEMA, 'missing field');

test('counts by code, by kind and in total; copies are sorted and detached', () => {
  const { log } = recordingLogger();
  const drops = new DropCounter<'samples' | 'status'>({ clock: new ManualClock(), log });
  drops.record('samples', schemaErr);
  drops.record('status', decodeErr);
  drops.record('samples', decodeErr, { site: 's1' });
  assert.deepEqual(drops.byCode(), { [ErrorCode.MSG_DECODE]: 2, [ErrorCode.MSG_SCHEMA]: 1 });
  assert.deepEqual(Object.keys(drops.byCode()), [ErrorCode.MSG_DECODE, ErrorCode.MSG_SCHEMA]);
  assert.deepEqual(drops.byKind(), { samples: 2, status: 1 });
  assert.equal(drops.count(ErrorCode.MSG_DECODE), 2);
  assert.equal(drops.count(ErrorCode.OUTBOX_FULL), 0);
  assert.equal(drops.total(), 3);
  const copy = drops.byCode();
  copy[ErrorCode.MSG_DECODE] = 99;
  assert.equal(drops.count(ErrorCode.MSG_DECODE), 2);
});

test('warns once per code per interval, then reports how many were suppressed', () => {
  const clock = new ManualClock();
  const { log, warnings } = recordingLogger();
  const drops = new DropCounter({ clock, log, warnIntervalMs: 10_000 });
  for (let i = 0; i < 500; i++) drops.record('sensor', decodeErr, { topic: 'plant/imu' });
  drops.record('sensor', schemaErr, { topic: 'plant/imu' }); // another code has its own budget
  assert.equal(warnings.length, 2);
  assert.deepEqual(warnings[0], {
    msg: 'inbound message dropped',
    fields: { kind: 'sensor', code: ErrorCode.MSG_DECODE, reason: 'not msgpack', total: 1, topic: 'plant/imu' },
  });
  assert.equal(warnings[1]!.fields['code'], ErrorCode.MSG_SCHEMA);
  clock.advance(9_999);
  drops.record('sensor', decodeErr);
  assert.equal(warnings.length, 2, 'still inside the interval');
  clock.advance(1);
  drops.record('sensor', decodeErr);
  assert.equal(warnings.length, 3);
  assert.equal(warnings[2]!.fields['suppressedSinceLastWarning'], 500);
  assert.equal(warnings[2]!.fields['total'], 502);
  assert.equal(drops.total(), 503, 'every drop is counted, warned or not');
});

test('the interval runs on monotonic time: a wall-clock step does not unmute or mute it', () => {
  const clock = new ManualClock();
  const { log, warnings } = recordingLogger();
  const drops = new DropCounter({ clock, log, warnIntervalMs: 1000 });
  drops.record('ack', decodeErr);
  clock.setWallTime(clock.now() + 3_600_000);
  drops.record('ack', decodeErr);
  assert.equal(warnings.length, 1);
});

test('untrusted fields are cut short in the warning', () => {
  const { log, warnings } = recordingLogger();
  const drops = new DropCounter({ clock: new ManualClock(), log });
  drops.record('chunk', new SitekdError(ErrorCode.MSG_SCHEMA, 'm'.repeat(5000)), { topic: 't'.repeat(5000), index: 7 });
  const f = warnings[0]!.fields;
  assert.equal((f['topic'] as string).length, 200);
  assert.equal((f['reason'] as string).length, 300);
  assert.equal(f['index'], 7);
});

test('at most 64 codes are kept by code (the Telemetry.dropped limit); the total still counts the rest', () => {
  const { log } = recordingLogger();
  const drops = new DropCounter({ clock: new ManualClock(), log });
  // Today's 39 codes cannot reach the limit; made-up ones can (the limit guards the telemetry schema, not the type).
  const code = (i: number): ErrorCode => `CODE_${String(i).padStart(2, '0')}` as ErrorCode;
  for (let i = 0; i < 70; i++) drops.record('sensor', { code: code(i), message: 'x' });
  drops.record('sensor', { code: code(0), message: 'x' });
  assert.equal(Object.keys(drops.byCode()).length, 64);
  assert.equal(drops.count('CODE_00'), 2, 'a code already kept goes on counting');
  assert.equal(drops.count('CODE_69'), 0);
  assert.equal(drops.total(), 71);
  assert.deepEqual(drops.byKind(), { sensor: 71 });
});
