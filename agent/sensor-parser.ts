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
 * (details.reason says why) or READING_TOO_LARGE, for the caller to count. A message is all or nothing: one bad CSV line
 * drops the whole message, so a partly garbled batch cannot leave holes that look like real gaps.
 * Misconfiguration (unknown channel names, a channel fed by two topics) throws CONFIG_INVALID at construction.
 */
import { unpack } from 'msgpackr';
import { ErrorCode, SitekdError } from '../shared/errors';

/** One reading of one source: `values[i]` feeds model channel `sourceChannels[source][i]`. */
export interface Reading {
  /** Epoch milliseconds. */
  ts: number;
  values: Float64Array;
}

export type SensorFormat = 'auto' | 'json' | 'msgpack' | 'csv';

/**
 * A sensor topic and what its values mean, in the order the sensor sends them: a model channel name, a model channel
 * index, or `null` for a value the model does not use (e.g. a temperature column next to the accelerometer).
 */
export interface SensorSource {
  topic: string;
  channels: readonly (string | number | null)[];
  format?: SensorFormat;
}

export interface SensorParserOptions {
  /** The model's channel order (ModelSpec channels). */
  channels: readonly string[];
  sources: readonly SensorSource[];
  /** Messages above this many bytes are dropped unread. Default 64 KiB. */
  maxPayloadBytes?: number;
  /** At most this many readings per message (CSV lines or JSON array items). Default 1000. */
  maxReadingsPerMessage?: number;
}

export type ReadingRejectReason = 'topic' | 'decode' | 'shape' | 'ts' | 'nonfinite' | 'count';

export type ParseResult = { ok: true; source: number; readings: Reading[] } | { ok: false; error: SitekdError };

interface CompiledSource {
  topic: string;
  format: SensorFormat;
  /** Per value the sensor sends: the position in `Reading.values`, or -1 to skip it. */
  slot: Int32Array;
  /** Model channel names of the kept values, in `Reading.values` order (for the `channels` object and CSV headers). */
  names: readonly string[];
  width: number;
}

const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
const DEFAULT_MAX_READINGS = 1000;
// Date's own range (ECMA-262 §21.4.1.1): anything beyond is certainly not a timestamp.
const MAX_TS_MS = 8.64e15;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NONFINITE_WORD = /^[+-]?(?:nan|inf|infinity)$/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A rejected message, tagged with the reason callers count by. */
class Reject {
  constructor(
    readonly reason: ReadingRejectReason,
    readonly message: string,
    readonly line?: number,
  ) {}
}

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
    if (format === 'csv') return this.fromCsv(src, payload);
    let doc: unknown;
    try {
      doc = format === 'json' ? JSON.parse(utf8.decode(payload)) : unpack(payload);
    } catch {
      return new Reject('decode', `not valid ${format}`);
    }
    const items = Array.isArray(doc) ? doc : [doc];
    if (items.length === 0) return new Reject('shape', 'empty array');
    if (items.length > this.maxReadings) return new Reject('count', `${items.length} readings in one message`);
    const out: Reading[] = [];
    for (const item of items) {
      const r = fromObject(src, item);
      if (r instanceof Reject) return r;
      out.push(r);
    }
    return out;
  }

  private fromCsv(src: CompiledSource, payload: Uint8Array): Reading[] | Reject {
    let text: string;
    try {
      text = utf8.decode(payload);
    } catch {
      return new Reject('decode', 'CSV is not valid UTF-8');
    }
    // Column c (after ts) goes to values[slot[c]]; a header may reorder or subset the sensor's columns.
    let slot = src.slot;
    let isFirstLine = true; // only the first non-blank line may be a header
    const out: Reading[] = [];
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] ?? '').trim();
      if (line === '' || line.startsWith('#')) continue;
      const fields = line.split(',').map((f) => f.trim());
      const isHeaderLine = isFirstLine && isHeader(fields[0] ?? '');
      isFirstLine = false;
      if (isHeaderLine) {
        const mapped = slotsFromHeader(src, fields.slice(1));
        if (mapped instanceof Reject) return new Reject(mapped.reason, mapped.message, i + 1);
        slot = mapped;
        continue;
      }
      if (out.length >= this.maxReadings) return new Reject('count', `more than ${this.maxReadings} CSV lines`, i + 1);
      const r = csvReading(src.width, slot, fields);
      if (r instanceof Reject) return new Reject(r.reason, r.message, i + 1);
      out.push(r);
    }
    return out.length > 0 ? out : new Reject('shape', 'no CSV data lines');
  }
}

function fail(r: Reject, topic: string, cause?: unknown): ParseResult {
  const details: Record<string, unknown> = { topic, reason: r.reason };
  if (r.line !== undefined) details['line'] = r.line;
  const error = new SitekdError(ErrorCode.READING_INVALID, r.message, cause === undefined ? { details } : { details, cause });
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

function fromObject(src: CompiledSource, item: unknown): Reading | Reject {
  if (typeof item !== 'object' || item === null || Array.isArray(item) || ArrayBuffer.isView(item)) {
    return new Reject('shape', 'a reading must be an object {ts, values} or {ts, channels}');
  }
  const rec = item as Record<string, unknown>;
  const ts = parseTs(Object.hasOwn(rec, 'ts') ? rec['ts'] : undefined);
  if (ts instanceof Reject) return ts;
  const hasValues = Object.hasOwn(rec, 'values');
  const hasChannels = Object.hasOwn(rec, 'channels');
  if (hasValues === hasChannels) return new Reject('shape', 'a reading needs exactly one of values or channels');
  const values = hasValues ? valuesFromList(src, rec['values']) : valuesFromNames(src, rec['channels']);
  return values instanceof Reject ? values : { ts, values };
}

function parseTs(raw: unknown): number | Reject {
  let ts: number;
  if (typeof raw === 'number') ts = raw;
  else if (typeof raw === 'bigint') ts = Number(raw);
  else if (raw instanceof Date) ts = raw.getTime();
  else if (typeof raw === 'string' && ISO_DATE_TIME.test(raw)) ts = Date.parse(raw);
  else if (typeof raw === 'string' && DECIMAL.test(raw)) ts = Number(raw);
  else return new Reject('ts', raw === undefined ? 'missing ts' : 'ts must be epoch ms or an ISO 8601 date-time');
  if (!Number.isFinite(ts) || ts < 0 || ts > MAX_TS_MS) return new Reject('ts', 'ts out of range');
  return ts;
}

function valuesFromList(src: CompiledSource, raw: unknown): Float64Array | Reject {
  const list = numericList(raw);
  if (list === undefined) return new Reject('shape', 'values must be an array of numbers');
  if (list.length !== src.slot.length) {
    return new Reject('shape', `expected ${src.slot.length} values, got ${list.length}`);
  }
  const out = new Float64Array(src.width);
  for (let i = 0; i < list.length; i++) {
    const at = src.slot[i] as number;
    if (at < 0) continue;
    const v = list[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      return v === null || typeof v === 'number' ? new Reject('nonfinite', `value ${i} is not finite`) : new Reject('shape', `value ${i} is not a number`);
    }
    out[at] = v;
  }
  return out;
}

/** Arrays, numeric typed arrays and raw float32-LE bytes (msgpack `bin`) as one indexable list. */
function numericList(raw: unknown): ArrayLike<unknown> | undefined {
  if (Array.isArray(raw)) return raw;
  if (typeof raw === 'number') return [raw];
  if (raw instanceof Uint8Array) {
    if (raw.byteLength % 4 !== 0) return undefined;
    // msgpackr hands out Buffers at odd offsets (docs/ecosystem.md §4.4), so read through a DataView, never a view cast.
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float64Array(raw.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
    return out;
  }
  if (raw instanceof Float32Array || raw instanceof Float64Array || raw instanceof Int16Array || raw instanceof Int32Array) {
    return raw;
  }
  return undefined;
}

function valuesFromNames(src: CompiledSource, raw: unknown): Float64Array | Reject {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || ArrayBuffer.isView(raw)) {
    return new Reject('shape', 'channels must be an object of name → number');
  }
  const rec = raw as Record<string, unknown>;
  const out = new Float64Array(src.width);
  // Extra names are ignored on purpose: a sensor may publish more than the model uses.
  for (let i = 0; i < src.names.length; i++) {
    const name = src.names[i] as string;
    const v = Object.hasOwn(rec, name) ? rec[name] : undefined;
    if (v === undefined) return new Reject('shape', `channel ${name} missing`);
    if (typeof v !== 'number') return v === null ? new Reject('nonfinite', `channel ${name} is null`) : new Reject('shape', `channel ${name} is not a number`);
    if (!Number.isFinite(v)) return new Reject('nonfinite', `channel ${name} is not finite`);
    out[i] = v;
  }
  return out;
}

/** A first field that is neither a number nor a date-time starts a header line. */
function isHeader(first: string): boolean {
  return !DECIMAL.test(first) && !ISO_DATE_TIME.test(first) && !NONFINITE_WORD.test(first);
}

function slotsFromHeader(src: CompiledSource, names: readonly string[]): Int32Array | Reject {
  const slot = new Int32Array(names.length).fill(-1);
  const seen = new Set<string>();
  names.forEach((n, c) => {
    const at = src.names.indexOf(n);
    if (at >= 0 && !seen.has(n)) slot[c] = at;
    seen.add(n);
  });
  const missing = src.names.filter((n) => !seen.has(n));
  return missing.length === 0 ? slot : new Reject('shape', `CSV header lacks ${missing.join(', ')}`);
}

function csvReading(width: number, slot: Int32Array, fields: readonly string[]): Reading | Reject {
  if (fields.length - 1 !== slot.length) return new Reject('shape', `expected ${slot.length} values, got ${fields.length - 1}`);
  const ts = parseTs(fields[0]);
  if (ts instanceof Reject) return ts;
  const values = new Float64Array(width);
  for (let c = 0; c < slot.length; c++) {
    const at = slot[c] as number;
    if (at < 0) continue;
    const f = fields[c + 1] as string;
    // Number('') is 0 and Number(' 1e3 ') parses: a strict pattern keeps empty and odd fields from becoming data.
    if (!DECIMAL.test(f)) return new Reject(NONFINITE_WORD.test(f) ? 'nonfinite' : 'shape', `column ${c + 2} is not a number`);
    const v = Number(f);
    if (!Number.isFinite(v)) return new Reject('nonfinite', `column ${c + 2} is not finite`);
    values[at] = v;
  }
  return { ts, values };
}

function compileSources(
  modelChannels: readonly string[],
  sources: readonly SensorSource[],
): Array<{ source: CompiledSource; modelChannels: number[] }> {
  if (modelChannels.length === 0 || new Set(modelChannels).size !== modelChannels.length) {
    throw configError('model channel names must be non-empty and unique', { channels: modelChannels });
  }
  const owner = new Map<number, string>();
  const topics = new Set<string>();
  const out = sources.map((s) => {
    if (s.topic === '' || /[+#]/.test(s.topic) || topics.has(s.topic)) {
      throw configError('each sensor topic must be a distinct topic without wildcards', { topic: s.topic });
    }
    topics.add(s.topic);
    const slot = new Int32Array(s.channels.length).fill(-1);
    const model: number[] = [];
    s.channels.forEach((ch, i) => {
      if (ch === null) return;
      const idx = typeof ch === 'number' ? ch : modelChannels.indexOf(ch);
      if (!Number.isInteger(idx) || idx < 0 || idx >= modelChannels.length) {
        throw configError(`unknown channel ${String(ch)} on ${s.topic}`, { topic: s.topic, channel: ch });
      }
      const prior = owner.get(idx);
      if (prior !== undefined) throw configError(`channel ${modelChannels[idx]} fed by both ${prior} and ${s.topic}`, { topic: s.topic });
      owner.set(idx, s.topic);
      slot[i] = model.length;
      model.push(idx);
    });
    if (model.length === 0) throw configError(`topic ${s.topic} feeds no model channel`, { topic: s.topic });
    const names = model.map((m) => modelChannels[m] as string);
    return { source: { topic: s.topic, format: s.format ?? 'auto', slot, names, width: model.length }, modelChannels: model };
  });
  const unfed = modelChannels.filter((_, i) => !owner.has(i));
  // A channel nobody feeds would keep every grid point incomplete: no window would ever be cut.
  if (unfed.length > 0) throw configError(`no sensor topic feeds ${unfed.join(', ')}`, { channels: unfed });
  return out;
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v <= 0) throw configError(`${name} must be a positive integer`, { [name]: v });
  return v;
}

function configError(message: string, details: Record<string, unknown>): SitekdError {
  return new SitekdError(ErrorCode.CONFIG_INVALID, message, { details });
}
