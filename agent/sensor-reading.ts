/**
 * One timestamped reading of a sensor, and the rules every wire format shares: what a timestamp may be, what counts as
 * a number, and how a rejected message is described (`Reject`, turned into READING_INVALID by the parser).
 */

/** One reading of one source: `values[i]` feeds model channel `sourceChannels[source][i]`. */
export interface Reading {
  /** Epoch milliseconds. */
  ts: number;
  values: Float64Array;
}

export type ReadingRejectReason = 'topic' | 'decode' | 'shape' | 'ts' | 'nonfinite' | 'range' | 'count';

/**
 * The largest finite float32. Windows are float32: a reading beyond this becomes ±Infinity there and every window that
 * holds it fails inference, so it is refused here with its own code (READING_OUT_OF_RANGE), not let in.
 */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** A finite value that float32 cannot hold. */
export function isBeyondFloat32(v: number): boolean {
  return v > FLOAT32_MAX || v < -FLOAT32_MAX;
}

// Date's own range (ECMA-262 §21.4.1.1): anything beyond is certainly not a timestamp.
const MAX_TS_MS = 8.64e15;
export const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
export const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
export const NONFINITE_WORD = /^[+-]?(?:nan|inf|infinity)$/i;

/** A rejected message, tagged with the reason callers count by. */
export class Reject {
  constructor(
    readonly reason: ReadingRejectReason,
    readonly message: string,
    readonly line?: number,
  ) {}
}

/** Epoch milliseconds (a number, bigint, Date, decimal string) or an ISO 8601 date-time with a `T`. */
export function parseTs(raw: unknown): number | Reject {
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
