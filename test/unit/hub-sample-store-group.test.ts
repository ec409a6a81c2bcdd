/** The sample store's group commit (hub/store/group-commit.ts): batches arriving together share one pack and its fsyncs. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { makeBatch, open, packFiles, tempDir } from '../helpers/sample-store-fixtures';

const logLines = async (dir: string): Promise<string[]> => (await fs.readFile(path.join(dir, 'seen-ids.log'), 'utf8')).split('\n').filter((l) => l !== '');

test('batches arriving together are committed in groups, each resolved only once durable, and all survive a restart', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  let resolved = 0;
  const adds = Array.from({ length: 40 }, (_, i) => store.addBatch(`site${i % 3}`, makeBatch(`b-${i}`)).then((r) => (resolved++, r)));
  // The first batch commits alone; the 39 that arrived meanwhile wait for it and then go as one group.
  assert.equal(store.backlog, 40);
  assert.equal(resolved, 0);
  const results = await Promise.all(adds);
  assert.ok(results.every((r) => r.stored === 2 && !r.duplicate));
  assert.equal(store.backlog, 0);
  assert.equal((await logLines(dir)).length, 40, 'every id is in the seen log');
  const again = await open(dir);
  assert.deepEqual([again.count('site0'), again.count('site1'), again.count('site2')], [28, 26, 26]);
  assert.deepEqual((await again.read('site0')).seq, Array.from({ length: 28 }, (_, i) => i + 1), 'sequence numbers are dense within a site');
});

test('copies of one batch in a group are stored once, the others are duplicates', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  const first = store.addBatch('site1', makeBatch('b-0'));
  const copies = [store.addBatch('site1', makeBatch('b-1')), store.addBatch('site1', makeBatch('b-1')), store.addBatch('site1', makeBatch('b-1'))];
  await first;
  const rs = await Promise.all(copies);
  assert.deepEqual(rs.map((r) => r.duplicate), [false, true, true]);
  assert.equal(store.count('site1'), 4);
  assert.equal((await logLines(dir)).length, 2);
});

test('a bad batch in a group fails alone; the rest of the group is stored', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('site1', makeBatch('b-0'));
  const ok = store.addBatch('site1', makeBatch('b-1'));
  const bad = store.addBatch('site1', makeBatch('b-2', { channels: 5 }));
  const ok2 = store.addBatch('site1', makeBatch('b-3'));
  await assert.rejects(bad, (e) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  assert.deepEqual([await ok, await ok2], [{ stored: 2, duplicate: false }, { stored: 2, duplicate: false }]);
  assert.deepEqual((await store.read('site1')).batchIds, ['b-0', 'b-0', 'b-1', 'b-1', 'b-3', 'b-3']);
});

test('a failed seen-log append fails the whole group, removes its pack, and a resend stores each batch once', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('site1', makeBatch('b-0'));
  // A directory in place of the log makes its append fail after the group's segments were written (a crash between
  // segment and log, as far as the store can tell).
  const log = path.join(dir, 'seen-ids.log');
  const saved = await fs.readFile(log);
  await fs.rm(log);
  await fs.mkdir(log);
  const group = [store.addBatch('site1', makeBatch('b-1')), store.addBatch('site1', makeBatch('b-2'))];
  for (const p of group) await assert.rejects(p, (e) => isSitekdError(e, ErrorCode.STORE_WRITE));
  const files = (await fs.readdir(path.join(dir, 'packs'))).filter((n) => n.endsWith('.pack') || n.endsWith('.tmp'));
  assert.deepEqual(files, await packFiles(dir));
  assert.equal(files.length, 1, 'the failed group left no pack behind, only the first batch\'s');
  await fs.rmdir(log);
  await fs.writeFile(log, saved);
  assert.deepEqual(await store.addBatch('site1', makeBatch('b-1')), { stored: 2, duplicate: false });
  assert.deepEqual(await store.addBatch('site1', makeBatch('b-1')), { stored: 0, duplicate: true });
  assert.deepEqual((await open(dir).then((s) => s.read('site1'))).batchIds, ['b-0', 'b-0', 'b-1', 'b-1']);
});

test('a group of many batches, of several sites, is one pack file', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('site0', makeBatch('first'));
  await Promise.all(Array.from({ length: 30 }, (_, i) => store.addBatch(`site${i % 3}`, makeBatch(`b-${i}`))));
  assert.equal((await packFiles(dir)).length, 2, 'the first batch alone, then the 30 that waited for it together');
  assert.deepEqual((await fs.readdir(path.join(dir, 'sites', 'site1'))).sort(), ['meta.json'], 'no file per batch');
});
