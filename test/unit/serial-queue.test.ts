import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedSerialQueue, SerialQueue } from '../../shared/serial-queue';

/** A promise the test resolves or rejects by hand. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void; fail: (e: unknown) => void } {
  let open!: (v: T) => void;
  let fail!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { promise, open, fail };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('tasks run one at a time, in the order they were queued', async () => {
  const q = new SerialQueue();
  const log: string[] = [];
  const gates = [gate(), gate(), gate()];
  const results = gates.map((g, i) =>
    q.run(async () => {
      log.push(`start ${i}`);
      await g.promise;
      log.push(`end ${i}`);
      return i * 10;
    }),
  );
  await turn();
  assert.deepEqual(log, ['start 0']);
  assert.equal(q.size, 3);
  // Releasing a later task first changes nothing: it has not started.
  gates[2]!.open();
  gates[1]!.open();
  await turn();
  assert.deepEqual(log, ['start 0']);
  gates[0]!.open();
  assert.deepEqual(await Promise.all(results), [0, 10, 20]);
  assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  await q.drain();
  assert.equal(q.size, 0);
});

test('a failing task rejects only its own promise; the next one runs', async () => {
  const q = new SerialQueue();
  const boom = new Error('boom');
  const a = q.run(async () => {
    throw boom;
  });
  const b = q.run(() => {
    throw new TypeError('sync throw');
  });
  const c = q.run(async () => 'c ran');
  await assert.rejects(a, (e) => e === boom);
  await assert.rejects(b, TypeError);
  assert.equal(await c, 'c ran');
  await q.drain(); // never rejects, even after failures
  assert.equal(q.size, 0);
});

test('drain waits for the tasks queued so far, not for later ones', async () => {
  const q = new SerialQueue();
  const first = gate();
  const second = gate();
  let firstDone = false;
  void q.run(async () => {
    await first.promise;
    firstDone = true;
  });
  const drained = q.drain();
  const later = q.run(() => second.promise);
  let drainedYet = false;
  void drained.then(() => (drainedYet = true));
  await turn();
  assert.equal(drainedYet, false);
  first.open();
  await drained;
  assert.equal(firstDone, true);
  assert.equal(q.size, 1, 'the later task is still running');
  second.open();
  await later;
  await q.drain();
  assert.equal(q.size, 0);
});

test('a rejected task that nobody awaited does not break drain', async () => {
  const q = new SerialQueue();
  const failing = q.run(async () => {
    throw new Error('ignored');
  });
  failing.catch(() => undefined); // the caller's business; the queue itself must not care
  await q.drain();
  assert.equal(await q.run(() => 42), 42);
});

test('KeyedSerialQueue: one key runs in order, different keys run side by side', async () => {
  const q = new KeyedSerialQueue();
  const log: string[] = [];
  const a1 = gate();
  const pA1 = q.run('a', async () => {
    log.push('a1 start');
    await a1.promise;
    log.push('a1 end');
  });
  const pA2 = q.run('a', async () => void log.push('a2'));
  const pB = q.run('b', async () => void log.push('b'));
  await pB;
  assert.deepEqual(log, ['a1 start', 'b'], 'b did not wait for a');
  const drained = q.drain();
  a1.open();
  await Promise.all([pA1, pA2, drained]);
  assert.deepEqual(log, ['a1 start', 'b', 'a1 end', 'a2']);
});

test('KeyedSerialQueue: a failure on one key does not block that key or others', async () => {
  const q = new KeyedSerialQueue();
  await assert.rejects(q.run('a', () => Promise.reject(new Error('x'))), /x/);
  assert.equal(await q.run('a', () => 'a again'), 'a again');
  assert.equal(await q.run('b', () => 'b'), 'b');
  await q.drain();
});
