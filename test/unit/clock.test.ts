import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock, withTimeout } from '../../shared/clock';
import { ManualClock } from '../helpers/manual-clock';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('ManualClock runs due timers in time order, each at its own time, and repeats `every`', () => {
  const clock = new ManualClock(1_000);
  const seen: string[] = [];
  clock.every(30, () => seen.push(`every@${clock.monotonicMs()}`));
  clock.after(45, () => seen.push(`after@${clock.monotonicMs()} wall ${clock.now()}`));
  const cancelled = clock.after(10, () => seen.push('cancelled'));
  cancelled.cancel();
  clock.advance(100);
  assert.deepEqual(seen, ['every@30', 'after@45 wall 1045', 'every@60', 'every@90']);
  assert.equal(clock.now(), 1_100);
  assert.equal(clock.monotonicMs(), 100);
  assert.equal(clock.pendingTimers, 1, 'the interval is still there; the fired and cancelled timeouts are gone');
});

test('withTimeout: the promise wins and its timer is cancelled', async () => {
  const clock = new ManualClock();
  assert.equal(await withTimeout(clock, Promise.resolve('value'), 1000), 'value');
  assert.equal(clock.pendingTimers, 0);
  await assert.rejects(withTimeout(clock, Promise.reject(new Error('no')), 1000), /no/);
  assert.equal(clock.pendingTimers, 0);
});

test('withTimeout: the deadline wins on a promise that never settles; a late rejection stays handled', async () => {
  const clock = new ManualClock();
  let reject!: (e: unknown) => void;
  const never = new Promise<string>((_, rej) => (reject = rej));
  const raced = withTimeout(clock, never, 2000);
  await clock.advanceAndSettle(1999);
  assert.equal(clock.pendingTimers, 1, 'not yet');
  clock.advance(1);
  assert.equal(await raced, 'timeout');
  reject(new Error('late')); // must not surface as an unhandled rejection (node --test would fail the file)
  await turn();
});

test('withTimeout on the system clock', async () => {
  // systemClock's timers never keep the process alive on their own (the processes' sockets do): this one does.
  const keepAlive = setTimeout(() => undefined, 10_000);
  const started = performance.now();
  assert.equal(await withTimeout(systemClock, new Promise(() => undefined), 30), 'timeout');
  assert.ok(performance.now() - started >= 25);
  clearTimeout(keepAlive);
});
