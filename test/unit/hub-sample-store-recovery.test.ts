/**
 * The sample store after restarts and accidents: crash leftovers, corrupt or truncated files, a torn id log, a
 * failing disk, for the segment files of stores written before packs (`toSegmentFiles`: one file per batch, which an
 * older hub's state dir holds). Packs' accidents are in hub-sample-packs.test.ts; the happy paths in hub-sample-store.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { makeBatch, open, tempDir, toSegmentFiles } from '../helpers/sample-store-fixtures';

const segFiles = async (dir: string, site = 'site1'): Promise<string[]> =>
  (await fs.readdir(path.join(dir, 'sites', site))).filter((f) => f.endsWith('.seg')).sort();

test('everything survives a restart: sites, counts, data', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('site1', makeBatch('b-1', { n: 3 }));
  await store.addBatch('site1', makeBatch('b-2'));
  await store.addBatch('site2', makeBatch('c-1', { channels: 1, windowLength: 8 }));
  const before = [await store.read('site1'), await store.read('site2')];
  await store.close();
  const again = await open(dir);
  assert.deepEqual(again.sites(), ['site1', 'site2']);
  assert.deepEqual([again.count('site1'), again.count('site2')], [5, 2]);
  assert.deepEqual([await again.read('site1'), await again.read('site2')], before);
  assert.deepEqual(again.quarantined(), []);
});

test('an older store\'s corrupt, truncated and foreign segment files are quarantined at open, never fatal', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  for (const id of ['b-1', 'b-2', 'b-3', 'b-4']) await store.addBatch('site1', makeBatch(id));
  await store.addBatch('site2', makeBatch('c-1'));
  await store.close();
  await toSegmentFiles(dir);
  const [f1, f2, f3] = (await segFiles(dir)).map((f) => path.join(dir, 'sites', 'site1', f)) as [string, string, string];
  const bytes = await fs.readFile(f1);
  bytes[bytes.length - 40] = (bytes[bytes.length - 40] as number) ^ 0xff; // one flipped bit-pattern in the payload
  await fs.writeFile(f1, bytes);
  await fs.truncate(f2, 30);
  await fs.writeFile(f3, 'not a segment at all');
  await fs.copyFile(path.join(dir, 'sites', 'site2', '000000000001.seg'), path.join(dir, 'sites', 'site1', '000000000099.seg'));
  await fs.writeFile(path.join(dir, 'sites', 'site1', '000000000100.seg.tmp'), 'half written');
  const again = await open(dir);
  assert.equal(again.count('site1'), 2);
  assert.deepEqual((await again.read('site1')).batchIds, ['b-4', 'b-4']);
  const bad = again.quarantined();
  assert.equal(bad.length, 4);
  assert.ok(bad.every((b) => b.code === ErrorCode.STORE_CORRUPT));
  const reasons = bad.map((b) => b.reason).join(' | ');
  for (const re of [/sha256 mismatch/, /too short/, /belongs to site site2/]) assert.match(reasons, re);
  const names = await fs.readdir(path.join(dir, 'sites', 'site1'));
  assert.equal(names.filter((n) => n.endsWith('.bad')).length, 4);
  assert.ok(!names.some((n) => n.endsWith('.tmp')), 'leftover temp files are removed');
  assert.deepEqual(await again.addBatch('site1', makeBatch('b-1')), { stored: 0, duplicate: true }, 'ids of lost segments stay seen');
  const third = await open(dir);
  assert.deepEqual(third.quarantined(), [], '.bad files are not read again');
});

test('an older store\'s segment file corrupted after open is quarantined when read and left out', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('site1', makeBatch('b-1'));
  await store.addBatch('site1', makeBatch('b-2'));
  await store.close();
  await toSegmentFiles(dir);
  const older = await open(dir);
  await fs.truncate(path.join(dir, 'sites', 'site1', '000000000001.seg'), 100);
  assert.deepEqual((await older.read('site1')).batchIds, ['b-2', 'b-2']);
  assert.equal(older.count('site1'), 2);
  assert.equal(older.stats().quarantined, 1);
});

test('a torn or garbled seen-ids log is repaired, keeping every readable id', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir, { maxWindowsPerSite: 2 });
  for (const id of ['b-1', 'b-2', 'b-3']) await store.addBatch('site1', makeBatch(id)); // b-1, b-2 evicted
  const log = path.join(dir, 'seen-ids.log');
  const lines = (await fs.readFile(log, 'utf8')).trimEnd().split('\n');
  await fs.writeFile(log, `${lines[0]}\n{"garbage\n${lines.slice(1).join('\n')}\n{"s":"site1","b":"torn`);
  const again = await open(dir, { maxWindowsPerSite: 2 });
  assert.equal(again.quarantined().length, 2);
  assert.ok(await fs.stat(`${log}.bad`));
  for (const id of ['b-1', 'b-2', 'b-3']) assert.equal((await again.addBatch('site1', makeBatch(id))).duplicate, true, id);
  assert.equal((await again.addBatch('site1', makeBatch('b-4'))).stored, 2);
  assert.deepEqual((await again.read('site1')).seq, [7, 8]);
});

test('a crash between writing a segment and logging its id does not make the batch storable twice', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('site1', makeBatch('b-1'));
  await fs.writeFile(path.join(dir, 'seen-ids.log'), ''); // as if the append never happened
  const again = await open(dir);
  assert.equal((await again.addBatch('site1', makeBatch('b-1'))).duplicate, true);
  assert.deepEqual((await again.addBatch('site1', makeBatch('b-2'))), { stored: 2, duplicate: false });
  assert.deepEqual((await again.read('site1')).seq, [1, 2, 3, 4], 'the sequence continues after the recovered segment');
});

test('a corrupt meta.json is quarantined and rebuilt from the segments', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('site1', makeBatch('b-1'));
  await fs.writeFile(path.join(dir, 'sites', 'site1', 'meta.json'), '{"version":1');
  const again = await open(dir);
  assert.equal(again.quarantined().length, 1);
  assert.equal(again.count('site1'), 2);
  await assert.rejects(again.addBatch('site1', makeBatch('b-2', { channels: 5 })), (e) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  const third = await open(dir);
  assert.deepEqual(third.quarantined(), []);
});

test('a write failure is STORE_WRITE and leaves the store usable', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('site1', makeBatch('b-1'));
  // A file where the packs directory was makes the next pack's write fail, even for root.
  const packs = path.join(dir, 'packs');
  await fs.rename(packs, `${packs}-away`);
  await fs.writeFile(packs, 'in the way');
  await assert.rejects(store.addBatch('site1', makeBatch('b-2')), (e) => isSitekdError(e, ErrorCode.STORE_WRITE));
  await fs.rm(packs);
  await fs.rename(`${packs}-away`, packs);
  assert.ok(!(await fs.readdir(packs)).some((n) => n.endsWith('.tmp')), 'no temp file is left');
  assert.deepEqual(await store.addBatch('site1', makeBatch('b-2')), { stored: 2, duplicate: false }, 'a failed batch is not remembered');
  assert.deepEqual((await store.read('site1')).seq, [1, 2, 3, 4]);
});

test('without meta.json, a foreign segment sorting first does not take over the site', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('other', makeBatch('x-1', { channels: 1 }));
  for (const id of ['b-1', 'b-2']) await store.addBatch('site1', makeBatch(id));
  await store.close();
  await toSegmentFiles(dir);
  const site1 = path.join(dir, 'sites', 'site1');
  await fs.rm(path.join(site1, 'meta.json'));
  await fs.copyFile(path.join(dir, 'sites', 'other', '000000000001.seg'), path.join(site1, '000000000000.seg')); // sorts first
  const again = await open(dir);
  assert.deepEqual(again.quarantined().map((q) => path.basename(q.file)), ['000000000000.seg']);
  assert.equal(again.count('site1'), 4);
  assert.deepEqual([again.count('other'), again.sites()], [2, ['other', 'site1']]);
  await assert.rejects(again.addBatch('site1', makeBatch('b-3', { channels: 1 })), (e) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
});
