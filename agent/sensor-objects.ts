/**
 * JSON and msgpack sensor messages: a `{ts, values}` or `{ts, channels}` object, or an array of them. `values` may also
 * be a typed array or raw little-endian float32 `bin` (docs/architecture.md: float arrays travel as bin).
 */
import type { CompiledSource } from './sensor-sources';
import { isBeyondFloat32, parseTs, Reject, type Reading } from './sensor-reading';

/** The readings of a decoded message: one object, or an array of at most `maxReadings`. */
export function readingsFromDocument(src: CompiledSource, doc: unknown, maxReadings: number): Reading[] | Reject {
  const items = Array.isArray(doc) ? doc : [doc];
  if (items.length === 0) return new Reject('shape', 'empty array');
  if (items.length > maxReadings) return new Reject('count', `${items.length} readings in one message`);
  const out: Reading[] = [];
  for (const item of items) {
    const r = fromObject(src, item);
    if (r instanceof Reject) return r;
    out.push(r);
  }
  return out;
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
    if (isBeyondFloat32(v)) return new Reject('range', `value ${i} is beyond the float32 range`);
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
    if (isBeyondFloat32(v)) return new Reject('range', `channel ${name} is beyond the float32 range`);
    out[i] = v;
  }
  return out;
}
