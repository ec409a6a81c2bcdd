/** Agent → hub: returned windows with the student's logits; hub → agent: the ack that lets the agent delete them. */
import { z } from 'zod';
import {
  Bytes,
  checkF32,
  ErrorInfo,
  Id,
  MAX_BATCH_WINDOWS,
  MAX_CHANNELS,
  MAX_CLASSES,
  MAX_WINDOW_LENGTH,
  TimeMs,
  Version,
} from './message-fields';

/**
 * How the agent chose each window (agent/sample-selector.ts), by wire code: 0 `uniform` (a uniform random sample of
 * the windows it saw: representative of the site, what the hub's gate judges on), 1 `uncertain` (among the
 * windows its student was least sure about: informative for training, but biased towards class boundaries).
 */
export const SELECTED_BY = ['uniform', 'uncertain'] as const;
export type SelectedBy = (typeof SELECTED_BY)[number];

export const SampleBatchSchema = z
  .strictObject({
    /** Idempotency key: the hub stores a (site, agent, batchId) once, however often it arrives. */
    batchId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be 8-64 of [A-Za-z0-9_-]'),
    site: Id,
    agent: Id,
    /** The student that produced `logits`. */
    modelVersion: Version,
    channels: z.number().int().min(1).max(MAX_CHANNELS),
    windowLength: z.number().int().min(8).max(MAX_WINDOW_LENGTH),
    numClasses: z.number().int().min(2).max(MAX_CLASSES),
    n: z.number().int().min(1).max(MAX_BATCH_WINDOWS),
    /** float32 LE, `[n, windowLength, channels]` (channels-last): `x[(i * L + t) * C + c]`. */
    windows: Bytes,
    /** float32 LE, `[n, numClasses]`: the student's logits (pre-softmax). */
    logits: Bytes,
    windowStarts: z.array(TimeMs).max(MAX_BATCH_WINDOWS),
    /** Per window, a code of SELECTED_BY. Optional: batches of agents that predate it mean "unknown". */
    selectedBy: z.array(z.union([z.literal(0), z.literal(1)])).max(MAX_BATCH_WINDOWS).optional(),
    createdAt: TimeMs,
  })
  .superRefine((b, ctx) => {
    checkF32(ctx, b.windows, b.n * b.windowLength * b.channels * 4, 'windows');
    checkF32(ctx, b.logits, b.n * b.numClasses * 4, 'logits');
    if (b.windowStarts.length !== b.n) {
      ctx.addIssue({ code: 'custom', path: ['windowStarts'], message: `must have n = ${b.n} entries, got ${b.windowStarts.length}` });
    }
    if (b.selectedBy !== undefined && b.selectedBy.length !== b.n) {
      ctx.addIssue({ code: 'custom', path: ['selectedBy'], message: `must have n = ${b.n} entries, got ${b.selectedBy.length}` });
    }
  });
export type SampleBatch = z.infer<typeof SampleBatchSchema>;

export const SampleAckSchema = z.strictObject({
  batchId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  /** Windows of this batch the hub holds (n; fewer only if retention caps cut it). */
  stored: z.number().int().min(0).max(MAX_BATCH_WINDOWS),
  /** The hub had this batch already; nothing new was stored. */
  duplicate: z.boolean(),
  /** The hub refuses the batch for good (e.g. its shape does not match the site); the agent deletes it anyway. */
  error: ErrorInfo.optional(),
  /**
   * With `error.code` SITEKD_ERR_HUB_BUSY: the hub did not take the batch because its ingest is full; the agent keeps
   * it and sends it again after this many milliseconds (docs/protocol.md "Backpressure").
   */
  retryAfterMs: z.number().int().min(0).max(3_600_000).optional(),
});
export type SampleAck = z.infer<typeof SampleAckSchema>;
