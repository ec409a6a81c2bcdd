import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { sha256Hex } from '../../shared/protocol/chunks';
import { silentLogger } from '../../shared/log';
import { ModelStore } from '../../agent/model-store';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-model-store-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = (): string => path.join(root, `store-${++dirs}`);
const open = (dir: string): Promise<ModelStore> => ModelStore.open({ dir, now: () => 42, log: silentLogger });
const art = (fill: number, n = 1000): Uint8Array => new Uint8Array(n).fill(fill);
const meta = (version: string, bytes: Uint8Array, createdAt: number | null = 1) => ({ version, sha256: sha256Hex(bytes), createdAt, source: 'hub' as const });
const skm = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.skm')).sort();

test('swap makes the new model active and keeps the old one as previous; a reopen sees the same', async () => {
  const dir = freshDir();
  const store = await open(dir);
  assert.equal(store.active?.version ?? null, null);
  await store.swap(art(1), meta('v1', art(1)));
  await store.swap(art(2), meta('v2', art(2)));
  assert.equal(store.active?.version, 'v2');
  assert.equal(store.previous?.version, 'v1');
  await store.swap(art(3), meta('v3', art(3)));
  assert.equal(store.previous?.version, 'v2');
  assert.equal(skm(dir).length, 2, 'only active and previous are kept');
  const again = await open(dir);
  assert.equal(again.active?.version, 'v3');
  assert.deepEqual([...(await again.read(again.active!))], [...art(3)]);
  assert.deepEqual([...(await again.read(again.previous!))], [...art(2)]);
});

test('rollback restores the pointer exactly and removes the new file', async () => {
  const dir = freshDir();
  const store = await open(dir);
  await store.swap(art(1), meta('v1', art(1)));
  await store.swap(art(2), meta('v2', art(2)));
  const token = await store.swap(art(3), meta('v3', art(3)));
  await store.rollback(token);
  assert.equal(store.active?.version, 'v2');
  assert.equal(store.previous?.version, 'v1');
  assert.equal(skm(dir).some((f) => f.startsWith('v3-')), false);
  assert.equal((await open(dir)).active?.version, 'v2');
});

test('a damaged stored file fails its sha256 check; demoting makes the previous model active', async () => {
  const dir = freshDir();
  const store = await open(dir);
  await store.swap(art(1), meta('v1', art(1)));
  await store.swap(art(2), meta('v2', art(2)));
  fs.writeFileSync(path.join(dir, store.active!.file), art(9));
  await assert.rejects(store.read(store.active!), (e: unknown) => isSitekdError(e, ErrorCode.MODEL_CHECKSUM));
  assert.equal((await store.demoteActive('test'))?.version, 'v1');
  assert.equal(store.previous, null);
  assert.deepEqual([...(await store.read(store.active!))], [...art(1)]);
});

test('a damaged pointer is set aside and the store starts empty; stray temp files are removed', async () => {
  const dir = freshDir();
  const store = await open(dir);
  await store.swap(art(1), meta('v1', art(1)));
  fs.writeFileSync(path.join(dir, 'current.json'), '{"formatVersion":1,"active":');
  fs.writeFileSync(path.join(dir, 'x.skm.tmp-123'), 'partial');
  const again = await open(dir);
  assert.equal(again.active?.version ?? null, null);
  assert.ok(fs.existsSync(path.join(dir, 'current.json.bad')));
  assert.equal(fs.existsSync(path.join(dir, 'x.skm.tmp-123')), false);
});

test('staging keeps chunks per transfer across a reopen; pruning removes other transfers', async () => {
  const dir = freshDir();
  const store = await open(dir);
  const a = store.staging('v2', 'a'.repeat(64));
  await a.put(0, art(5, 10));
  await a.put(3, art(6, 10));
  const old = store.staging('v1', 'b'.repeat(64));
  await old.put(0, art(7, 10));
  const again = await open(dir);
  const resumed = again.staging('v2', 'a'.repeat(64));
  assert.deepEqual((await resumed.load()).map((c) => [c.index, c.bytes[0]]), [[0, 5], [3, 6]]);
  await again.pruneStaging(resumed);
  assert.deepEqual(await again.staging('v1', 'b'.repeat(64)).load(), []);
  await resumed.discard(0);
  assert.deepEqual((await resumed.load()).map((c) => c.index), [3]);
  await resumed.remove();
  assert.deepEqual(await resumed.load(), []);
});

test('the newest signed manifest time survives swaps back to older models, demotion and a reopen', async () => {
  const dir = freshDir();
  const store = await open(dir);
  assert.equal(store.newestSignedAt, null);
  await store.swap(art(1), meta('v1', art(1), 100));
  await store.swap(art(2), meta('v2', art(2), 300));
  await store.swap(art(1), meta('v1', art(1), 200)); // an older signed time (e.g. a file install later) never lowers it
  assert.equal(store.newestSignedAt, 300);
  await store.swap(art(4), meta('v4', art(4), null));
  assert.equal(store.newestSignedAt, 300, 'a local file install has no signed time');
  await store.noteSigned(250);
  assert.equal(store.newestSignedAt, 300);
  await store.noteSigned(400);
  await store.demoteActive('test');
  assert.equal((await open(dir)).newestSignedAt, 400);
});
