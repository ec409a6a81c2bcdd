/**
 * Turns messages from the user's sensor topics into timestamped readings for the window buffer.
 *
 * Why three formats: people publish with whatever their gateway speaks. JSON for `mosquitto_pub` and Node-RED, msgpack for
 * compact firmware, CSV lines for serial bridges (issue 3 §3). Formats per message (auto-detected unless configured):
 * - JSON `{"ts": 1700000000000, "values": [..]}` or `{"ts": "2023-11-14T22:13:20Z", "channels": {"acc_x": 0.1, ..}}`,
 *   or a JSON array of such objects;
 * - msgpack, the same shapes (plain maps); `values` may also be a typed array or raw little-endian float32 `bin`
 *   (docs/architecture.md: float arrays travel as bin); `ts` may be a msgpack timestamp;
 * - CSV lines `ts,v1,v2,…`, several per message, with an optional header line `ts,acc_x,acc_y,…` mapping columns by name.
 * `ts` is epoch milliseconds (fractions allowed) or an ISO 8601 date-time with a `T`.
 *
 * Untrusted input never throws (docs/conventions.md §3): every failure is an `{ ok: false, error }` with code READING_INVALID
 * (details.reason says why), READING_OUT_OF_RANGE (a value float32 cannot hold) or READING_TOO_LARGE, for the caller to count. A message is all or nothing: one bad CSV line
 * drops the whole message, so a partly garbled batch cannot leave holes that look like real gaps.
 * Misconfiguration (unknown channel names, a channel fed by two topics) throws CONFIG_INVALID at construction.
 *
 * Parts: sensor-sources.ts (topic → channel mapping, checked once), sensor-objects.ts (JSON and msgpack objects),
 * sensor-csv.ts (CSV lines), sensor-reading.ts (timestamps and the shared `Reading`/`Reject`).
 */
import { unpack } from 'msgpackr';
import { ErrorCode, SitekdError } from '../shared/errors';
import { readingsFromCsv } from './sensor-csv';
import { readingsFromDocument } from './sensor-objects';
import { Reject, type Reading } from './sensor-reading';
import { compileSources, positiveInt, type CompiledSource, type SensorSource } from './sensor-sources';

// The parser's signature speaks of these: callers import them with the parser.
export type { Reading, ReadingRejectReason } from './sensor-reading';
export type { SensorFormat, SensorSource } from './sensor-sources';

export interface SensorParserOptions {
  /** The model's channel order (ModelSpec channels). */
  channels: readonly string[];
  sources: readonly SensorSource[];
  /** Messages above this many bytes are dropped unread. Default 64 KiB. */
  maxPayloadBytes?: number;
  /** At most this many readings per message (CSV lines or JSON array items). Default 1000. */
  maxReadingsPerMessage?: number;
}

export type ParseResult = { ok: true; source: number; readings: Reading[] } | { ok: false; error: SitekdError };

const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
const DEFAULT_MAX_READINGS = 1000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class SensorParser {
  /** For each source (same order as `options.sources`): the model channel index of each value in its readings. */
  readonly sourceChannels: readonly (readonly number[])[];
  private readonly sources: readonly CompiledSource[];
  private readonly byTopic: ReadonlyMap<string, number>;
  private readonly maxPayloadBytes: number;
  private readonly maxReadings: number;

  constructor(opts: SensorParserOptions) {
    const compiled = compileSources(opts.channels, opts.sources);
    this.sources = compiled.map((c) => c.source);
    this.sourceChannels = compiled.map((c) => c.modelChannels);
    this.byTopic = new Map(this.sources.map((s, i) => [s.topic, i]));
    this.maxPayloadBytes = positiveInt(opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 'maxPayloadBytes');
    this.maxReadings = positiveInt(opts.maxReadingsPerMessage ?? DEFAULT_MAX_READINGS, 'maxReadingsPerMessage');
  }

  /** The source index of a topic, or -1 if it is not a sensor topic. */
  sourceIndex(topic: string): number {
    return this.byTopic.get(topic) ?? -1;
  }

  parse(topic: string, payload: Uint8Array): ParseResult {
    const source = this.sourceIndex(topic);
    const src = this.sources[source];
    if (src === undefined) return fail(new Reject('topic', `not a sensor topic: ${topic}`), topic);
    if (payload.byteLength > this.maxPayloadBytes) {
      const error = new SitekdError(ErrorCode.READING_TOO_LARGE, `sensor message of ${payload.byteLength} bytes`, {
        details: { topic, bytes: payload.byteLength, maxBytes: this.maxPayloadBytes },
      });
      return { ok: false, error };
    }
    try {
      const readings = this.decode(src, payload);
      return readings instanceof Reject ? fail(readings, topic) : { ok: true, source, readings };
    } catch (err) {
      // Belt and braces: decoders report through Reject, but a library surprise must not escape a message handler.
      return fail(new Reject('decode', 'cannot decode sensor message'), topic, err);
    }
  }

  private decode(src: CompiledSource, payload: Uint8Array): Reading[] | Reject {
    if (payload.byteLength === 0) return new Reject('decode', 'empty message');
    const format = src.format === 'auto' ? detectFormat(payload) : src.format;
    if (format === 'csv') return readingsFromCsv(src, payload, this.maxReadings);
    let doc: unknown;
    try {
      doc = format === 'json' ? JSON.parse(utf8.decode(payload)) : unpack(payload);
    } catch {
      return new Reject('decode', `not valid ${format}`);
    }
    return readingsFromDocument(src, doc, this.maxReadings);
  }
}

function fail(r: Reject, topic: string, cause?: unknown): ParseResult {
  const details: Record<string, unknown> = { topic, reason: r.reason };
  if (r.line !== undefined) details['line'] = r.line;
  const code = r.reason === 'range' ? ErrorCode.READING_OUT_OF_RANGE : ErrorCode.READING_INVALID;
  const error = new SitekdError(code, r.message, cause === undefined ? { details } : { details, cause });
  return { ok: false, error };
}

/** `{` or `[` (after whitespace) is JSON; a msgpack map or array type byte is msgpack; anything else is CSV text. */
function detectFormat(payload: Uint8Array): 'json' | 'msgpack' | 'csv' {
  const first = payload[0] ?? 0;
  const isMsgpackContainer = (first >= 0x80 && first <= 0x9f) || (first >= 0xdc && first <= 0xdf);
  if (isMsgpackContainer) return 'msgpack';
  for (const b of payload) {
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b || b === 0x5b ? 'json' : 'csv';
  }
  return 'csv';
}
