/**
 * The sample store's pack files (hub/store/sample-packs.ts): a state dir of an older store (one segment file per
 * batch) still loads and takes new batches in packs; a corrupt or truncated pack loses only what cannot be read, once;
 * a leftover temporary pack is removed; batches evicted from a pack stay evicted across a restart, and a pack whose
 * batches are all gone is deleted; packs a few live batches pin are compacted once the files exceed twice the live
 * bytes (not before; an older store's segment files do not count as live bytes of packs), and a compaction cut short
 * opens with one copy of each batch.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { test } from 'node:test';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { DurableWriter, type DurableRequest } from '../../hub/store/durable-writer';
import { SampleStore } from '../../hub/store/sample-store';
import { clock, makeBatch, open, packFiles, tempDir, toSegmentFiles } from '../helpers/sample-store-fixtures';

/** One pack holding b-0 … b-(n-1) of site1 (the first batch alone would be a pack of its own). */
async function onePack(dir: string, n: number): Promise<string> {
  const store = await open(dir);
  await Promise.all(Array.from({ length: n }, (_, i) => store.addBatch('site1', makeBatch(`b-${i}`))));
  await store.close();
  const packs = await packFiles(dir);
  return path.join(dir, 'packs', packs.at(-1) as string);
}

test('an older store of segment files loads, takes new batches in packs, and knows both after a restart', async (t) => {
  const dir = await tempDir(t);
  const old = await open(dir);
  for (const id of ['s-1', 's-2']) await old.addBatch('site1', makeBatch(id));
  await old.close();
  await toSegmentFiles(dir);
  assert.deepEqual((await fs.readdir(path.join(dir, 'sites', 'site1'))).sort(), ['000000000001.seg', '000000000003.seg', 'meta.json']);
  const store = await open(dir);
  assert.deepEqual(await store.addBatch('site1', makeBatch('s-1')), { stored: 0, duplicate: true });
  assert.deepEqual(await store.addBatch('site1', makeBatch('p-1')), { stored: 2, duplicate: false });
  assert.equal((await packFiles(dir)).length, 1);
  const again = await open(dir);
  assert.deepEqual((await again.read('site1')).batchIds, ['s-1', 's-1', 's-2', 's-2', 'p-1', 'p-1']);
  assert.deepEqual((await again.read('site1')).seq, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(again.quarantined(), []);
});

test('a corrupt batch in a pack is quarantined alone, once; a truncated pack keeps what precedes the cut', async (t) => {
  const dir = await tempDir(t);
  const file = await onePack(dir, 4);
  const bytes = await fs.readFile(file);
  const frame = 4 + bytes.readUInt32LE(0); // the first batch's frame
  bytes[frame - 40] = (bytes[frame - 40] as number) ^ 0xff; // in the first batch's payload
  await fs.writeFile(file, bytes.subarray(0, bytes.length - 10)); // and the last batch cut short
  await fs.writeFile(`${file}.tmp`, 'a pack being written when the hub stopped');
  const store = await open(dir);
  assert.deepEqual((await store.read('site1')).batchIds, ['b-1', 'b-1', 'b-2', 'b-2']);
  const bad = store.quarantined();
  assert.deepEqual(bad.map((b) => b.code), [ErrorCode.STORE_CORRUPT, ErrorCode.STORE_CORRUPT]);
  assert.match(bad.map((b) => b.reason).join(' | '), /framing broken.*\| sha256 mismatch/);
  const names = await fs.readdir(path.join(dir, 'packs'));
  assert.equal(names.filter((n) => n.endsWith('.bad')).length, 2, 'copies kept for inspection');
  assert.ok(!names.some((n) => n.endsWith('.tmp')), 'a leftover temporary pack is removed');
  const again = await open(dir);
  assert.deepEqual(again.quarantined(), [], 'what was quarantined is not judged again');
  assert.equal(again.count('site1'), 4);
});

test('a packed batch corrupted after open is quarantined when read and left out', async (t) => {
  const dir = await tempDir(t);
  const file = await onePack(dir, 3);
  const store = await open(dir);
  const bytes = await fs.readFile(file);
  bytes[bytes.length - 50] = (bytes[bytes.length - 50] as number) ^ 0xff; // the last batch
  await fs.writeFile(file, bytes);
  assert.deepEqual((await store.read('site1')).batchIds, ['b-0', 'b-0', 'b-1', 'b-1']);
  assert.equal(store.stats().quarantined, 1);
  assert.equal((await open(dir)).count('site1'), 4, 'its tombstone outlives a restart');
});

test('batches evicted from a pack stay evicted after a restart; a pack with none left is deleted', async (t) => {
  const dir = await tempDir(t);
  await onePack(dir, 3); // b-0 alone, then b-1, b-2 in one pack
  const store = await open(dir, { maxWindowsPerSite: 4 });
  assert.equal(store.count('site1'), 4);
  assert.equal((await packFiles(dir)).length, 1, "b-0's pack was deleted: nothing of it was left");
  await store.addBatch('site1', makeBatch('b-3'));
  assert.deepEqual((await store.read('site1')).batchIds, ['b-2', 'b-2', 'b-3', 'b-3']);
  const again = await open(dir, { maxWindowsPerSite: 100 });
  assert.deepEqual((await again.read('site1')).batchIds, ['b-2', 'b-2', 'b-3', 'b-3'], 'b-1 stays evicted though the cap was raised');
  assert.deepEqual(await again.addBatch('site1', makeBatch('b-1')), { stored: 0, duplicate: true });
});

/** Bytes of the store's pack files on disk. */
async function packBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await packFiles(dir)) total += (await fs.stat(path.join(dir, 'packs', f))).size;
  return total;
}

/** Fault injection: a disk that refuses every write but a group commit's (pack and seen log together). */
class CompactionFails extends DurableWriter {
  override run(job: DurableRequest): Promise<void> {
    if (job.append === undefined) return Promise.reject(new SitekdError(ErrorCode.STORE_WRITE, 'disk full (injected)'));
    return super.run(job);
  }
}

/** Thirty groups, each one batch of a quiet site and ten of a busy one; each site keeps its last four batches. */
async function quietAndBusy(dir: string, writer?: DurableWriter): Promise<SampleStore> {
  const store = await SampleStore.open(dir, { ...clock, maxWindowsPerSite: 8 }, writer);
  for (let g = 0; g < 30; g++) {
    // The first batch commits alone; the other nine busy ones and the quiet one share the next group's pack.
    await Promise.all([...Array.from({ length: 10 }, (_, i) => store.addBatch('busy', makeBatch(`b-${g}-${i}`))), store.addBatch('quiet', makeBatch(`q-${g}`))]);
  }
  await store.close();
  return store;
}

test('packs that few live batches pin are compacted: the pack files stay within twice the live bytes, and every batch reads back', async (t) => {
  const dir = await tempDir(t);
  await quietAndBusy(dir);
  const store = await open(dir, { maxWindowsPerSite: 8 });
  const live = store.stats().bytes;
  const disk = await packBytes(dir);
  // Without compaction each of the quiet site's last four batches keeps its group's pack (10 batches) on disk.
  assert.ok(disk <= 2 * live, `pack files ${disk} bytes for ${live} live bytes`);
  assert.equal(store.stats().diskBytes, disk, 'the store knows what its packs take on disk');
  assert.deepEqual((await store.read('quiet')).batchIds, ['q-26', 'q-26', 'q-27', 'q-27', 'q-28', 'q-28', 'q-29', 'q-29']);
  assert.deepEqual((await store.read('busy')).batchIds, ['b-29-6', 'b-29-6', 'b-29-7', 'b-29-7', 'b-29-8', 'b-29-8', 'b-29-9', 'b-29-9']);
  assert.deepEqual(store.quarantined(), []);
  assert.deepEqual(await store.addBatch('quiet', makeBatch('q-3')), { stored: 0, duplicate: true }, 'a compacted batch is still known');
});

test('a compaction stopped before deleting the old packs leaves each batch twice; the store opens with one copy, nothing quarantined', async (t) => {
  const dir = await tempDir(t);
  await quietAndBusy(dir);
  const packs = await packFiles(dir);
  // Each pack again under a name that sorts first: every batch is now on disk twice, byte for byte, as after such a stop.
  for (const [i, f] of packs.entries()) await fs.copyFile(path.join(dir, 'packs', f), path.join(dir, 'packs', `000000000000000-${String(i).padStart(8, '0')}.pack`));
  const store = await open(dir, { maxWindowsPerSite: 8 });
  assert.deepEqual(store.quarantined(), []);
  assert.deepEqual((await store.read('quiet')).batchIds, ['q-26', 'q-26', 'q-27', 'q-27', 'q-28', 'q-28', 'q-29', 'q-29']);
  assert.equal(store.count('busy'), 8);
  assert.equal((await packFiles(dir)).length, packs.length, 'the packs whose every batch was a second copy are deleted');
  const again = await open(dir, { maxWindowsPerSite: 8 });
  assert.deepEqual((await again.read('quiet')).batchIds, ['q-26', 'q-26', 'q-27', 'q-27', 'q-28', 'q-28', 'q-29', 'q-29']);
  assert.deepEqual(again.quarantined(), []);
});

test('a compaction that cannot write changes nothing: the store goes on, and the next open compacts', async (t) => {
  const dir = await tempDir(t);
  const writer = new CompactionFails();
  t.after(() => writer.close());
  const store = await quietAndBusy(dir, writer);
  assert.equal(store.stats().compactedPacks, 0);
  assert.ok(store.stats().diskBytes > 4 * store.stats().bytes, 'the sparse packs are all still there');
  assert.deepEqual(store.quarantined(), []);
  const again = await open(dir, { maxWindowsPerSite: 8 });
  assert.ok(again.stats().compactedPacks > 0);
  assert.ok(again.stats().diskBytes <= 2 * again.stats().bytes);
  assert.deepEqual((await again.read('quiet')).batchIds, ['q-26', 'q-26', 'q-27', 'q-27', 'q-28', 'q-28', 'q-29', 'q-29']);
  assert.equal(again.count('busy'), 8);
});

test('a mostly dead pack is left alone while the pack files stay within twice the live bytes', async (t) => {
  const dir = await tempDir(t);
  const store = await open(dir, { maxWindowsPerSite: 20 });
  // The first busy batch commits alone; four more and the quiet one share a pack.
  await Promise.all([...Array.from({ length: 5 }, (_, i) => store.addBatch('busy', makeBatch(`b-${i}`))), store.addBatch('quiet', makeBatch('q-0'))]);
  const sizes = await Promise.all((await packFiles(dir)).map(async (f) => ({ f, size: (await fs.stat(path.join(dir, 'packs', f))).size })));
  const shared = sizes.sort((a, b) => b.size - a.size)[0]?.f; // the clock is fixed, so names do not tell the order
  for (let i = 5; i < 17; i++) await store.addBatch('busy', makeBatch(`b-${i}`)); // one pack each; b-0 … b-6 are evicted
  assert.ok(shared !== undefined && (await packFiles(dir)).includes(shared), 'the shared pack, one of its five batches live, is still there');
  assert.ok(store.stats().diskBytes <= 2 * store.stats().bytes);
  assert.equal(store.stats().compactedPacks, 0);
});

test("an older store's segment files do not hide sparse packs: compaction compares the packs with the batches in them", async (t) => {
  const dir = await tempDir(t);
  // An older hub's site of long windows: its four batches, as segment files, outweigh everything packed below.
  const old = await open(dir, { maxWindowsPerSite: 8 });
  for (let i = 0; i < 4; i++) await old.addBatch('old', makeBatch(`o-${i}`, { windowLength: 4000 }));
  await old.close();
  await toSegmentFiles(dir);
  await quietAndBusy(dir);
  const store = await open(dir, { maxWindowsPerSite: 8 });
  const site = path.join(dir, 'sites', 'old');
  let segmentBytes = 0;
  for (const f of (await fs.readdir(site)).filter((f) => f.endsWith('.seg'))) segmentBytes += (await fs.stat(path.join(site, f))).size;
  assert.equal(store.count('old'), 8);
  const packed = store.stats().bytes - segmentBytes;
  // Counted as live bytes of packs, the segment files would allow the sparse packs (5.6 times theirs, above) to stay.
  assert.ok(segmentBytes > 5 * packed, `segment files ${segmentBytes} bytes, packed batches ${packed}`);
  const disk = await packBytes(dir);
  assert.ok(disk <= 2 * packed, `pack files ${disk} bytes for ${packed} live bytes in packs`);
  assert.equal(store.stats().diskBytes, disk + segmentBytes);
  assert.deepEqual((await store.read('quiet')).batchIds, ['q-26', 'q-26', 'q-27', 'q-27', 'q-28', 'q-28', 'q-29', 'q-29']);
});
