/** Agent → : the retained status (birth and last will), predictions and telemetry (docs/protocol.md). */
import { z } from 'zod';
import { MAX_TOPIC_LENGTH } from './topics';
import {
  Count,
  DurationMs,
  Finite,
  Id,
  MAX_CHANNELS,
  MAX_CLASSES,
  MAX_WINDOW_LENGTH,
  maxKeys,
  PROB_SUM_TOLERANCE,
  Rate,
  Text,
  TimeMs,
  Unit,
  Version,
} from './message-fields';

const AgentOnline = z.strictObject({
  state: z.literal('online'),
  agentVersion: Text(64),
  modelVersion: Version.nullable(),
  /** tfjs backend in use: `tensorflow`, `wasm` or `cpu`. */
  backend: Text(32),
  /** The sensor topics the agent reads. */
  sensors: z.array(Text(MAX_TOPIC_LENGTH)).max(64),
  channels: z.number().int().min(1).max(MAX_CHANNELS),
  windowLength: z.number().int().min(8).max(MAX_WINDOW_LENGTH),
  startedAt: TimeMs,
  ts: TimeMs,
  /** The last model update this agent refused or rolled back (the previous model kept serving). */
  lastUpdateError: z
    .strictObject({ code: Text(64), message: Text(1000), version: Text(64), at: TimeMs })
    .optional(),
});
const AgentOffline = z.strictObject({ state: z.literal('offline'), ts: TimeMs.optional() });

/** Retained birth (`online`) and last will (`offline`) on `{site}/{agent}/status`. */
export const AgentStatusSchema = z.discriminatedUnion('state', [AgentOnline, AgentOffline]);
export type AgentStatus = z.infer<typeof AgentStatusSchema>;

export const PredictionSchema = z
  .strictObject({
    site: Id,
    agent: Id,
    /** Time of the window's first reading. */
    windowStart: TimeMs,
    cls: z.number().int().min(0).max(MAX_CLASSES - 1),
    className: Text(64).optional(),
    confidence: Unit,
    probs: z.array(Unit).min(2).max(MAX_CLASSES),
    modelVersion: Version,
    /** Window complete → prediction ready. */
    latencyMs: DurationMs,
  })
  .superRefine((p, ctx) => {
    if (p.cls >= p.probs.length) ctx.addIssue({ code: 'custom', path: ['cls'], message: `must be < probs.length (${p.probs.length})` });
    let sum = 0;
    for (const q of p.probs) sum += q;
    if (Math.abs(sum - 1) > PROB_SUM_TOLERANCE) ctx.addIssue({ code: 'custom', path: ['probs'], message: `must sum to 1, got ${sum}` });
  });
export type Prediction = z.infer<typeof PredictionSchema>;

export const TelemetrySchema = z.strictObject({
  ts: TimeMs,
  windowsPerSec: Rate,
  readingsPerSec: Rate,
  /** Inference latency percentiles since the last telemetry; null before the first window. */
  inferP50Ms: DurationMs.nullable(),
  inferP99Ms: DurationMs.nullable(),
  outboxDepth: Count,
  outboxBytes: Count,
  /**
   * Sample batches (and their bytes) deleted unsent since start because the outbox hit its byte cap (oldest first).
   * Optional: agents before issue 8 do not send them.
   */
  outboxDropped: Count.optional(),
  outboxDroppedBytes: Count.optional(),
  bytesUploaded: Count,
  /** Shift of the live input away from what the model was built on; null until enough windows were seen. */
  driftScore: Finite.nullable(),
  /** `tf.memory().numTensors` and `.numBytes`. */
  tensors: Count,
  tfBytes: Count,
  rssBytes: Count,
  modelVersion: Version.nullable(),
  /**
   * Windows classified in the interval, per predicted class (index = class of the model's output), and the mean
   * top-class probability of those windows (null when none). Optional: agents before issue 9 do not send them.
   */
  classCounts: z.array(Count).max(MAX_CLASSES).optional(),
  meanConfidence: Unit.nullable().optional(),
  /** Messages dropped since start, by error code. */
  dropped: z.record(Text(64), Count).refine(maxKeys(64), 'at most 64 codes'),
});
export type Telemetry = z.infer<typeof TelemetrySchema>;
