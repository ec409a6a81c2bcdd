import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { isHeldOut, type SampleBatch } from '../../hub/store/sample-store';
import { makeBatch, open, packFiles, tempDir } from '../helpers/sample-store-fixtures';


test('stores a batch and reads back windows, logits and provenance bit for bit', async (t) => {
  const store = await open(await tempDir(t));
  const b = makeBatch('b-1', { n: 3 });
  assert.deepEqual(await store.addBatch('site1', b), { stored: 3, duplicate: false });
  const set = await store.read('site1');
  assert.equal(set.n, 3);
  assert.deepEqual([set.channels, set.windowLength, set.numClasses], [2, 4, 3]);
  assert.deepEqual(set.windows, b.windows);
  assert.deepEqual(set.logits, b.logits);
  assert.deepEqual(set.batchIds, ['b-1', 'b-1', 'b-1']);
  assert.deepEqual(set.seq, [1, 2, 3]);
  assert.deepEqual(set.windowStarts, b.windowStarts);
  assert.deepEqual(set.selectedBy, ['uniform', 'uniform', 'uniform']);
  assert.deepEqual(store.sites(), ['site1']);
  assert.equal(store.count('site1'), 3);
});

test('a repeated batch id is a duplicate, also after a restart and after its windows were evicted', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir, { maxWindowsPerSite: 2 });
  await store.addBatch('site1', makeBatch('b-1'));
  assert.deepEqual(await store.addBatch('site1', makeBatch('b-1')), { stored: 0, duplicate: true });
  await store.addBatch('site1', makeBatch('b-2')); // evicts b-1 (cap 2 windows)
  assert.deepEqual((await store.read('site1')).batchIds, ['b-2', 'b-2']);
  assert.deepEqual(await store.addBatch('site1', makeBatch('b-1')), { stored: 0, duplicate: true });
  const again = await open(dir, { maxWindowsPerSite: 2 });
  assert.deepEqual(await again.addBatch('site1', makeBatch('b-1')), { stored: 0, duplicate: true });
  assert.deepEqual(await again.addBatch('site1', makeBatch('b-2')), { stored: 0, duplicate: true });
  // Ids are per site: another site may use the same id.
  assert.deepEqual(await again.addBatch('site2', makeBatch('b-1')), { stored: 2, duplicate: false });
});

test('the same batch delivered twice at once is stored once', async (t) => {
  const store = await open(await tempDir(t));
  const results = await Promise.all([store.addBatch('site1', makeBatch('b-1')), store.addBatch('site1', makeBatch('b-1'))]);
  assert.deepEqual(results.map((r) => r.duplicate).sort(), [false, true]);
  assert.equal(store.count('site1'), 2);
});

test('sequence numbers only grow, across restarts and evictions, and count new windows since a marker', async (t) => {
  const dir = await tempDir(t);
  let store = await open(dir, { maxWindowsPerSite: 4 });
  await store.addBatch('site1', makeBatch('b-1', { n: 3 }));
  const marker = store.lastSeq('site1');
  assert.equal(marker, 3);
  await store.addBatch('site1', makeBatch('b-2', { n: 2 }));
  assert.equal(store.countSince('site1', marker), 2);
  assert.equal(store.countSince('site1', 0), 2, 'b-1 was evicted by the 4-window cap');
  assert.equal(store.countSince('site1', 4), 1, 'a marker inside a batch counts only the later windows');
  store = await open(dir, { maxWindowsPerSite: 4 });
  await store.addBatch('site1', makeBatch('b-3', { n: 1 }));
  assert.deepEqual((await store.read('site1')).seq, [4, 5, 6]);
  assert.equal(store.lastSeq('site1'), 6);
  assert.equal(store.lastSeq('unknown'), 0);
  assert.equal(store.countSince('unknown', 0), 0);
});

test('a batch whose shape differs from the site\'s first batch is rejected with INPUT_SHAPE, also after a restart', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  await store.addBatch('site1', makeBatch('b-1'));
  for (const over of [{ channels: 3 }, { windowLength: 5 }, { numClasses: 4 }]) {
    const b = makeBatch('b-x', over);
    await assert.rejects(store.addBatch('site1', b), (e) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  }
  const again = await open(dir);
  await assert.rejects(again.addBatch('site1', makeBatch('b-x', { channels: 3 })), (e) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
  assert.equal((await again.addBatch('site1', makeBatch('b-x'))).stored, 2, 'a rejected id is not remembered');
  assert.equal((await again.addBatch('site2', makeBatch('b-y', { channels: 3 }))).stored, 2, 'other sites have their own shape');
});

test('malformed batches are rejected with a code and store nothing', async (t) => {
  const store = await open(await tempDir(t));
  const bad: Array<[string, SampleBatch, string]> = [
    ['site1', makeBatch('b', { windows: new Float32Array(3) }), ErrorCode.INPUT_SHAPE],
    ['site1', makeBatch('b', { logits: new Float32Array(5) }), ErrorCode.INPUT_SHAPE],
    ['site1', makeBatch('b', { windowStarts: [1] }), ErrorCode.INPUT_SHAPE],
    ['site1', makeBatch('b', { selectedBy: ['uniform'] }), ErrorCode.INPUT_SHAPE],
    ['site1', makeBatch('b', { selectedBy: ['uniform', 'random' as 'uniform'] }), ErrorCode.INPUT_SHAPE],
    ['site1', makeBatch('b', { n: 0, windows: new Float32Array(0), logits: new Float32Array(0), windowStarts: [] }), ErrorCode.INPUT_SHAPE],
    ['site1', makeBatch('b', { channels: 1.5 }), ErrorCode.INPUT_SHAPE],
    ['site1', makeBatch(''), ErrorCode.INPUT_SHAPE],
    ['site1', makeBatch('x'.repeat(300)), ErrorCode.INPUT_SHAPE],
    ['', makeBatch('b'), ErrorCode.INPUT_SHAPE],
    ['s'.repeat(201), makeBatch('b'), ErrorCode.INPUT_SHAPE],
    ['bad\ud800', makeBatch('b'), ErrorCode.INPUT_SHAPE],
    ['site1', makeBatch('b', { windows: Float32Array.from({ length: 16 }, (_, i) => (i === 5 ? Number.NaN : 0)) }), ErrorCode.INPUT_NONFINITE],
    ['site1', makeBatch('b', { logits: Float32Array.from({ length: 6 }, (_, i) => (i === 1 ? Infinity : 0)) }), ErrorCode.INPUT_NONFINITE],
    ['site1', makeBatch('b', { windowStarts: [0, Number.NaN] }), ErrorCode.INPUT_NONFINITE],
  ];
  for (const [site, b, code] of bad) {
    await assert.rejects(store.addBatch(site, b), (e) => isSitekdError(e) && e.code === code, `${code} for ${site.slice(0, 10)}/${b.batchId.slice(0, 10)}`);
  }
  assert.deepEqual(store.sites(), []);
  assert.equal(store.stats().windows, 0);
});

test('the per-site window cap evicts the oldest segments and always keeps the newest batch', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir, { maxWindowsPerSite: 5 });
  for (const id of ['b-1', 'b-2', 'b-3']) await store.addBatch('site1', makeBatch(id, { n: 2 }));
  assert.deepEqual([...new Set((await store.read('site1')).batchIds)], ['b-2', 'b-3']);
  assert.equal((await packFiles(dir)).length, 2, 'the pack of the evicted batch is deleted (each batch was a group of its own)');
  await store.addBatch('site1', makeBatch('big', { n: 7 }));
  assert.deepEqual([...new Set((await store.read('site1')).batchIds)], ['big'], 'a batch larger than the cap is still kept');
  assert.equal(store.stats().evictedSegments, 3);
});

test('the total byte cap takes from the largest site first, oldest segment first', async (t) => {
  const dir = await tempDir(t);
  const probe = await open(path.join(dir, 'probe'));
  await probe.addBatch('x', makeBatch('p'));
  const segBytes = probe.stats().bytes;
  const cap = segBytes * 4 + 100; // ids and site names here are a few bytes longer than the probe's
  const store = await open(path.join(dir, 'store'), { maxBytesTotal: cap });
  await store.addBatch('quiet', makeBatch('q-1'));
  for (const id of ['c-1', 'c-2', 'c-3', 'c-4', 'c-5']) await store.addBatch('chatty', makeBatch(id));
  assert.ok(store.stats().bytes <= cap);
  assert.deepEqual([...new Set((await store.read('chatty')).batchIds)], ['c-3', 'c-4', 'c-5']);
  assert.deepEqual([...new Set((await store.read('quiet')).batchIds)], ['q-1'], 'the quiet site keeps its only batch');
});

test('read takes the newest `limit` windows and windows after a marker, cutting through batches', async (t) => {
  const store = await open(await tempDir(t));
  await store.addBatch('site1', makeBatch('A', { n: 3 }));
  await store.addBatch('site1', makeBatch('B', { n: 2 }));
  await store.addBatch('site1', makeBatch('C', { n: 4 }));
  const all = await store.read('site1');
  const last5 = await store.read('site1', { limit: 5 });
  assert.deepEqual(last5.seq, [5, 6, 7, 8, 9]);
  assert.deepEqual(last5.batchIds, ['B', 'C', 'C', 'C', 'C']);
  assert.deepEqual(last5.windows, all.windows.subarray(4 * 8));
  assert.deepEqual(last5.logits, all.logits.subarray(4 * 3));
  assert.deepEqual(last5.windowStarts, all.windowStarts.slice(4));
  assert.deepEqual((await store.read('site1', { afterSeq: 2 })).seq, [3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual((await store.read('site1', { afterSeq: 2, limit: 2 })).seq, [8, 9]);
  assert.equal((await store.read('site1', { afterSeq: 9 })).n, 0);
  assert.equal((await store.read('site1', { limit: 0 })).n, 0);
  assert.equal((await store.read('nobody')).n, 0);
  await assert.rejects(store.read('site1', { limit: -1 }), (e) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
});

test('upToSeq reads the windows up to a marker, cutting through a batch; every window names its agent and model', async (t) => {
  const store = await open(await tempDir(t));
  await store.addBatch('site1', makeBatch('A', { n: 3 }));
  await store.addBatch('site1', makeBatch('B', { n: 2, agent: 'a2', modelVersion: 'v2' }));
  await store.addBatch('site1', makeBatch('C', { n: 4, modelVersion: 'v2' }));
  const all = await store.read('site1');
  assert.deepEqual(all.agents, ['a1', 'a1', 'a1', 'a2', 'a2', 'a1', 'a1', 'a1', 'a1']);
  assert.deepEqual(all.modelVersions, ['v1', 'v1', 'v1', 'v2', 'v2', 'v2', 'v2', 'v2', 'v2']);
  const upTo = await store.read('site1', { upToSeq: 6 });
  assert.deepEqual(upTo.seq, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(upTo.windows, all.windows.subarray(0, 6 * 8));
  assert.deepEqual(upTo.logits, all.logits.subarray(0, 6 * 3));
  assert.deepEqual((await store.read('site1', { upToSeq: 6, limit: 2 })).seq, [5, 6], 'the newest up to the marker');
  assert.deepEqual((await store.read('site1', { afterSeq: 2, upToSeq: 4 })).seq, [3, 4]);
  assert.equal((await store.read('site1', { upToSeq: 0 })).n, 0);
  await assert.rejects(store.read('site1', { upToSeq: -1 }), (e) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
});

test('split keeps the same batches held out across rounds', async (t) => {
  const store = await open(await tempDir(t));
  for (let i = 0; i < 20; i++) await store.addBatch('site1', makeBatch(`round1-${i}`, { n: 1 }));
  const first = await store.split('site1', 0.3);
  assert.equal(first.train.n + first.heldOut.n, 20);
  assert.ok(first.heldOut.n > 0 && first.train.n > 0);
  for (let i = 0; i < 20; i++) await store.addBatch('site1', makeBatch(`round2-${i}`, { n: 1 }));
  const second = await store.split('site1', 0.3);
  assert.deepEqual(second.heldOut.batchIds.filter((id) => id.startsWith('round1-')), first.heldOut.batchIds);
  assert.deepEqual(second.heldOut.batchIds, second.heldOut.batchIds.filter((id) => isHeldOut(id, 0.3)));
  const k = second.heldOut.batchIds.indexOf(first.heldOut.batchIds[0] as string);
  assert.deepEqual(second.heldOut.windows.subarray(k * 8, (k + 1) * 8), first.heldOut.windows.subarray(0, 8));
  assert.equal((await store.split('site1', 0)).heldOut.n, 0);
  assert.equal((await store.split('site1', 1)).train.n, 0);
  for (const f of [-0.1, 1.5, Number.NaN]) await assert.rejects(store.split('site1', f), (e) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
});

test('how each window was chosen survives a restart; batches that do not say read back as unknown', async (t) => {
  const dir = await tempDir(t);
  let store = await open(dir);
  await store.addBatch('site1', makeBatch('new-1', { n: 3, selectedBy: ['uncertain', 'uniform', 'uncertain'] }));
  await store.addBatch('site1', makeBatch('old-1', { n: 2, selectedBy: undefined }));
  await store.close();
  store = await open(dir);
  const set = await store.read('site1');
  assert.deepEqual(set.selectedBy, ['uncertain', 'uniform', 'uncertain', 'unknown', 'unknown']);
  assert.deepEqual((await store.read('site1', { afterSeq: 1 })).selectedBy, ['uniform', 'uncertain', 'unknown', 'unknown'], 'cut through a batch');
  assert.deepEqual((await store.read('site1', { limit: 3 })).selectedBy, ['uncertain', 'unknown', 'unknown']);
});

test('the gate\'s held-out windows are the uniform ones of the held-out side; the rest of that side is set aside', async (t) => {
  const store = await open(await tempDir(t));
  const kinds: Array<'uniform' | 'uncertain' | undefined> = ['uniform', 'uncertain', undefined];
  for (let i = 0; i < 60; i++) {
    const k = kinds[i % 3];
    await store.addBatch('site1', makeBatch(`mix-${i}`, { n: 2, selectedBy: k === undefined ? undefined : [k, k] }));
  }
  for (const by of ['batch', 'window'] as const) {
    const all = await store.read('site1');
    const split = await store.split('site1', 0.4, { by });
    const side = all.batchIds.map((id, i) => isHeldOut(by === 'batch' ? id : `${id}#${all.seq[i] as number}`, 0.4));
    const expected = all.seq.filter((_, i) => side[i] && all.selectedBy[i] === 'uniform');
    assert.ok(expected.length > 0, by);
    assert.deepEqual(split.heldOut.seq, expected, by);
    assert.ok(split.heldOut.selectedBy.every((s) => s === 'uniform'), by);
    assert.deepEqual(split.train.seq, all.seq.filter((_, i) => !side[i]), `${by}: training keeps every kind`);
    assert.equal(split.setAside, side.filter(Boolean).length - expected.length, by);
    assert.equal(split.train.n + split.heldOut.n + split.setAside, all.n, by);
  }
  await assert.rejects(store.split('site1', 0.4, { by: 'segment' as 'batch' }), (e) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
});

test('isHeldOut is deterministic and close to the fraction', () => {
  const ids = Array.from({ length: 4000 }, (_, i) => `batch-${i}`);
  const share = ids.filter((id) => isHeldOut(id, 0.2)).length / ids.length;
  assert.ok(Math.abs(share - 0.2) < 0.03, `share ${share}`);
  assert.deepEqual(ids.map((id) => isHeldOut(id, 0.2)), ids.map((id) => isHeldOut(id, 0.2)));
  assert.ok(ids.every((id) => !isHeldOut(id, 0.1) || isHeldOut(id, 0.2)), 'a larger fraction only adds batches');
});

test('the seen-id set is bounded, its log is compacted, and sequence numbers survive compaction', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir, { maxSeenIds: 3, maxWindowsPerSite: 1 });
  for (let i = 1; i <= 10; i++) await store.addBatch('site1', makeBatch(`b-${i}`, { n: 1 }));
  await store.addBatch('site2', makeBatch('c-1', { n: 1 }));
  const lines = (await fs.readFile(path.join(dir, 'seen-ids.log'), 'utf8')).trimEnd().split('\n');
  assert.ok(lines.length <= 2 * 3 + 2, `log has ${lines.length} lines`);
  assert.equal((await store.addBatch('site1', makeBatch('b-10'))).duplicate, true, 'recent ids are remembered');
  const again = await open(dir, { maxSeenIds: 3, maxWindowsPerSite: 1 });
  assert.equal((await again.addBatch('site1', makeBatch('b-1', { n: 1 }))).duplicate, false, 'the oldest ids were forgotten');
  assert.deepEqual((await again.read('site1')).seq, [11], 'the sequence still continues');
});

test('site ids of any characters map to safe directories and come back after a restart', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir);
  const sites = ['..', '.', '../escape', 'a/b', 'Zürich Süd', 'x%41'];
  for (const s of sites) await store.addBatch(s, makeBatch('b-1'));
  const dirs = await fs.readdir(path.join(dir, 'sites'));
  assert.equal(dirs.length, sites.length);
  assert.ok(dirs.every((d) => /^[A-Za-z0-9_%-]+$/.test(d)), dirs.join(' '));
  const again = await open(dir);
  assert.deepEqual(again.sites(), [...sites].sort());
  for (const s of sites) assert.equal(again.count(s), 2, s);
});

test('invalid options are CONFIG_INVALID', async (t) => {
  const dir = await tempDir(t);
  for (const o of [{ maxWindowsPerSite: 0 }, { maxBytesTotal: -1 }, { maxSeenIds: 1.5 }]) {
    await assert.rejects(open(dir, o), (e) => isSitekdError(e, ErrorCode.CONFIG_INVALID), JSON.stringify(o));
  }
});
