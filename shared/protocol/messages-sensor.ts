/** User sensor topics → agent: one reading of all channels of a sensor, as a person or a gateway publishes it. */
import { z } from 'zod';
import { bytesToF32, firstNonFiniteF32 } from './codec';
import { Bytes, F32_MAX, MAX_READING_VALUES, TimeMs } from './message-fields';

const ReadingF32 = Bytes.refine((b) => b.byteLength >= 4 && b.byteLength <= MAX_READING_VALUES * 4 && b.byteLength % 4 === 0, {
  error: `must be 1-${MAX_READING_VALUES} float32 LE (a multiple of 4 bytes)`,
}).refine((b) => firstNonFiniteF32(b) < 0, { error: 'holds a NaN or infinite float32' });

/**
 * One reading of all channels of a sensor: JSON `{"ts": …, "values": [ … ]}` as a person types it, or msgpack with
 * `values` either a number array or float32 LE `bin` (`readingValues` turns both into a Float32Array).
 */
export const SensorReadingSchema = z.strictObject({
  ts: TimeMs,
  values: z.union([z.array(z.number().min(-F32_MAX).max(F32_MAX)).min(1).max(MAX_READING_VALUES), ReadingF32]),
});
export type SensorReading = z.infer<typeof SensorReadingSchema>;

/** A reading's values as float32, from either wire form. */
export function readingValues(reading: SensorReading): Float32Array {
  return reading.values instanceof Uint8Array ? bytesToF32(reading.values) : Float32Array.from(reading.values);
}
