import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { ErrorCode, SitekdError, type ErrorCode as ErrorCodeT } from '../../shared/errors';
import type { NamedWeights } from '../../shared/ml/types';
import { createRng } from '../../shared/random';
import {
  artifactDigest,
  decodeArtifact,
  encodeArtifact,
  type ModelArtifact,
} from '../../shared/artifact/model-artifact';
import { readArtifactFile, writeArtifactFile } from '../../shared/artifact/artifact-file';

const F32_MAX = 3.4028234663852886e38;
const SPECIAL = [0, -0, 1e-45, -1e-45, 1e-40, 1.17549435e-38, 1e-38, F32_MAX, -F32_MAX, 1, -1, Math.PI];

function randomWeights(seed: number, shapes: Record<string, number[]>): NamedWeights {
  const rng = createRng(seed);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.normal() * 0.1;
    out[name] = { shape, data };
  }
  return out;
}

function makeArtifact(overrides: Partial<ModelArtifact> = {}): ModelArtifact {
  // Names deliberately out of alphabetical order, to prove order is preserved.
  const weights = randomWeights(1, {
    'fe.conv1.w': [5, 3, 8],
    'fe.bn1.runningVar': [8],
    'fe.bn1.gamma': [8],
    'clf.w': [8, 4],
    'clf.b': [4],
    'a.scalar': [],
  });
  const special = weights['fe.bn1.runningVar'];
  assert.ok(special !== undefined);
  special.data.set(SPECIAL.slice(0, 8));
  return {
    kind: 'student',
    version: 's-2-11-abc123',
    createdAt: '2026-05-01T12:00:00.000Z',
    spec: { channels: 3, windowLength: 128, classes: 4, widths: [8, 16] },
    algorithm: 'unikd',
    options: { useAdversarial: true, adapter: 'linear' },
    hparams: { lr: 0.001, tau: 2, optimizer: 'adam', gradClip: false },
    teacherVersion: 't-1',
    source: '2',
    target: '11',
    seed: 0,
    backend: 'cpu',
    metrics: { macroF1: 0.81, accuracy: 0.86 },
    weights,
    ...overrides,
  };
}

function bytesOf(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function assertCode(fn: () => unknown, codes: readonly ErrorCodeT[]): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SitekdError, `expected SitekdError, got ${String(err)}`);
    assert.ok(codes.includes(err.code), `unexpected code ${err.code}`);
    return;
  }
  assert.fail('expected a SitekdError');
}

function hasCode(code: ErrorCodeT): (e: unknown) => boolean {
  return (e) => e instanceof SitekdError && e.code === code;
}

// Builds a correctly checksummed envelope around an arbitrary body, to reach the body checks.
const rawPackr = new Packr({ useRecords: false });
function seal(body: unknown): Uint8Array {
  const bodyBytes = new Uint8Array(rawPackr.pack(body));
  const sha256 = createHash('sha256').update(bodyBytes).digest('hex');
  return new Uint8Array(rawPackr.pack({ format: 'sitekd-model', formatVersion: 1, sha256, body: bodyBytes }));
}
function wireBody(weight: { name: string; shape: number[]; data: Float32Array }): Record<string, unknown> {
  const a = makeArtifact();
  return {
    kind: a.kind, version: a.version, createdAt: a.createdAt, spec: a.spec, algorithm: a.algorithm,
    options: a.options, hparams: a.hparams, metrics: a.metrics,
    weights: [{ name: weight.name, dtype: 'float32', shape: weight.shape, data: new Uint8Array(weight.data.buffer) }],
  };
}

test('round-trips every field and every weight bit for bit', () => {
  const a = makeArtifact();
  const d = decodeArtifact(encodeArtifact(a));
  const { weights: dw, format, formatVersion, sha256, ...rest } = d;
  const { weights: aw, ...expected } = a;
  assert.deepEqual(rest, expected);
  assert.equal(format, 'sitekd-model');
  assert.equal(formatVersion, 1);
  assert.match(sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(Object.keys(dw), Object.keys(aw));
  for (const [name, t] of Object.entries(aw)) {
    const got = dw[name];
    assert.ok(got !== undefined);
    assert.ok(got.data instanceof Float32Array);
    assert.equal(got.data.byteOffset % 4, 0);
    assert.deepEqual([...got.shape], [...t.shape]);
    assert.ok(bytesOf(got.data).equals(bytesOf(t.data)), `weight ${name} differs`);
  }
  // -0 survives (deepEqual on numbers would not notice).
  assert.ok(Object.is(dw['fe.bn1.runningVar']?.data[1], -0));
});

test('keeps the weight order, omits absent optionals, and re-encodes to identical bytes', () => {
  const a = makeArtifact({ teacherVersion: undefined, seed: undefined });
  const bytes = encodeArtifact(a);
  const d = decodeArtifact(bytes);
  assert.deepEqual(Object.keys(d.weights), ['fe.conv1.w', 'fe.bn1.runningVar', 'fe.bn1.gamma', 'clf.w', 'clf.b', 'a.scalar']);
  assert.equal('teacherVersion' in d, false);
  assert.equal('seed' in d, false);
  assert.ok(Buffer.from(encodeArtifact(d)).equals(Buffer.from(bytes)));
});

test('encodes weight views with a non-zero byte offset correctly', () => {
  const backing = new Float32Array([9, 1, 2, 3, 9]);
  const a = makeArtifact({ weights: { 'x.w': { shape: [3], data: backing.subarray(1, 4) } } });
  assert.deepEqual([...(decodeArtifact(encodeArtifact(a)).weights['x.w']?.data ?? [])], [1, 2, 3]);
});

test('artifactDigest is the sha256 of the body and matches the decoded sha256', () => {
  const bytes = encodeArtifact(makeArtifact());
  const env = rawPackr.unpack(bytes) as { body: Uint8Array; sha256: string };
  assert.equal(artifactDigest(bytes), createHash('sha256').update(env.body).digest('hex'));
  assert.equal(artifactDigest(bytes), decodeArtifact(bytes).sha256);
  assert.notEqual(artifactDigest(encodeArtifact(makeArtifact({ version: 'other' }))), artifactDigest(bytes));
});

test('rejects every truncated prefix with MODEL_CORRUPT', () => {
  const bytes = encodeArtifact(makeArtifact());
  for (let k = 0; k < 7; k++) {
    const prefix = bytes.subarray(0, Math.floor((bytes.length * k) / 7));
    assertCode(() => decodeArtifact(prefix), [ErrorCode.MODEL_CORRUPT]);
  }
  assertCode(() => decodeArtifact(bytes.subarray(0, bytes.length - 1)), [ErrorCode.MODEL_CORRUPT]);
});

test('a flipped byte in the weights is MODEL_CHECKSUM', () => {
  const bytes = encodeArtifact(makeArtifact());
  const bad = bytes.slice();
  bad[bad.length - 40] = (bad[bad.length - 40] ?? 0) ^ 0x01;
  assertCode(() => decodeArtifact(bad), [ErrorCode.MODEL_CHECKSUM]);
  assertCode(() => artifactDigest(bad), [ErrorCode.MODEL_CHECKSUM]);
});

test('a flipped byte anywhere is MODEL_CHECKSUM or MODEL_CORRUPT, never anything else', () => {
  const bytes = encodeArtifact(makeArtifact());
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const bad = bytes.slice();
      bad[i] = (bad[i] ?? 0) ^ mask;
      assertCode(() => decodeArtifact(bad), [ErrorCode.MODEL_CHECKSUM, ErrorCode.MODEL_CORRUPT]);
    }
  }
});

test('random bytes are MODEL_CORRUPT', () => {
  const rng = createRng(42);
  for (let i = 0; i < 300; i++) {
    const junk = new Uint8Array(rng.int(2000));
    for (let j = 0; j < junk.length; j++) junk[j] = rng.int(256);
    assertCode(() => decodeArtifact(junk), [ErrorCode.MODEL_CORRUPT]);
  }
  assertCode(() => decodeArtifact(new Uint8Array(rawPackr.pack(42))), [ErrorCode.MODEL_CORRUPT]);
  assertCode(() => decodeArtifact(new Uint8Array(rawPackr.pack(null))), [ErrorCode.MODEL_CORRUPT]);
});

test('a body that is not an artifact is MODEL_CORRUPT with the zod issues in details', () => {
  try {
    decodeArtifact(seal({ hello: 'world' }));
    assert.fail('expected a throw');
  } catch (err) {
    assert.ok(err instanceof SitekdError);
    assert.equal(err.code, ErrorCode.MODEL_CORRUPT);
    assert.ok(Array.isArray(err.details?.['issues']));
  }
  assertCode(() => decodeArtifact(seal(new Uint8Array(8))), [ErrorCode.MODEL_CORRUPT]);
});

test('an unknown formatVersion is MODEL_CORRUPT', () => {
  const env = rawPackr.unpack(encodeArtifact(makeArtifact())) as Record<string, unknown>;
  assertCode(() => decodeArtifact(new Uint8Array(rawPackr.pack({ ...env, formatVersion: 2 }))), [ErrorCode.MODEL_CORRUPT]);
});

test('NaN or Infinity in a weight is MODEL_CORRUPT, on decode and on encode', () => {
  for (const v of [Number.NaN, Number.POSITIVE_INFINITY]) {
    const data = new Float32Array([1, v, 3]);
    assertCode(() => decodeArtifact(seal(wireBody({ name: 'x.w', shape: [3], data }))), [ErrorCode.MODEL_CORRUPT]);
    const a = makeArtifact({ weights: { 'x.w': { shape: [3], data } } });
    assertCode(() => encodeArtifact(a), [ErrorCode.MODEL_CORRUPT]);
  }
});

test('shape/data mismatch is MODEL_CORRUPT, on decode and on encode', () => {
  const data = new Float32Array([1, 2, 3]);
  assertCode(() => decodeArtifact(seal(wireBody({ name: 'x.w', shape: [2, 2], data }))), [ErrorCode.MODEL_CORRUPT]);
  assertCode(() => encodeArtifact(makeArtifact({ weights: { 'x.w': { shape: [2, 2], data } } })), [ErrorCode.MODEL_CORRUPT]);
});

test('a spec rejected by the caller schema is MODEL_SPEC_INVALID; an accepted one is typed', () => {
  const bytes = encodeArtifact(makeArtifact());
  const Good = z.object({ channels: z.number().int(), classes: z.number().int() });
  const d = decodeArtifact(bytes, { specSchema: Good });
  const channels: number = d.spec.channels;
  assert.equal(channels, 3);
  const Bad = z.strictObject({ channels: z.literal(6) });
  assertCode(() => decodeArtifact(bytes, { specSchema: Bad }), [ErrorCode.MODEL_SPEC_INVALID]);
});

test('a 14k-parameter model encodes to under 80 kB', () => {
  const weights = randomWeights(7, {
    'fe.conv1.w': [8, 3, 32], 'fe.conv1.b': [32],
    'fe.bn1.gamma': [32], 'fe.bn1.beta': [32], 'fe.bn1.runningMean': [32], 'fe.bn1.runningVar': [32],
    'fe.conv2.w': [5, 32, 64],
    'fe.bn2.gamma': [64], 'fe.bn2.beta': [64], 'fe.bn2.runningMean': [64], 'fe.bn2.runningVar': [64],
    'clf.w': [64, 40], 'clf.b': [40],
  });
  const params = Object.values(weights).reduce((n, t) => n + t.data.length, 0);
  assert.ok(params >= 14_000, `only ${params} params`);
  const size = encodeArtifact(makeArtifact({ weights })).byteLength;
  assert.ok(size < 80_000, `${size} bytes`);
});

test('file write/read round-trips atomically; missing file is MODEL_LOAD', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sitekd-artifact-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'student.skm');
  const a = makeArtifact();
  const sha = await writeArtifactFile(path, a);
  assert.deepEqual(await readdir(dir), ['student.skm']); // no tmp file left behind
  const d = await readArtifactFile(path);
  assert.equal(d.sha256, sha);
  const [got, want] = [d.weights['fe.conv1.w'], a.weights['fe.conv1.w']];
  assert.ok(got !== undefined && want !== undefined && bytesOf(got.data).equals(bytesOf(want.data)));
  // Overwrite in place.
  const sha2 = await writeArtifactFile(path, makeArtifact({ version: 'v2' }));
  assert.equal((await readArtifactFile(path)).version, 'v2');
  assert.notEqual(sha2, sha);

  await assert.rejects(readArtifactFile(join(dir, 'missing.skm')), hasCode(ErrorCode.MODEL_LOAD));
  await writeFile(join(dir, 'junk.skm'), 'not a model');
  await assert.rejects(readArtifactFile(join(dir, 'junk.skm')), hasCode(ErrorCode.MODEL_CORRUPT));
  await assert.rejects(writeArtifactFile(join(dir, 'no', 'such', 'dir.skm'), a), hasCode(ErrorCode.MODEL_WRITE));
});
