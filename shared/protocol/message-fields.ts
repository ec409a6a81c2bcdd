/**
 * Building blocks of the payload schemas in messages-*.ts: ids, times, bounded numbers and strings, binary fields, and
 * the protocol's size limits. None of them is a payload, so none is named `…Schema` (the docs test treats every
 * `…Schema` that messages.ts exports as one).
 */
import { z } from 'zod';
import { firstNonFiniteF32 } from './codec';
import { ID_PATTERN } from './topics';

/** Latest accepted time: 1e13 ms is in the year 2286. */
const MAX_TIME_MS = 1e13;
/** The largest finite float32: a reading beyond it would become Infinity in the model's input. */
export const F32_MAX = 3.4028234663852886e38;
/** The largest model a manifest may describe (256 MiB; students are KB–MB, teachers a few MB). */
export const MAX_MODEL_BYTES = 256 * 1024 * 1024;
export const MAX_CLASSES = 1000;
export const MAX_CHANNELS = 1024;
export const MAX_WINDOW_LENGTH = 1_000_000;
export const MAX_BATCH_WINDOWS = 4096;
/** Most values in one sensor reading. */
export const MAX_READING_VALUES = 1024;
/** How far a probability vector's sum may be from 1 (float32 softmax over ≤1000 classes stays far inside). */
export const PROB_SUM_TOLERANCE = 1e-3;

export const Id = z.string().regex(ID_PATTERN, 'must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$');
/** A model version: also a topic level (`{site}/model/{version}/chunk/{i}`). */
export const Version = Id;
export const TimeMs = z.number().min(0).max(MAX_TIME_MS);
export const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const Rate = z.number().min(0).max(1e9);
export const DurationMs = z.number().min(0).max(86_400_000);
export const Unit = z.number().min(0).max(1);
export const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
export const Text = (max: number): z.ZodString => z.string().min(1).max(max);
export const Bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { error: 'must be binary (msgpack bin)' });
export const Finite = z.number().min(-1e9).max(1e9);
/** An error as it travels: a stable code (usually a `SITEKD_ERR_*`) and a message for people. */
export const ErrorInfo = z.strictObject({ code: Text(64), message: z.string().max(1000) });

export function maxKeys(max: number) {
  return (r: Record<string, unknown>): boolean => Object.keys(r).length <= max;
}

/** Adds an issue when `bytes` is not `expected` long or holds a non-finite float32. */
export function checkF32(ctx: z.core.$RefinementCtx<unknown>, bytes: Uint8Array, expected: number, path: string): void {
  if (bytes.byteLength !== expected) {
    ctx.addIssue({ code: 'custom', path: [path], message: `must be ${expected} bytes, got ${bytes.byteLength}` });
    return;
  }
  const bad = firstNonFiniteF32(bytes);
  if (bad >= 0) ctx.addIssue({ code: 'custom', path: [path], message: `float32 #${bad} is NaN or infinite` });
}
