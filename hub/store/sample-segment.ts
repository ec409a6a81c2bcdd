/**
 * The on-disk format of one stored sample batch (a "segment"), used by hub/store/sample-store.ts.
 *
 *   offset 0   4 bytes  magic "SKDS"
 *          4   u16 LE   format version (1)
 *          6   u16 LE   reserved, 0
 *          8   u32 LE   header length H
 *         12   H bytes  header, UTF-8 JSON (SegmentHeader)
 *     12 + H   P bytes  windows float32 LE [n, windowLength, channels], then logits float32 LE [n, numClasses]
 *   end - 32   32 bytes sha256 of every byte before it
 *
 * The header's `selectedBy` (how the agent chose each window, the wire's codes) is optional: segments written before it
 * existed, or from agents that do not send it, have none and read back as `unknown`. Adding an optional header field
 * keeps format version 1, so existing stores open unchanged.
 *
 * The trailing hash makes a truncated or bit-flipped file detectable without trusting any length field. Floats are
 * raw little-endian like on the wire (every supported host is little-endian), so encode/decode is a copy.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

const MAGIC = Buffer.from('SKDS', 'latin1');
const VERSION = 1;
const PRELUDE_BYTES = 12;
const HASH_BYTES = 32;
/** A header is a few hundred bytes plus ~20 per window start; anything far larger is garbage, not a header. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

const positiveInt = z.number().int().min(1);
export const SegmentHeaderSchema = z.strictObject({
  site: z.string().min(1),
  batchId: z.string().min(1),
  agent: z.string(),
  modelVersion: z.string(),
  /** Sequence number of the first window; window i has `seq + i`. */
  seq: positiveInt,
  n: positiveInt,
  channels: positiveInt,
  windowLength: positiveInt,
  numClasses: positiveInt,
  receivedAt: z.number(),
  windowStarts: z.array(z.number()),
  /** Per window, the wire's SELECTED_BY code; absent = unknown. */
  selectedBy: z.array(z.union([z.literal(0), z.literal(1)])).optional(),
});
export type SegmentHeader = z.infer<typeof SegmentHeaderSchema>;

export interface Segment {
  readonly header: SegmentHeader;
  /** `[n, windowLength, channels]`, channels-last as the agent sent it. */
  readonly windows: Float32Array;
  /** `[n, numClasses]` */
  readonly logits: Float32Array;
}

export type DecodeResult = { readonly ok: true; readonly segment: Segment } | { readonly ok: false; readonly reason: string };

export function windowValues(h: Pick<SegmentHeader, 'n' | 'channels' | 'windowLength'>): number {
  return h.n * h.windowLength * h.channels;
}

export function encodeSegment(seg: Segment): Uint8Array {
  const header = Buffer.from(JSON.stringify(seg.header), 'utf8');
  const payloadBytes = seg.windows.byteLength + seg.logits.byteLength;
  const out = Buffer.alloc(PRELUDE_BYTES + header.length + payloadBytes + HASH_BYTES);
  MAGIC.copy(out, 0);
  out.writeUInt16LE(VERSION, 4);
  out.writeUInt16LE(0, 6);
  out.writeUInt32LE(header.length, 8);
  header.copy(out, PRELUDE_BYTES);
  let at = PRELUDE_BYTES + header.length;
  for (const arr of [seg.windows, seg.logits]) {
    Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength).copy(out, at);
    at += arr.byteLength;
  }
  createHash('sha256').update(out.subarray(0, at)).digest().copy(out, at);
  return out;
}

/** Checks everything (prelude, hash, header schema, payload size) and copies the floats out. Never throws. */
export function decodeSegment(bytes: Uint8Array): DecodeResult {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < PRELUDE_BYTES + HASH_BYTES) return fail(`file too short (${buf.length} bytes)`);
  if (!buf.subarray(0, 4).equals(MAGIC)) return fail('bad magic');
  const version = buf.readUInt16LE(4);
  if (version !== VERSION) return fail(`unsupported version ${version}`);
  const body = buf.subarray(0, buf.length - HASH_BYTES);
  const hash = createHash('sha256').update(body).digest();
  if (!hash.equals(buf.subarray(buf.length - HASH_BYTES))) return fail('sha256 mismatch (truncated or corrupted)');
  const headerLen = buf.readUInt32LE(8);
  if (headerLen > MAX_HEADER_BYTES || PRELUDE_BYTES + headerLen > body.length) return fail('bad header length');
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8', PRELUDE_BYTES, PRELUDE_BYTES + headerLen));
  } catch {
    return fail('header is not JSON');
  }
  const parsed = SegmentHeaderSchema.safeParse(json);
  if (!parsed.success) return fail(`bad header: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const header = parsed.data;
  if (header.windowStarts.length !== header.n) return fail('windowStarts length differs from n');
  if (header.selectedBy !== undefined && header.selectedBy.length !== header.n) return fail('selectedBy length differs from n');
  const nWindows = windowValues(header);
  const nLogits = header.n * header.numClasses;
  const payloadStart = PRELUDE_BYTES + headerLen;
  if (body.length - payloadStart !== 4 * (nWindows + nLogits)) return fail('payload size differs from the header');
  return { ok: true, segment: { header, windows: copyFloats(body, payloadStart, nWindows), logits: copyFloats(body, payloadStart + 4 * nWindows, nLogits) } };
}

// Copying into a fresh buffer also fixes alignment: a Float32Array view needs a 4-byte aligned offset.
function copyFloats(buf: Buffer, start: number, count: number): Float32Array {
  const out = new Float32Array(count);
  buf.copy(Buffer.from(out.buffer), 0, start, start + 4 * count);
  return out;
}

function fail(reason: string): DecodeResult {
  return { ok: false, reason };
}
