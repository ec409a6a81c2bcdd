import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { Outbox, type OutboxOptions } from '../../agent/outbox';
import { decodeRecord, encodeRecord } from '../../agent/outbox-files';
import { ErrorCode, isSitekdError, type SitekdError } from '../../shared/errors';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-outbox-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

let dirs = 0;
const freshDir = (): string => path.join(root, `box-${++dirs}`);

function open(dir: string, overrides: Partial<OutboxOptions> = {}): Promise<Outbox> {
  return Outbox.open({ dir, maxBytes: 1000, now: () => 5000, ...overrides });
}

const bytes = (n: number, fill = n % 251): Uint8Array => new Uint8Array(n).fill(fill);
const recFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.rec')).sort();
const ids = (box: Outbox): string[] => box.list().map((e) => e.id);

test('put, peek, list and ack keep FIFO order, depth and bytes', async () => {
  const box = await open(freshDir());
  assert.equal(await box.put('b-1', bytes(10)), 'stored');
  assert.equal(await box.put('b-2', bytes(20)), 'stored');
  assert.equal(await box.put('b-3', bytes(30)), 'stored');
  assert.deepEqual(ids(box), ['b-1', 'b-2', 'b-3']);
  assert.equal(box.depth, 3);
  assert.equal(box.bytes, 60);
  const two = await box.peek(2);
  assert.deepEqual(two.map((r) => [r.id, r.bytes.length, r.createdAt]), [['b-1', 10, 5000], ['b-2', 20, 5000]]);
  assert.deepEqual([...(two[1]?.bytes ?? [])], [...bytes(20)]);
  assert.equal(await box.ack('b-2'), true);
  assert.deepEqual(ids(box), ['b-1', 'b-3']);
  assert.equal(box.bytes, 40);
});

test('a new instance on the same directory sees the same records in order, and appends after them', async () => {
  const dir = freshDir();
  const first = await open(dir);
  for (let i = 0; i < 5; i++) await first.put(`batch-${i}`, bytes(10 + i));
  await first.ack('batch-1');
  await first.close();
  const second = await open(dir);
  assert.deepEqual(ids(second), ['batch-0', 'batch-2', 'batch-3', 'batch-4']);
  assert.equal(second.bytes, 10 + 12 + 13 + 14);
  await second.put('batch-5', bytes(5));
  const third = await open(dir);
  assert.deepEqual(ids(third), ['batch-0', 'batch-2', 'batch-3', 'batch-4', 'batch-5']);
  assert.deepEqual([...((await third.peek(1))[0]?.bytes ?? [])], [...bytes(10)]);
});

test('a corrupt or truncated file is quarantined on open, counted, reported, and the rest load', async () => {
  const dir = freshDir();
  const box = await open(dir);
  for (const id of ['a', 'b', 'c', 'd']) await box.put(id, bytes(50));
  const files = recFiles(dir);
  const flipped = path.join(dir, files[1] as string);
  const raw = fs.readFileSync(flipped);
  const last = raw.length - 1;
  raw[last] = (raw[last] as number) ^ 0xff; // a bit flip in the payload
  fs.writeFileSync(flipped, raw);
  const torn = path.join(dir, files[2] as string);
  fs.truncateSync(torn, 30); // a crash mid-write without rename semantics
  fs.writeFileSync(path.join(dir, '0000000000000009-junk.rec'), 'not a record');
  fs.writeFileSync(path.join(dir, '0000000000000010-x.rec.tmp'), 'half a put');

  const reported: Array<[string, SitekdError]> = [];
  const again = await open(dir, { onQuarantine: (file, err) => reported.push([path.basename(file), err]) });
  assert.deepEqual(ids(again), ['a', 'd']);
  assert.equal(again.counters.quarantinedRecords, 3);
  assert.equal(reported.length, 3);
  for (const [, err] of reported) assert.ok(isSitekdError(err, ErrorCode.OUTBOX_CORRUPT));
  const left = fs.readdirSync(dir).sort();
  assert.ok(left.includes(`${files[1]}.bad`) && left.includes(`${files[2]}.bad`));
  assert.ok(!left.some((f) => f.endsWith('.tmp')), 'leftover temp files are removed');
  assert.equal(again.bytes, 100);
  // The next seq is past every name seen, including quarantined and temporary ones.
  await again.put('e', bytes(1));
  assert.match(recFiles(dir).at(-1) ?? '', /^0000000000000011-e\.rec$/);
});

test('a file whose name and contents disagree is quarantined', async () => {
  const dir = freshDir();
  const box = await open(dir);
  await box.put('real', bytes(5));
  const [file] = recFiles(dir);
  fs.renameSync(path.join(dir, file as string), path.join(dir, '0000000000000001-other.rec'));
  const again = await open(dir);
  assert.equal(again.depth, 0);
  assert.equal(again.counters.quarantinedRecords, 1);
});

test('damage found at peek time is skipped and counted', async () => {
  const dir = freshDir();
  const box = await open(dir);
  for (const id of ['a', 'b', 'c']) await box.put(id, bytes(8));
  const files = recFiles(dir);
  fs.writeFileSync(path.join(dir, files[0] as string), 'garbage');
  fs.rmSync(path.join(dir, files[1] as string));
  const got = await box.peek(3);
  assert.deepEqual(got.map((r) => r.id), ['c']);
  assert.deepEqual(ids(box), ['c']);
  assert.equal(box.bytes, 8);
  assert.equal(box.counters.quarantinedRecords, 1);
  assert.equal(box.counters.missingRecords, 1);
});

test('the cap drops the oldest records to make room, and a record above the cap is OUTBOX_FULL', async () => {
  const dir = freshDir();
  const box = await open(dir, { maxBytes: 100 });
  await box.put('a', bytes(40));
  await box.put('b', bytes(40));
  await box.put('c', bytes(40)); // 120 > 100: 'a' goes
  assert.deepEqual(ids(box), ['b', 'c']);
  assert.deepEqual(box.counters, { droppedRecords: 1, droppedBytes: 40, expiredRecords: 0, quarantinedRecords: 0, missingRecords: 0 });
  await box.put('d', bytes(100)); // exactly the cap: everything else goes
  assert.deepEqual(ids(box), ['d']);
  assert.equal(box.counters.droppedRecords, 3);
  await assert.rejects(box.put('e', bytes(101)), (e: unknown) => isSitekdError(e, ErrorCode.OUTBOX_FULL));
  assert.deepEqual(ids(box), ['d']);
  assert.deepEqual(recFiles(dir).length, 1);
});

test('a lower cap on reopen drops the oldest records', async () => {
  const dir = freshDir();
  const box = await open(dir);
  for (const id of ['a', 'b', 'c']) await box.put(id, bytes(100));
  const smaller = await open(dir, { maxBytes: 150 });
  assert.deepEqual(ids(smaller), ['c']);
  assert.equal(smaller.counters.droppedBytes, 200);
  assert.equal(recFiles(dir).length, 1);
});

test('put of a queued id is a no-op; ack of an unknown id returns false', async () => {
  const box = await open(freshDir());
  assert.equal(await box.put('x', bytes(3, 1)), 'stored');
  assert.equal(await box.put('x', bytes(9, 2)), 'duplicate');
  assert.equal(box.bytes, 3);
  assert.deepEqual([...((await box.peek(1))[0]?.bytes ?? [])], [1, 1, 1]);
  assert.equal(await box.ack('never-put'), false);
  assert.equal(await box.ack('x'), true);
  assert.equal(await box.ack('x'), false);
  assert.equal(box.depth, 0);
});

test('interleaved async puts, acks and peeks apply in call order', async () => {
  const dir = freshDir();
  const box = await open(dir, { maxBytes: 10_000 });
  const ops: Array<Promise<unknown>> = [];
  for (let i = 0; i < 30; i++) {
    ops.push(box.put(`r${i}`, bytes(i + 1)));
    if (i % 3 === 2) ops.push(box.ack(`r${i - 1}`));
    if (i % 7 === 0) ops.push(box.peek(2));
  }
  ops.push(box.ack('r0'), box.put('r0', bytes(1)), box.ack('r29'));
  const results = await Promise.all(ops);
  assert.ok(!results.includes('duplicate'));
  const expected = Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 3 !== 1 && i !== 0 && i !== 29).map((i) => `r${i}`);
  expected.push('r0'); // acked, then put again: a new record at the tail
  assert.deepEqual(ids(box), expected);
  const reopened = await open(dir, { maxBytes: 10_000 });
  assert.deepEqual(ids(reopened), expected);
  assert.equal(reopened.bytes, box.bytes);
  assert.equal(recFiles(dir).length, expected.length);
});

test('records older than maxAgeMs expire by the injected clock', async () => {
  const dir = freshDir();
  const clock = { t: 0 };
  const box = await open(dir, { maxAgeMs: 1000, now: () => clock.t });
  await box.put('old', bytes(4));
  clock.t = 600;
  await box.put('new', bytes(4));
  clock.t = 1200;
  assert.deepEqual((await box.peek(5)).map((r) => r.id), ['new']);
  assert.equal(box.counters.expiredRecords, 1);
  clock.t = 5000;
  const again = await open(dir, { maxAgeMs: 1000, now: () => clock.t });
  assert.equal(again.depth, 0);
  assert.equal(again.counters.expiredRecords, 1);
});

test('invalid ids and options, and an unusable directory, are coded errors', async () => {
  const box = await open(freshDir());
  await assert.rejects(box.put('../escape', bytes(1)), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  await assert.rejects(box.put('', bytes(1)), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  await assert.rejects(open(freshDir(), { maxBytes: 0 }), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
  const file = path.join(root, `not-a-dir-${++dirs}`);
  fs.writeFileSync(file, 'x');
  await assert.rejects(open(file), (e: unknown) => isSitekdError(e, ErrorCode.OUTBOX_IO));
});

test('encodeRecord / decodeRecord round-trip and detect every kind of damage', () => {
  const payload = Uint8Array.from([1, 2, 3, 4, 5]);
  const file = encodeRecord('batch-7', 1234.5, payload);
  const ok = decodeRecord(file);
  assert.ok(ok.ok);
  assert.equal(ok.id, 'batch-7');
  assert.equal(ok.createdAt, 1234.5);
  assert.deepEqual([...ok.payload], [...payload]);
  const damaged = [file.subarray(0, 10), file.subarray(0, file.length - 1), Uint8Array.from([...file, 0])];
  for (let i = 0; i < file.length; i++) {
    const copy = Uint8Array.from(file);
    copy[i] = (copy[i] as number) ^ 0x01;
    damaged.push(copy);
  }
  for (const d of damaged) {
    const r = decodeRecord(d);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, ErrorCode.OUTBOX_CORRUPT);
  }
});
