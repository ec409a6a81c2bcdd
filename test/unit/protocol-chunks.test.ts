import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { ChunkAssembler, DEFAULT_CHUNK_SIZE, maxChunkSize, sha256Hex, splitChunks } from '../../shared/protocol/chunks';
import { modelChunkTopic } from '../../shared/protocol/topics';
import { createRng } from '../../shared/random';

function randomBytes(seed: number, n: number): Uint8Array {
  const rng = createRng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(256);
  return out;
}

function setup(size = 10_000, chunkSize = 1024, seed = 1) {
  const model = randomBytes(seed, size);
  const split = splitChunks(model, chunkSize);
  const asm = new ChunkAssembler({ sha256: split.sha256, size: split.size, chunkSize, chunks: split.chunks.length, chunkSha256: [...split.chunkSha256] });
  return { model, split, asm };
}

test('splitChunks cuts into ⌈size/chunkSize⌉ views with per-chunk hashes', () => {
  const { model, split } = setup(10_000, 1024);
  assert.equal(split.chunks.length, 10);
  assert.equal(split.chunks[9]?.length, 10_000 - 9 * 1024);
  assert.equal(split.sha256, sha256Hex(model));
  split.chunks.forEach((c, i) => assert.equal(split.chunkSha256[i], sha256Hex(c)));
  assert.equal(splitChunks(model, 10_000).chunks.length, 1);
  assert.equal(splitChunks(model, 20_000).chunks.length, 1);
  assert.equal(splitChunks(model, 5000).chunks.length, 2);
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => splitChunks(model, bad), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
  assert.throws(() => splitChunks(new Uint8Array(0), 10), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
  assert.throws(() => splitChunks(new Uint8Array(70_000), 1), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
});

test('chunks in shuffled order with duplicates assemble to the original bytes', () => {
  const { model, split, asm } = setup();
  const rng = createRng(9);
  const order = [...rng.permutation(split.chunks.length), 3, 0, 9];
  for (const i of order) asm.add(i, split.chunks[i] as Uint8Array);
  assert.equal(asm.stored, 10);
  assert.equal(asm.duplicates, 3);
  assert.equal(asm.rejected, 0);
  assert.ok(asm.isComplete());
  const r = asm.assemble();
  assert.ok(r.ok);
  assert.deepEqual(Buffer.from(r.value), Buffer.from(model));
});

test('a corrupted chunk is rejected, counted and not stored; the good copy still completes the transfer', () => {
  const { model, split, asm } = setup();
  for (let i = 0; i < 10; i++) if (i !== 4) asm.add(i, split.chunks[i] as Uint8Array);
  const bad = (split.chunks[4] as Uint8Array).slice();
  bad[100] = (bad[100] as number) ^ 1;
  const res = asm.add(4, bad);
  assert.equal(res.status, 'rejected');
  assert.ok(res.status === 'rejected' && res.error.code === ErrorCode.MODEL_CHECKSUM && res.error.details?.reason === 'sha256');
  assert.equal(asm.rejected, 1);
  assert.equal(asm.has(4), false);
  assert.deepEqual(asm.missing(), [4]);
  assert.equal(asm.add(4, split.chunks[4] as Uint8Array).status, 'stored');
  const r = asm.assemble();
  assert.ok(r.ok && Buffer.from(r.value).equals(Buffer.from(model)));
});

test('truncated, empty, oversized and out-of-range chunks are rejected by size or index', () => {
  const { split, asm } = setup();
  const c0 = split.chunks[0] as Uint8Array;
  const cases: Array<[number, Uint8Array, string]> = [
    [0, c0.subarray(0, 1000), 'size'],
    [0, new Uint8Array(0), 'size'], // an empty retained message clears a chunk topic: never a chunk
    [9, c0, 'size'], // the last chunk is shorter
    [10, c0, 'index'],
    [-1, c0, 'index'],
    [1.5, c0, 'index'],
  ];
  for (const [i, bytes, reason] of cases) {
    const r = asm.add(i, bytes);
    assert.ok(r.status === 'rejected' && r.error.details?.reason === reason, `${i}/${bytes.length}`);
  }
  assert.equal(asm.rejected, cases.length);
  assert.equal(asm.stored, 0);
});

test('assemble reports the missing chunks of a cut transfer, and a resumed assembler finishes it', () => {
  const { model, split, asm } = setup();
  for (const i of [0, 1, 2, 7]) asm.add(i, split.chunks[i] as Uint8Array);
  const r = asm.assemble();
  assert.ok(!r.ok && r.error.code === ErrorCode.MODEL_CHECKSUM);
  assert.deepEqual(r.ok ? undefined : r.error.details?.missing, [3, 4, 5, 6, 8, 9]);
  // "Restart": a new assembler re-checks what was saved, then only the missing chunks are fetched.
  const resumed = new ChunkAssembler(asm.plan);
  for (const i of [0, 1, 2, 7]) assert.equal(resumed.add(i, split.chunks[i] as Uint8Array).status, 'stored');
  for (const i of resumed.missing()) resumed.add(i, split.chunks[i] as Uint8Array);
  const done = resumed.assemble();
  assert.ok(done.ok && Buffer.from(done.value).equals(Buffer.from(model)));
});

test('stored chunks are copies: reusing the message buffer does not corrupt the model', () => {
  const { model, split, asm } = setup(3000, 1000);
  const scratch = new Uint8Array(1000);
  for (let i = 0; i < 3; i++) {
    scratch.set(split.chunks[i] as Uint8Array);
    asm.add(i, scratch);
  }
  scratch.fill(0);
  const r = asm.assemble();
  assert.ok(r.ok && Buffer.from(r.value).equals(Buffer.from(model)));
});

test('a manifest whose chunk hashes agree but whole hash or size does not is refused at assembly', () => {
  const { split } = setup(3000, 1000);
  const plan = { sha256: 'f'.repeat(64), size: 3000, chunkSize: 1000, chunks: 3, chunkSha256: [...split.chunkSha256] };
  const asm = new ChunkAssembler(plan);
  split.chunks.forEach((c, i) => asm.add(i, c));
  const r = asm.assemble();
  assert.ok(!r.ok && r.error.code === ErrorCode.MODEL_CHECKSUM && r.error.details?.reason === 'sha256');
  assert.throws(() => new ChunkAssembler({ ...plan, chunks: 2 }), (e: unknown) => isSitekdError(e, ErrorCode.MSG_SCHEMA));
  assert.throws(() => new ChunkAssembler({ ...plan, chunkSha256: plan.chunkSha256.slice(1) }), (e: unknown) => isSitekdError(e, ErrorCode.MSG_SCHEMA));
});

test('maxChunkSize leaves room for the PUBLISH header and topic, and refuses impossible limits', () => {
  const topic = modelChunkTopic('site-a', 's-1-0002', 65_535);
  const size = maxChunkSize(200_000, topic.length);
  assert.ok(size < 200_000 - topic.length - 9 && size > 199_000, String(size));
  // MQTT 3.1.1 PUBLISH, QoS 1: 1 + remaining-length (3 bytes here) + 2 + topic + 2 + payload.
  const remaining = 2 + topic.length + 2 + size;
  assert.ok(1 + 3 + remaining <= 200_000);
  assert.ok(maxChunkSize(undefined, topic.length) > DEFAULT_CHUNK_SIZE);
  for (const [limit, len] of [[100, topic.length], [0, 10], [1.5, 10], [1000, 0], [Number.NaN, 10]] as const) {
    assert.throws(() => maxChunkSize(limit, len), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID), `${limit}/${len}`);
  }
});
