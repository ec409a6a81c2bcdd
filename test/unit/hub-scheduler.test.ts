import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import cron from 'node-cron';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { createRng } from '../../shared/random';
import { CronScheduler, shouldRedistill, validateSchedule, type RedistillCheck } from '../../hub/jobs/scheduler';

const utc = (iso: string): number => Date.parse(`${iso}Z`);
const noop = (): void => undefined;

/** Lets node-cron's async heartbeat (timer → promise chain → our tick) settle after a mocked timer fired. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

test('valid 5- and 6-field expressions pass; invalid ones are SCHEDULE_INVALID naming the field', () => {
  for (const ok of ['0 3 * * *', '*/15 * * * *', '30 0 3 * * *', '0 9 * * 1#2', '0 0 L * *', '0 3 * * mon-fri']) validateSchedule(ok);
  for (const bad of ['61 * * * *', '* * *', '', 'every day', '0 3 * * * * *', '0 25 * * *']) {
    assert.throws(() => validateSchedule(bad), (e) => isSitekdError(e, ErrorCode.SCHEDULE_INVALID), bad);
    assert.throws(() => new CronScheduler({ expression: bad, onTick: noop }), (e) => isSitekdError(e, ErrorCode.SCHEDULE_INVALID), bad);
  }
  assert.throws(() => validateSchedule('61 * * * *'), /minute/);
});

test('start, stop and next follow node-cron time (mocked), in UTC', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: utc('2030-01-01T02:59:30') });
  t.after(() => mock.timers.reset());
  let ticks = 0;
  const s = new CronScheduler({ expression: '0 3 * * *', onTick: () => void ticks++, name: 'test-daily' });
  t.after(() => s.destroy());
  assert.equal(s.next(), null, 'not started yet');
  s.start();
  assert.equal(s.next()?.toISOString(), '2030-01-01T03:00:00.000Z');
  mock.timers.tick(29_000);
  await settle();
  assert.equal(ticks, 0);
  mock.timers.tick(1_000);
  await settle();
  assert.equal(ticks, 1);
  assert.equal(s.next()?.toISOString(), '2030-01-02T03:00:00.000Z');
  s.stop();
  assert.equal(s.next(), null);
  mock.timers.tick(2 * 86_400_000);
  await settle();
  assert.equal(ticks, 1, 'a stopped scheduler does not tick');
});

test('a slot is skipped while the previous tick is still running (noOverlap)', async (t) => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: utc('2030-01-01T00:00:00.500') });
  t.after(() => mock.timers.reset());
  let calls = 0;
  let release: () => void = noop;
  const warnings: string[] = [];
  const s = new CronScheduler({
    expression: '* * * * * *',
    logger: { warn: (m) => warnings.push(m), info: noop, error: noop, debug: noop },
    onTick: () =>
      new Promise<void>((resolve) => {
        calls++;
        release = resolve;
      }),
  });
  t.after(() => s.destroy());
  s.start();
  for (let i = 0; i < 3; i++) {
    mock.timers.tick(1_000);
    await settle();
  }
  assert.equal(calls, 1);
  assert.equal(warnings.length, 2, 'node-cron reports each blocked slot to the given logger');
  release();
  await settle();
  mock.timers.tick(1_000);
  await settle();
  assert.equal(calls, 2);
  release();
});

test('runNow runs the tick at once; errors from the tick go to onError, never out', async () => {
  const errors: unknown[] = [];
  let ticks = 0;
  const s = new CronScheduler({
    expression: '0 3 * * *',
    onTick: async () => {
      ticks++;
      if (ticks === 2) throw new Error('enqueue failed');
    },
    onError: (e) => errors.push(e),
  });
  await s.runNow();
  await s.runNow();
  assert.equal(ticks, 2);
  assert.deepEqual(errors.map((e) => (e as Error).message), ['enqueue failed']);
  const silent = new CronScheduler({ expression: '0 3 * * *', onTick: () => Promise.reject(new Error('x')) });
  await silent.runNow(); // no onError: swallowed, not thrown
  s.destroy();
  silent.destroy();
});

test('previousRun finds the latest slot at or before now', () => {
  const cases: Array<[string, string, string | null]> = [
    ['0 3 * * *', '2030-01-02T02:00:00', '2030-01-01T03:00:00'],
    ['0 3 * * *', '2030-01-02T03:00:00', '2030-01-02T03:00:00'],
    ['0 3 * * *', '2030-01-02T03:00:00.999', '2030-01-02T03:00:00'],
    ['*/15 * * * *', '2030-06-01T10:44:59', '2030-06-01T10:30:00'],
    ['30 */2 * * * *', '2030-06-01T10:03:10', '2030-06-01T10:02:30'],
    ['0 3 * * mon-fri', '2030-01-07T01:00:00', '2030-01-04T03:00:00'], // Monday early → Friday
    ['0 0 L * *', '2030-03-15T00:00:00', '2030-02-28T00:00:00'],
    ['0 9 * * 1#2', '2030-01-20T00:00:00', '2030-01-14T09:00:00'], // second Monday of January 2030
    ['0 0 29 2 *', '2031-03-01T00:00:00', '2028-02-29T00:00:00'],
  ];
  for (const [expr, now, want] of cases) {
    const s = new CronScheduler({ expression: expr, onTick: noop });
    assert.equal(s.previousRun(utc(now))?.toISOString() ?? null, want === null ? null : new Date(utc(want)).toISOString(), `${expr} at ${now}`);
    s.destroy();
  }
});

test('previousRun agrees with node-cron\'s own next-run computation', (t) => {
  t.after(() => mock.timers.reset());
  const rng = createRng(3);
  for (const expr of ['0 3 * * *', '30 */2 * * * *', '0 0 L * *', '0 9 * * 1#2', '*/7 4-6 * * *', '0 0 15W * *']) {
    const s = new CronScheduler({ expression: expr, onTick: noop });
    const reference = cron.createTask(expr, noop, { timezone: 'UTC' });
    for (let i = 0; i < 15; i++) {
      const now = utc('2030-01-01T00:00:00') + Math.floor(rng.next() * 800 * 86_400_000);
      const prev = s.previousRun(now)?.getTime() ?? Number.NaN;
      mock.timers.enable({ apis: ['Date'], now: prev - 1 });
      const [first, second] = reference.getNextRuns(2).map((d) => d.getTime());
      mock.timers.reset();
      assert.equal(first, prev, `${expr}: previousRun(${new Date(now).toISOString()}) is a slot`);
      assert.ok((second ?? 0) > now, `${expr}: no slot between it and ${new Date(now).toISOString()}`);
    }
    s.destroy();
    void reference.destroy();
  }
});

test('missedRun tells the hub at startup whether a slot passed while it was down', () => {
  const s = new CronScheduler({ expression: '0 3 * * *', onTick: noop });
  const lastRun = utc('2030-01-01T03:00:05');
  assert.equal(s.missedRun(lastRun, utc('2030-01-02T02:59:59')), false);
  assert.equal(s.missedRun(lastRun, utc('2030-01-02T03:00:00')), true);
  assert.equal(s.missedRun(lastRun, utc('2030-01-05T12:00:00')), true);
  assert.equal(s.missedRun(utc('2030-01-02T03:00:00'), utc('2030-01-02T04:00:00')), false, 'the slot itself was run');
  assert.equal(s.missedRun(null, utc('2030-01-02T04:00:00')), true, 'never run counts as missed');
  s.destroy();
});

test('shouldRedistill: a minimum of new windows, a cooldown, and on-demand always runs', () => {
  const base: RedistillCheck = { site: 's1', newWindows: 500, minNewWindows: 256, lastRunAt: 1_000, now: 10_000_000, cooldownMs: 3_600_000 };
  assert.deepEqual(shouldRedistill(base), { run: true, site: 's1', reason: 'enough-new-windows' });
  assert.deepEqual(shouldRedistill({ ...base, trigger: 'schedule' }), { run: true, site: 's1', reason: 'scheduled' });
  assert.deepEqual(shouldRedistill({ ...base, newWindows: 256 }).run, true, 'the minimum itself is enough');
  assert.deepEqual(shouldRedistill({ ...base, newWindows: 255 }), { run: false, site: 's1', reason: 'too-few-new-windows', missingWindows: 1 });
  assert.deepEqual(shouldRedistill({ ...base, newWindows: 0, trigger: 'schedule' }).run, false);
  assert.deepEqual(shouldRedistill({ ...base, lastRunAt: 10_000_000 - 60_000 }), { run: false, site: 's1', reason: 'cooldown', retryInMs: 3_540_000 });
  assert.deepEqual(shouldRedistill({ ...base, lastRunAt: 10_000_000 - 3_600_000 }).run, true, 'the cooldown ends exactly');
  assert.deepEqual(shouldRedistill({ ...base, lastRunAt: null, cooldownMs: Number.POSITIVE_INFINITY }).run, true, 'never run: no cooldown');
  assert.deepEqual(shouldRedistill({ ...base, newWindows: 0, lastRunAt: 10_000_000, trigger: 'demand' }), { run: true, site: 's1', reason: 'on-demand' });
  assert.deepEqual(shouldRedistill({ ...base, minNewWindows: 0, newWindows: 0 }).run, true, 'a zero minimum runs on every trigger');
});
