import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { bytesToF32, decode, encode, f32ToBytes, firstNonFiniteF32 } from '../../shared/protocol/codec';
import { EXAMPLES, makeAgentStatus, makeHubStatus, makeSampleBatch, makeSensorReading } from '../../shared/protocol/examples';
import * as messages from '../../shared/protocol/messages';
import {
  AgentStatusSchema,
  HubCommandSchema,
  HubStatusSchema,
  PredictionSchema,
  readingValues,
  SampleBatchSchema,
  SensorReadingSchema,
} from '../../shared/protocol/messages';

/** Buffers (what msgpackr decodes `bin` to) compared as plain bytes, recursively. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function schemaOf(name: string): import('zod').ZodType {
  const s = (messages as Record<string, unknown>)[`${name}Schema`];
  assert.ok(s !== undefined, `${name}Schema`);
  return s as import('zod').ZodType;
}

test('every example message round-trips through encode and decode unchanged', () => {
  for (const [name, make] of Object.entries(EXAMPLES)) {
    const value = make();
    const r = decode(schemaOf(name), encode(value));
    assert.ok(r.ok, `${name}: ${r.ok ? '' : r.error.message}`);
    assert.deepEqual(plain(r.value), plain(value), name);
  }
  // Both arms of the unions.
  for (const [schema, v] of [
    [AgentStatusSchema, { state: 'offline' }],
    [AgentStatusSchema, { state: 'offline', ts: 5 }],
    [HubStatusSchema, { state: 'offline' }],
  ] as const) {
    const r = decode(schema, encode(v));
    assert.ok(r.ok);
    assert.deepEqual(r.value, v);
  }
});

test('binary fields travel as msgpack bin and come back bit for bit, even at odd offsets', () => {
  const batch = makeSampleBatch({ n: 3, windowLength: 16, channels: 9, numClasses: 6 });
  const bytes = encode(batch);
  // Plain msgpack readers see a map of bins: decode with a fresh default msgpackr.
  const generic = new Packr({ useRecords: false }).unpack(bytes) as Record<string, unknown>;
  assert.ok(generic.windows instanceof Uint8Array && generic.logits instanceof Uint8Array);
  const r = decode(SampleBatchSchema, bytes);
  assert.ok(r.ok);
  const x = bytesToF32(r.value.windows);
  assert.equal(x.length, 3 * 16 * 9);
  assert.equal(x.byteOffset, 0);
  assert.deepEqual(Array.from(x), Array.from(bytesToF32(batch.windows)));
  // Channels-last layout: x[(i * L + t) * C + c] = i + t/100 + c/10.
  assert.equal(x[(2 * 16 + 5) * 9 + 4], Math.fround(2 + 0.05 + 0.4));
});

test('absent optional fields are left out, not packed as msgpackr undefined', () => {
  const bytes = encode({ id: 'c-1', cmd: 'status', site: undefined });
  assert.equal(bytes.includes(0xd4), false);
  const r = decode(HubCommandSchema, bytes);
  assert.ok(r.ok);
  assert.deepEqual(Object.keys(r.value), ['id', 'cmd']);
});

test('JSON payloads are accepted as a person types them', () => {
  const json = (s: string): Uint8Array => new TextEncoder().encode(s);
  const status = decode(HubCommandSchema, json(' \n{"id":"c-7","cmd":"redistill","site":"site-a","replyTo":"sitekd/v1/hub/reply/me"}\n'));
  assert.ok(status.ok);
  assert.equal(status.value.site, 'site-a');
  const bom = decode(SensorReadingSchema, json('\ufeff{"ts": 1700000000000, "values": [0.1, -2, 3e2]}'));
  assert.ok(bom.ok);
  assert.deepEqual(Array.from(readingValues(bom.value)), [Math.fround(0.1), -2, 300]);
  const offline = decode(AgentStatusSchema, json('{"state":"offline"}'));
  assert.ok(offline.ok);
  // A JSON payload with a binary field cannot satisfy the schema: binary needs msgpack.
  const batch = decode(SampleBatchSchema, json(JSON.stringify({ ...makeSampleBatch(), windows: 'AAAA', logits: [] })));
  assert.ok(!batch.ok && batch.error.code === ErrorCode.MSG_SCHEMA);
});

test('a sensor reading may carry its values as a number array or as float32 bin', () => {
  const asArray = makeSensorReading();
  const asBin = { ts: asArray.ts, values: f32ToBytes(Float32Array.from(asArray.values as number[])) };
  const a = decode(SensorReadingSchema, encode(asArray));
  const b = decode(SensorReadingSchema, encode(asBin));
  assert.ok(a.ok && b.ok);
  assert.deepEqual(Array.from(readingValues(a.value)), Array.from(readingValues(b.value)));
  for (const values of [new Uint8Array(0), new Uint8Array(6), new Uint8Array(4 * 1025), f32ToBytes(Float32Array.of(1, Number.NaN)), []]) {
    const r = decode(SensorReadingSchema, encode({ ts: 1, values }));
    assert.ok(!r.ok && r.error.code === ErrorCode.MSG_SCHEMA, `${values.length}`);
  }
});

test('f32ToBytes writes little-endian; bytesToF32 copies into an aligned array', () => {
  const values = Float32Array.of(1, -2.5, 3.4028234663852886e38, 1e-45, -0);
  const bytes = f32ToBytes(values);
  assert.deepEqual(Array.from(bytes.subarray(0, 4)), [0x00, 0x00, 0x80, 0x3f]); // 1.0f LE
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const back = bytesToF32(shifted.subarray(1));
  assert.deepEqual(Array.from(back), Array.from(values));
  assert.ok(Object.is(back[4], -0));
  assert.throws(() => bytesToF32(new Uint8Array(5)), (e: unknown) => isSitekdError(e, ErrorCode.MSG_SCHEMA));
  assert.equal(bytesToF32(new Uint8Array(0)).length, 0);
});

test('firstNonFiniteF32 finds NaN and infinities at any alignment and passes every finite value', () => {
  const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (const s of specials) {
    const bytes = f32ToBytes(Float32Array.of(0, 1, s, 2));
    const odd = new Uint8Array(bytes.length + 3);
    odd.set(bytes, 3);
    assert.equal(firstNonFiniteF32(bytes), 2);
    assert.equal(firstNonFiniteF32(odd.subarray(3)), 2);
  }
  const finite = Float32Array.of(3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45, 0, -0, 1.17549435e-38);
  assert.equal(firstNonFiniteF32(f32ToBytes(finite)), -1);
  // A NaN with a payload, written by hand: exponent all ones, mantissa non-zero.
  assert.equal(firstNonFiniteF32(Uint8Array.of(0x01, 0x00, 0x80, 0xff)), 0);
});

test('decode keeps the issue list but not the offending values', () => {
  const r = decode(PredictionSchema, encode({ ...EXAMPLES.Prediction(), confidence: 7, secret: 'x'.repeat(1000) }));
  assert.ok(!r.ok);
  assert.equal(r.error.code, ErrorCode.MSG_SCHEMA);
  const issues = r.error.details?.issues as Array<{ path: string[] }>;
  assert.ok(issues.some((i) => i.path.join('.') === 'confidence'));
  assert.ok(!JSON.stringify(r.error.details).includes('xxxxxxxx'));
});

test('status unions accept each arm only with its own fields', () => {
  for (const [schema, bad] of [
    [AgentStatusSchema, { state: 'offline', agentVersion: '1' }],
    [AgentStatusSchema, { ...makeAgentStatus(), state: 'lost' }],
    [AgentStatusSchema, { ...makeAgentStatus(), modelVersion: undefined }],
    [HubStatusSchema, { ...makeHubStatus(), sites: [{ site: 'a' }] }],
  ] as const) {
    const r = decode(schema, encode(bad));
    assert.ok(!r.ok && r.error.code === ErrorCode.MSG_SCHEMA, JSON.stringify(bad));
  }
});
