/**
 * Wire forms of one simulated sensor reading, the three an agent's sensor parser reads (agent/sensor-parser.ts):
 * - `json`: `{"ts":1700000000000,"values":[…9 numbers]}`, exactly what someone would type into `mosquitto_pub`;
 * - `csv`: one line `ts,v1,…,v9` (no header, no trailing newline);
 * - `msgpack`: a plain map `{ts, values}` with `values` a number array (shared/protocol/codec.ts `encode`).
 * The values are float32 (the data files' precision); they are written in the shortest decimal form that reads back to
 * the same float32, so `0.1f` travels as `0.1`, not as `0.10000000149011612`.
 */
import { encode } from '../shared/protocol/codec';

export type ReadingFormat = 'json' | 'csv' | 'msgpack';
export const READING_FORMATS: readonly ReadingFormat[] = ['json', 'csv', 'msgpack'];

const utf8 = new TextEncoder();

/** The shortest decimal string whose float32 rounding is `v`'s (v is a float32 value; -0 becomes 0). */
export function f32ToString(v: number): string {
  if (v === 0) return '0';
  for (let p = 1; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(Number(v.toPrecision(9)));
}

/** The shortest number that rounds to the same float32 as `v`. */
export function f32Short(v: number): number {
  return Number(f32ToString(Math.fround(v)));
}

/** One reading as the bytes of an MQTT message. */
export function formatReading(format: ReadingFormat, ts: number, values: ArrayLike<number>): Uint8Array {
  const parts: string[] = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) parts[i] = f32ToString(Math.fround(values[i] as number));
  switch (format) {
    case 'json':
      return utf8.encode(`{"ts":${ts},"values":[${parts.join(',')}]}`);
    case 'csv':
      return utf8.encode(`${ts},${parts.join(',')}`);
    case 'msgpack':
      return encode({ ts, values: parts.map(Number) });
  }
}
