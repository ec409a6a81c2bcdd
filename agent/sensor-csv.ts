/**
 * CSV sensor messages: lines `ts,v1,v2,…`, several per message, with an optional header line `ts,acc_x,acc_y,…` that
 * maps columns by name (serial bridges). One bad line rejects the whole message.
 */
import type { CompiledSource } from './sensor-sources';
import { DECIMAL, isBeyondFloat32, ISO_DATE_TIME, NONFINITE_WORD, parseTs, Reject, type Reading } from './sensor-reading';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The readings of a CSV message: at most `maxReadings` data lines, blank lines and `#` comments skipped. */
export function readingsFromCsv(src: CompiledSource, payload: Uint8Array, maxReadings: number): Reading[] | Reject {
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
    if (out.length >= maxReadings) return new Reject('count', `more than ${maxReadings} CSV lines`, i + 1);
    const r = csvReading(src.width, slot, fields);
    if (r instanceof Reject) return new Reject(r.reason, r.message, i + 1);
    out.push(r);
  }
  return out.length > 0 ? out : new Reject('shape', 'no CSV data lines');
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
    if (isBeyondFloat32(v)) return new Reject('range', `column ${c + 2} is beyond the float32 range`);
    values[at] = v;
  }
  return { ts, values };
}
