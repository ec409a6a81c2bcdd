/**
 * Hostile and broken payloads on every schema (issue 3: "malformed payloads … are rejected with a coded error and
 * counted; nothing crashes"): decode must return the right code and never throw.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Packr } from 'msgpackr';
import type { ZodType } from 'zod';
import { ErrorCode, type ErrorCode as ErrorCodeT } from '../../shared/errors';
import { decode, encode, f32ToBytes, type Result } from '../../shared/protocol/codec';
import { EXAMPLES, makePrediction, makeSampleBatch } from '../../shared/protocol/examples';
import * as messages from '../../shared/protocol/messages';
import { createRng } from '../../shared/random';

const SCHEMAS: Array<[string, ZodType]> = Object.keys(EXAMPLES).map((name) => [
  name,
  (messages as Record<string, unknown>)[`${name}Schema`] as ZodType,
]);
const BAD_INPUT: readonly ErrorCodeT[] = [ErrorCode.MSG_DECODE, ErrorCode.MSG_SCHEMA];

/** decode that fails the test if it throws. */
function safeDecode(schema: ZodType, bytes: Uint8Array, maxBytes?: number): Result<unknown> {
  try {
    return decode(schema, bytes, maxBytes === undefined ? {} : { maxBytes });
  } catch (e) {
    assert.fail(`decode threw: ${String(e)}`);
  }
}

function expectCode(r: Result<unknown>, codes: ErrorCodeT | readonly ErrorCodeT[], label: string): void {
  const want = typeof codes === 'string' ? [codes] : codes;
  assert.ok(!r.ok, `${label}: accepted`);
  assert.ok(want.includes(r.error.code), `${label}: got ${r.error.code} (${r.error.message}), want ${want.join('|')}`);
}

test('1000 seeded random payloads are rejected with MSG_DECODE or MSG_SCHEMA, never a throw', () => {
  const rng = createRng(3);
  // Some start like a msgpack map or like JSON, so the parsers get past the first byte.
  const starts = [[], [0x8b], [0xde, 0x00, 0x0b], [0x7b], [0x82, 0xa5, 0x73, 0x74, 0x61, 0x74, 0x65]];
  const seen = new Set<string>();
  for (let k = 0; k < 1000; k++) {
    const head = starts[rng.int(starts.length)] as number[];
    const bytes = new Uint8Array(head.length + rng.int(300));
    bytes.set(head);
    for (let i = head.length; i < bytes.length; i++) bytes[i] = rng.int(256);
    const [name, schema] = SCHEMAS[k % SCHEMAS.length] as [string, ZodType];
    const r = safeDecode(schema, bytes);
    expectCode(r, BAD_INPUT, `${name} #${k}`);
    if (!r.ok) seen.add(r.error.code);
  }
  assert.deepEqual([...seen].sort(), [...BAD_INPUT].sort(), 'both codes are exercised');
});

test('1000 seeded corruptions of valid payloads never throw; whatever passes still satisfies its schema', () => {
  const rng = createRng(4);
  const encoded = SCHEMAS.map(([name, schema]) => [name, schema, encode((EXAMPLES as Record<string, () => unknown>)[name]?.())] as const);
  for (let k = 0; k < 1000; k++) {
    const [name, schema, good] = encoded[k % encoded.length] as (typeof encoded)[number];
    const bytes = good.slice();
    const flips = 1 + rng.int(4);
    for (let f = 0; f < flips; f++) bytes[rng.int(bytes.length)] = rng.int(256);
    const r = safeDecode(schema, bytes);
    if (r.ok) assert.ok(schema.safeParse(r.value).success, `${name} #${k}`);
    else assert.ok(BAD_INPUT.includes(r.error.code), `${name} #${k}: ${r.error.code}`);
  }
});

test('every truncation of every valid payload, and trailing bytes, give MSG_DECODE', () => {
  for (const [name, schema] of SCHEMAS) {
    const good = encode((EXAMPLES as Record<string, () => unknown>)[name]?.());
    for (let len = 0; len < good.length; len++) expectCode(safeDecode(schema, good.subarray(0, len)), ErrorCode.MSG_DECODE, `${name}[0..${len})`);
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    expectCode(safeDecode(schema, longer), ErrorCode.MSG_DECODE, `${name} + 1 byte`);
  }
  const text = new TextEncoder().encode('{"state":"offline"');
  expectCode(safeDecode(messages.AgentStatusSchema, text), ErrorCode.MSG_DECODE, 'truncated JSON');
  expectCode(safeDecode(messages.AgentStatusSchema, Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d)), ErrorCode.MSG_DECODE, 'invalid UTF-8 JSON');
});

/** Fields a payload may leave out (and HubReply.result, which is an open record). */
const OPTIONAL: Readonly<Record<string, readonly string[]>> = {
  Prediction: ['className'],
  ModelManifest: ['teacherVersion'],
  JobEvent: ['progress', 'message', 'result'],
  HubCommand: ['replyTo'], // `site` too, but not for the example's `redistill`
  HubReply: ['result'],
  SampleAck: ['error'],
  SampleBatch: ['selectedBy'], // agents that predate it
  Telemetry: ['outboxDropped', 'outboxDroppedBytes'], // agents that predate issue 8
};

test('wrong shapes give MSG_SCHEMA on every schema', () => {
  const shapes: unknown[] = [null, true, 0, -1, 'text', [], [1, 2], {}, { state: 'online' }, new Uint8Array(8), { a: { b: { c: [] } } }];
  for (const [name, schema] of SCHEMAS) {
    const good = (EXAMPLES as Record<string, () => Record<string, unknown>>)[name]?.() ?? {};
    const optional = OPTIONAL[name] ?? [];
    const variants: unknown[] = [...shapes, { ...good, extra: 1 }];
    for (const key of Object.keys(good)) {
      const { [key]: _gone, ...missing } = good;
      if (!optional.includes(key)) variants.push(missing);
      if (!(name === 'HubReply' && key === 'result')) variants.push({ ...good, [key]: { nested: true } });
      variants.push({ ...good, [key]: 'x'.repeat(2000) });
    }
    for (const v of variants) {
      const r = safeDecode(schema, encode(v));
      assert.ok(!r.ok, `${name} accepted ${JSON.stringify(v)?.slice(0, 100)}`);
      assert.equal(r.error.code, ErrorCode.MSG_SCHEMA, `${name}: ${r.error.message}`);
    }
    for (const key of optional) {
      const { [key]: _gone, ...missing } = good;
      assert.ok(safeDecode(schema, encode(missing)).ok, `${name} without ${key}`);
    }
  }
});

test('NaN and ±Infinity in any number field give MSG_SCHEMA (msgpack float64 and JSON 1e999)', () => {
  const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  let checked = 0;
  for (const [name, schema] of SCHEMAS) {
    const good = (EXAMPLES as Record<string, () => Record<string, unknown>>)[name]?.() ?? {};
    for (const [key, value] of Object.entries(good)) {
      if (typeof value !== 'number') continue;
      for (const s of specials) {
        expectCode(safeDecode(schema, encode({ ...good, [key]: s })), ErrorCode.MSG_SCHEMA, `${name}.${key} = ${s}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 60, `only ${checked} number fields`);
  // Inside arrays and records.
  const p = makePrediction();
  expectCode(safeDecode(messages.PredictionSchema, encode({ ...p, probs: [Number.NaN, ...p.probs.slice(1)] })), ErrorCode.MSG_SCHEMA, 'probs NaN');
  expectCode(safeDecode(messages.TelemetrySchema, encode({ ...EXAMPLES.Telemetry(), dropped: { X: Number.POSITIVE_INFINITY } })), ErrorCode.MSG_SCHEMA, 'dropped Inf');
  expectCode(safeDecode(messages.SensorReadingSchema, encode({ ts: 1, values: [1, Number.NaN] })), ErrorCode.MSG_SCHEMA, 'values NaN');
  // JSON has no NaN, but 1e999 parses to Infinity.
  const json = new TextEncoder().encode('{"ts": 1e999, "values": [1, 2]}');
  expectCode(safeDecode(messages.SensorReadingSchema, json), ErrorCode.MSG_SCHEMA, 'JSON 1e999');
  const jsonNaN = new TextEncoder().encode('{"ts": NaN, "values": [1]}');
  expectCode(safeDecode(messages.SensorReadingSchema, jsonNaN), ErrorCode.MSG_DECODE, 'JSON NaN literal');
});

test('NaN or infinity inside the float32 bins of a sample batch gives MSG_SCHEMA', () => {
  const patterns = [
    [0x00, 0x00, 0xc0, 0x7f], // quiet NaN
    [0x01, 0x00, 0x80, 0x7f], // signalling NaN
    [0x00, 0x00, 0x80, 0x7f], // +Infinity
    [0x00, 0x00, 0x80, 0xff], // -Infinity
  ];
  const batch = makeSampleBatch();
  for (const field of ['windows', 'logits'] as const) {
    for (const pattern of patterns) {
      for (const at of [0, batch[field].length / 4 - 1]) {
        const bytes = batch[field].slice();
        bytes.set(pattern, at * 4);
        const r = safeDecode(messages.SampleBatchSchema, encode({ ...batch, [field]: bytes }));
        expectCode(r, ErrorCode.MSG_SCHEMA, `${field}[${at}] = ${pattern.join(',')}`);
        assert.ok(!r.ok && JSON.stringify(r.error.details).includes(field));
      }
    }
  }
  // The largest finite float32 is fine.
  const max = f32ToBytes(new Float32Array(batch.windows.length / 4).fill(3.4028234663852886e38));
  assert.ok(safeDecode(messages.SampleBatchSchema, encode({ ...batch, windows: max })).ok);
});

test('oversize payloads give PAYLOAD_TOO_LARGE before any parsing; the limit itself is accepted', () => {
  const good = encode(makeSampleBatch());
  const atLimit = safeDecode(messages.SampleBatchSchema, good, good.length);
  assert.ok(atLimit.ok);
  const over = safeDecode(messages.SampleBatchSchema, good, good.length - 1);
  expectCode(over, ErrorCode.PAYLOAD_TOO_LARGE, 'one byte over');
  assert.deepEqual(over.ok ? undefined : over.error.details, { bytes: good.length, maxBytes: good.length - 1 });
  // Garbage that would fail to parse still reports the size first.
  expectCode(safeDecode(messages.PredictionSchema, new Uint8Array(2000).fill(0xc1), 1000), ErrorCode.PAYLOAD_TOO_LARGE, 'garbage');
  // The default limit (16 MiB).
  expectCode(safeDecode(messages.PredictionSchema, new Uint8Array(16 * 1024 * 1024 + 1)), ErrorCode.PAYLOAD_TOO_LARGE, 'default');
});

test('deep nesting, huge declared lengths and non-byte input are coded errors', () => {
  const deep = new Uint8Array(200_000).fill(0x91); // [[[[…]]]] with no end
  expectCode(safeDecode(messages.PredictionSchema, deep), ErrorCode.MSG_DECODE, 'deep msgpack');
  const deepJson = new TextEncoder().encode(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
  expectCode(safeDecode(messages.PredictionSchema, deepJson), BAD_INPUT, 'deep JSON');
  expectCode(safeDecode(messages.PredictionSchema, Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x01)), ErrorCode.MSG_DECODE, 'array32 of 4G');
  expectCode(safeDecode(messages.PredictionSchema, Uint8Array.of(0xc6, 0xff, 0xff, 0xff, 0xff)), ErrorCode.MSG_DECODE, 'bin32 of 4G');
  expectCode(safeDecode(messages.PredictionSchema, 'not bytes' as unknown as Uint8Array), ErrorCode.MSG_DECODE, 'string input');
  expectCode(safeDecode(messages.PredictionSchema, new Uint8Array(0)), ErrorCode.MSG_DECODE, 'empty');
});

test('msgpackr extensions (records, typed arrays, dates, undefined) never pass for a schema field', () => {
  const p = makePrediction();
  const records = new Packr({ useRecords: true }).pack(p);
  assert.ok(safeDecode(messages.PredictionSchema, records).ok, 'a record is just a map once decoded');
  const more = new Packr({ moreTypes: true, useRecords: false });
  expectCode(safeDecode(messages.PredictionSchema, more.pack({ ...p, probs: Float64Array.from(p.probs) })), ErrorCode.MSG_SCHEMA, 'typed array');
  expectCode(safeDecode(messages.PredictionSchema, more.pack({ ...p, windowStart: new Date(0) })), ErrorCode.MSG_SCHEMA, 'date');
  expectCode(safeDecode(messages.PredictionSchema, new Packr({ useRecords: false }).pack({ ...p, modelVersion: undefined })), ErrorCode.MSG_SCHEMA, 'undefined');
  expectCode(safeDecode(messages.PredictionSchema, more.pack({ ...p, site: 12n })), ErrorCode.MSG_SCHEMA, 'bigint');
});

test('a __proto__ key pollutes nothing and is refused', () => {
  const good = makePrediction();
  // Map with key "__proto__" → {cls: 5}: built by hand, since JS object literals would set the prototype instead.
  const evil = new Map<string, unknown>([...Object.entries(good), ['__proto__', { polluted: true, cls: 5 }]]);
  const bytes = new Packr({ useRecords: false, mapsAsObjects: false }).pack(evil);
  const r = safeDecode(messages.PredictionSchema, bytes);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  if (r.ok) assert.equal((r.value as { cls: number }).cls, good.cls);
  const json = new TextEncoder().encode(JSON.stringify(good).replace(/^\{/, '{"__proto__":{"polluted":true},'));
  expectCode(safeDecode(messages.PredictionSchema, json), ErrorCode.MSG_SCHEMA, 'JSON __proto__');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
