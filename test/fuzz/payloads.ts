/**
 * fast-check arbitraries for hostile payloads (issue 8, fuzzing): arbitrary bytes, mutated valid messages (byte flips,
 * truncation, splices, a field replaced by NaN/±Infinity/a wrong type), arbitrary JSON and msgpack values (wrong
 * shapes), and oversize payloads. Every handler's fuzz target draws from `hostilePayload(valid)`.
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';

/** Values that break number fields, strings and shapes. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 3e38, 1e39, -1e308, 2 ** 53 + 2, null, '', [], {}),
  fc.double(),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 64 }),
  fc.anything({ maxDepth: 2 }),
);

/** A copy of `bytes` with a few bytes overwritten. */
function flipped(bytes: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((flips) => {
    const out = Uint8Array.from(bytes);
    for (const [at, b] of flips) if (out.length > 0) out[at % out.length] = b;
    return out;
  });
}

/** A prefix, or the message with bytes spliced into it. */
function cut(bytes: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.nat({ max: Math.max(0, bytes.length - 1) }).map((n) => bytes.slice(0, n)),
    fc.tuple(fc.nat({ max: bytes.length }), fc.uint8Array({ minLength: 1, maxLength: 32 })).map(([at, extra]) => {
      const out = new Uint8Array(bytes.length + extra.length);
      out.set(bytes.subarray(0, at));
      out.set(extra, at);
      out.set(bytes.subarray(at), at + extra.length);
      return out;
    }),
  );
}

/** The valid object with one field replaced (or deleted, or added), re-encoded as msgpack or JSON. */
function fieldMutated(valid: Record<string, unknown>): fc.Arbitrary<Uint8Array> {
  const keys = [...Object.keys(valid), 'extra'];
  return fc.tuple(fc.constantFrom(...keys), fc.option(oddValue, { nil: undefined }), fc.boolean()).map(([key, value, json]) => {
    const obj: Record<string, unknown> = { ...valid };
    if (value === undefined) delete obj[key];
    else obj[key] = value;
    return json ? jsonBytes(obj) : Uint8Array.from(pack(obj));
  });
}

function jsonBytes(v: unknown): Uint8Array {
  try {
    return new TextEncoder().encode(JSON.stringify(v) ?? 'null');
  } catch {
    return new TextEncoder().encode('{"unserialisable": true}');
  }
}

/**
 * Hostile payloads around `valid` (already encoded `validBytes`): the valid message itself now and then, so a handler's
 * state also moves; mostly broken ones. `oversizeBytes` > the handler's limit produces a too-large payload, rarely.
 */
export function hostilePayload(valid: Record<string, unknown>, validBytes: Uint8Array, oversizeBytes: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 2048 }), weight: 4 },
    { arbitrary: flipped(validBytes), weight: 4 },
    { arbitrary: cut(validBytes), weight: 3 },
    { arbitrary: fieldMutated(valid), weight: 5 },
    { arbitrary: fc.anything({ maxDepth: 3 }).map((v) => Uint8Array.from(pack(v))), weight: 2 },
    { arbitrary: fc.json({ maxDepth: 3 }).map((s) => new TextEncoder().encode(s)), weight: 2 },
    { arbitrary: fc.constant(validBytes), weight: 1 },
    { arbitrary: fc.nat({ max: 255 }).map((b) => new Uint8Array(oversizeBytes + 1).fill(b)), weight: 1 },
  );
}

/** Sensor messages: JSON, msgpack or CSV readings (valid and broken), garbage, and values beyond float32. */
export function sensorPayload(nowMs: () => number, channels: number): fc.Arbitrary<Uint8Array> {
  const reading = fc.record({
    ts: fc.oneof(fc.constant(undefined), fc.integer({ min: -5000, max: 5000 }).map((d) => nowMs() + d), fc.double(), fc.string({ maxLength: 30 })),
    values: fc.oneof(fc.array(fc.oneof(fc.double({ min: -10, max: 10, noNaN: true }), oddValue), { minLength: channels, maxLength: channels }), oddValue),
  });
  const csv = fc.array(fc.tuple(fc.integer({ min: -5000, max: 5000 }), fc.array(fc.oneof(fc.double(), fc.string({ maxLength: 8 })), { maxLength: channels + 1 })), { maxLength: 20 })
    .map((lines) => new TextEncoder().encode(lines.map(([d, vs]) => [nowMs() + d, ...vs].join(',')).join('\n')));
  return fc.oneof(
    reading.map((r) => new TextEncoder().encode(JSON.stringify(r))),
    fc.array(reading, { maxLength: 30 }).map((rs) => Uint8Array.from(pack(rs))),
    reading.map((r) => Uint8Array.from(pack(r))),
    csv,
    fc.uint8Array({ maxLength: 512 }),
    fc.nat({ max: 255 }).map((b) => new Uint8Array(70_000).fill(b)),
  );
}
