/**
 * Payload codec: msgpack out, msgpack or JSON in, every inbound payload checked by a zod schema.
 *
 * - msgpackr with plain maps (`useRecords: false`, docs/ecosystem.md §4.4): records need structures shared by both
 *   ends, which independent MQTT messages do not have, and any msgpack library can read plain maps.
 * - Absent optional fields are skipped, not packed as msgpackr's `undefined` extension (unreadable elsewhere).
 * - Binary fields are `Uint8Array`s and travel as msgpack `bin`; float arrays are raw little-endian float32 in them
 *   (`f32ToBytes` / `bytesToF32`), not msgpackr's `moreTypes` typed-array extension, for the same reason.
 * - `decode` never throws (docs/conventions.md §3): a size check before any parsing, then the bytes, then the schema, each
 *   failure with its own code. JSON is accepted when the first non-blank byte is `{` — a msgpack map never starts
 *   with 0x7b (that byte is the positive fixint 123), so the two cannot be confused.
 * - Large integers decode as numbers (`int64AsType: 'number'`): other msgpack encoders send millisecond timestamps as
 *   uint64, which would otherwise arrive as BigInt and fail every number field.
 */
import { Packr, type Options as PackrOptions } from 'msgpackr';
import type { z } from 'zod';
import { ErrorCode, SitekdError } from '../errors';
import { fail, ok, type Result } from './result';
import { float32FromLeBytes, float32ToLeBytes } from '../float32-le';

export type { Result } from './result';

/** What `decode` accepts unless told otherwise: 16 MiB (the MQTT ceiling is 256 MiB; brokers allow far less). */
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
/** How many zod issues are kept in an error's details. */
const MAX_ISSUES = 20;

const PACKR_OPTIONS: PackrOptions & { skipValues: unknown[] } = {
  useRecords: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  skipValues: [undefined],
};
const packr = new Packr(PACKR_OPTIONS);
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface DecodeOptions {
  /** Larger payloads are rejected with PAYLOAD_TOO_LARGE before anything is parsed. */
  readonly maxBytes?: number;
}

/** msgpack bytes of `value`. Does not validate: outbound payloads are typed by the schemas (docs/conventions.md §4). */
export function encode(value: unknown): Uint8Array {
  // Copy: msgpackr returns a view into its reused scratch buffer.
  return new Uint8Array(packr.pack(value));
}

/**
 * UTF-8 JSON bytes of `value`: what `mosquitto_sub` prints as text. For messages without binary fields (hub status,
 * job events, command replies, the agents' status, predictions and telemetry when so configured); `decode` reads both.
 */
export function encodeJson(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Whether a payload is JSON in the sense of `decode`: its first non-blank byte is `{`. */
export function isJsonPayload(bytes: Uint8Array): boolean {
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  for (const b of bom ? bytes.subarray(3) : bytes) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b;
  }
  return false;
}

/** msgpack or JSON bytes → a value the schema accepts, or a coded error. Never throws. */
export function decode<S extends z.ZodType>(schema: S, bytes: Uint8Array, opts: DecodeOptions = {}): Result<z.output<S>> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!(bytes instanceof Uint8Array)) {
    return fail(new SitekdError(ErrorCode.MSG_DECODE, `payload is not bytes (${typeof bytes})`));
  }
  if (bytes.byteLength > maxBytes) {
    return fail(
      new SitekdError(ErrorCode.PAYLOAD_TOO_LARGE, `payload of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`, {
        details: { bytes: bytes.byteLength, maxBytes },
      }),
    );
  }
  const raw = decodeRaw(bytes);
  if (!raw.ok) return raw;
  let parsed: z.ZodSafeParseResult<z.output<S>>;
  try {
    parsed = schema.safeParse(raw.value);
  } catch (cause) {
    // A refinement that throws is a bug, but it still must not escape a message callback.
    return fail(new SitekdError(ErrorCode.MSG_SCHEMA, 'payload check failed', { cause }));
  }
  if (parsed.success) return ok(parsed.data);
  const issues = parsed.error.issues.slice(0, MAX_ISSUES).map((i) => ({ path: i.path.map(String), code: i.code, message: i.message }));
  const summary = issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  return fail(
    new SitekdError(ErrorCode.MSG_SCHEMA, `payload does not match the schema: ${summary}`, {
      details: { issues, issueCount: parsed.error.issues.length },
    }),
  );
}

/** The bytes as a plain value: JSON if they start with `{` (after blanks or a BOM), msgpack otherwise. */
function decodeRaw(bytes: Uint8Array): Result<unknown> {
  if (bytes.byteLength === 0) return fail(new SitekdError(ErrorCode.MSG_DECODE, 'empty payload'));
  try {
    if (looksLikeJson(bytes)) return ok(JSON.parse(utf8.decode(bytes)) as unknown);
    return ok(packr.unpack(bytes) as unknown);
  } catch (cause) {
    // msgpackr throws plain Errors and RangeErrors (also for deep nesting); JSON.parse SyntaxErrors; TextDecoder TypeErrors.
    const why = cause instanceof Error ? cause.message.slice(0, 120) : String(cause);
    return fail(new SitekdError(ErrorCode.MSG_DECODE, `payload is neither msgpack nor JSON: ${why}`, { cause }));
  }
}

function looksLikeJson(bytes: Uint8Array): boolean {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // UTF-8 BOM
  while (i < bytes.length) {
    const b = bytes[i];
    if (b === 0x7b) return true; // {
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
    i++;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// float32 ⇄ bytes (little-endian on the wire, whatever the host)

/** A little-endian copy of `values`' bytes. */
export function f32ToBytes(values: Float32Array): Uint8Array {
  return float32ToLeBytes(values).slice();
}

/**
 * An aligned Float32Array copy of little-endian float32 bytes. A decoded `bin` is a view at any byte offset, where
 * `new Float32Array(buf.buffer, buf.byteOffset)` would throw (docs/ecosystem.md §4.4), so this always copies.
 * Throws MSG_SCHEMA when the length is not a multiple of 4 (schemas check that before a caller gets here).
 */
export function bytesToF32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new SitekdError(ErrorCode.MSG_SCHEMA, `float32 data of ${bytes.byteLength} bytes is not a multiple of 4`, {
      details: { bytes: bytes.byteLength },
    });
  }
  return float32FromLeBytes(bytes);
}

/**
 * Index of the first NaN or ±Infinity in little-endian float32 bytes, or -1. Reads the exponent bits directly
 * (all ones = non-finite), so it works at any alignment without a copy. Trailing bytes (length % 4) are ignored.
 */
export function firstNonFiniteF32(bytes: Uint8Array): number {
  const n = bytes.length >>> 2;
  for (let i = 0; i < n; i++) {
    const hi = bytes[i * 4 + 3] as number;
    if ((hi & 0x7f) === 0x7f && ((bytes[i * 4 + 2] as number) & 0x80) !== 0) return i;
  }
  return -1;
}
