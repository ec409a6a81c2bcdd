/**
 * One zod schema per payload of the wire protocol (docs/protocol.md has a `### Name` section for each `NameSchema`
 * exported here; test/unit/protocol-docs.test.ts keeps both in step).
 *
 * Rules for every schema: strict objects (an unknown field is an error, so a typo is never silently ignored); every
 * number finite and bounded (zod 4's `z.number()` already refuses NaN and ±Infinity); every string and array bounded;
 * binary fields are `Uint8Array` (msgpack `bin`) checked for length and, when they hold float32, for NaN/Infinity.
 * Timestamps are milliseconds since the Unix epoch, as numbers.
 *
 * Only payload schemas end in `Schema` here: the docs test treats every such export as a payload.
 */
import { z } from 'zod';
import { CnnSpecSchema } from '../ml/model-spec';
import { bytesToF32, firstNonFiniteF32 } from './codec';
import { ID_PATTERN, isValidPublishTopic, MAX_CHUNKS, MAX_TOPIC_LENGTH, type TopicKind } from './topics';

// ---------------------------------------------------------------------------------------------------------------
// Building blocks (not exported as `…Schema`: they are not payloads)

/** Latest accepted time: 1e13 ms is in the year 2286. */
const MAX_TIME_MS = 1e13;
/** The largest finite float32: a reading beyond it would become Infinity in the model's input. */
const F32_MAX = 3.4028234663852886e38;
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

const Id = z.string().regex(ID_PATTERN, 'must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$');
/** A model version: also a topic level (`{site}/model/{version}/chunk/{i}`). */
const Version = Id;
const TimeMs = z.number().min(0).max(MAX_TIME_MS);
const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Rate = z.number().min(0).max(1e9);
const DurationMs = z.number().min(0).max(86_400_000);
const Unit = z.number().min(0).max(1);
const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
const Text = (max: number): z.ZodString => z.string().min(1).max(max);
const Bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { error: 'must be binary (msgpack bin)' });
const Finite = z.number().min(-1e9).max(1e9);
/** An error as it travels: a stable code (usually a `SITEKD_ERR_*`) and a message for people. */
const ErrorInfo = z.strictObject({ code: Text(64), message: z.string().max(1000) });

function maxKeys(max: number) {
  return (r: Record<string, unknown>): boolean => Object.keys(r).length <= max;
}

/** Adds an issue when `bytes` is not `expected` long or holds a non-finite float32. */
function checkF32(ctx: z.core.$RefinementCtx<unknown>, bytes: Uint8Array, expected: number, path: string): void {
  if (bytes.byteLength !== expected) {
    ctx.addIssue({ code: 'custom', path: [path], message: `must be ${expected} bytes, got ${bytes.byteLength}` });
    return;
  }
  const bad = firstNonFiniteF32(bytes);
  if (bad >= 0) ctx.addIssue({ code: 'custom', path: [path], message: `float32 #${bad} is NaN or infinite` });
}

// ---------------------------------------------------------------------------------------------------------------
// Agent → : status, predictions, telemetry

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
  bytesUploaded: Count,
  /** Shift of the live input away from what the model was built on; null until enough windows were seen. */
  driftScore: Finite.nullable(),
  /** `tf.memory().numTensors` and `.numBytes`. */
  tensors: Count,
  tfBytes: Count,
  rssBytes: Count,
  modelVersion: Version.nullable(),
  /** Messages dropped since start, by error code. */
  dropped: z.record(Text(64), Count).refine(maxKeys(64), 'at most 64 codes'),
});
export type Telemetry = z.infer<typeof TelemetrySchema>;

// ---------------------------------------------------------------------------------------------------------------
// Agent → hub: returned windows; hub → agent: the ack

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
    createdAt: TimeMs,
  })
  .superRefine((b, ctx) => {
    checkF32(ctx, b.windows, b.n * b.windowLength * b.channels * 4, 'windows');
    checkF32(ctx, b.logits, b.n * b.numClasses * 4, 'logits');
    if (b.windowStarts.length !== b.n) {
      ctx.addIssue({ code: 'custom', path: ['windowStarts'], message: `must have n = ${b.n} entries, got ${b.windowStarts.length}` });
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
});
export type SampleAck = z.infer<typeof SampleAckSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Hub → : model manifest

export const ModelManifestSchema = z
  .strictObject({
    site: Id,
    version: Version,
    /** sha256 of the whole model artifact (the bytes of all chunks, in order). */
    sha256: Hex64,
    size: z.number().int().min(1).max(MAX_MODEL_BYTES),
    chunkSize: z.number().int().min(1).max(MAX_MODEL_BYTES),
    chunks: z.number().int().min(1).max(MAX_CHUNKS),
    chunkSha256: z.array(Hex64).min(1).max(MAX_CHUNKS),
    spec: CnnSpecSchema,
    algorithm: Text(32),
    metrics: z.record(Text(64), Finite).refine(maxKeys(64), 'at most 64 metrics'),
    teacherVersion: Version.optional(),
    createdAt: TimeMs,
    /** First 16 hex digits of sha256(raw Ed25519 public key). */
    keyId: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex digits'),
    /** Ed25519 over the canonical JSON of every other field (shared/protocol/signing.ts). */
    signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be a base64 Ed25519 signature (64 bytes)'),
  })
  .superRefine((m, ctx) => {
    const expected = Math.ceil(m.size / m.chunkSize);
    if (m.chunks !== expected) {
      ctx.addIssue({ code: 'custom', path: ['chunks'], message: `must be ceil(size / chunkSize) = ${expected}` });
    }
    if (m.chunkSha256.length !== m.chunks) {
      ctx.addIssue({ code: 'custom', path: ['chunkSha256'], message: `must have one hash per chunk (${m.chunks})` });
    }
  });
export type ModelManifest = z.infer<typeof ModelManifestSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Hub → : status and jobs

const SiteSummary = z.strictObject({
  site: Id,
  modelVersion: Version.nullable(),
  agentsOnline: Count,
  windowsStored: Count,
  lastRedistillAt: TimeMs.nullable(),
});

const HubOnline = z.strictObject({
  state: z.literal('online'),
  hubVersion: Text(64),
  startedAt: TimeMs,
  ts: TimeMs,
  teacherVersion: Version.nullable(),
  sites: z.array(SiteSummary).max(10_000),
  jobs: z.strictObject({ running: Id.nullable(), queued: Count }),
});
const HubOffline = z.strictObject({ state: z.literal('offline'), ts: TimeMs.optional() });

/** Retained on `hub/status`; the hub's last will is `{state: 'offline'}`. */
export const HubStatusSchema = z.discriminatedUnion('state', [HubOnline, HubOffline]);
export type HubStatus = z.infer<typeof HubStatusSchema>;

export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'skipped', 'rejected'] as const;
export const JOB_TRIGGERS = ['schedule', 'samples', 'command', 'startup'] as const;

export const JobEventSchema = z.strictObject({
  jobId: Id,
  site: Id,
  state: z.enum(JOB_STATES),
  trigger: z.enum(JOB_TRIGGERS),
  ts: TimeMs,
  progress: Unit.optional(),
  message: z.string().max(1000).optional(),
  result: z
    .strictObject({
      /** The student published (state `done`). */
      version: Version.optional(),
      /** Agreement with the teacher on held-out windows of the site: candidate vs current student. */
      candidateAgreement: Unit.optional(),
      currentAgreement: Unit.optional(),
      windows: Count.optional(),
      seconds: z.number().min(0).max(1e7).optional(),
    })
    .optional(),
});
export type JobEvent = z.infer<typeof JobEventSchema>;

// ---------------------------------------------------------------------------------------------------------------
// → hub: commands; hub → : replies

export const HUB_COMMANDS = ['redistill', 'status', 'sites'] as const;

export const HubCommandSchema = z
  .strictObject({
    /** Correlation id, echoed in the reply (works on MQTT 3.1.1: no responseTopic/correlationData needed). */
    id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9_.:-]'),
    cmd: z.enum(HUB_COMMANDS),
    site: Id.optional(),
    /** Where to reply; no wildcards, no `$`. */
    replyTo: z.string().refine(isValidPublishTopic, `must be a topic without + # or a leading $, at most ${MAX_TOPIC_LENGTH} bytes`).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.cmd === 'redistill' && c.site === undefined) ctx.addIssue({ code: 'custom', path: ['site'], message: 'redistill needs a site' });
  });
export type HubCommand = z.infer<typeof HubCommandSchema>;

export const HubReplySchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
    ok: z.boolean(),
    result: z.record(z.string().max(64), z.unknown()).optional(),
    error: ErrorInfo.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.ok && r.error !== undefined) ctx.addIssue({ code: 'custom', path: ['error'], message: 'must be absent when ok' });
    if (!r.ok && r.error === undefined) ctx.addIssue({ code: 'custom', path: ['error'], message: 'is required when not ok' });
  });
export type HubReply = z.infer<typeof HubReplySchema>;

// ---------------------------------------------------------------------------------------------------------------
// User sensor topics → agent

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

// ---------------------------------------------------------------------------------------------------------------
// Which payload each topic carries

/** The schema of each topic kind's payload; `raw` = plain bytes (a model chunk), checked by `ChunkAssembler`. */
export const TOPIC_PAYLOADS = {
  status: AgentStatusSchema,
  predictions: PredictionSchema,
  telemetry: TelemetrySchema,
  samples: SampleBatchSchema,
  samplesAck: SampleAckSchema,
  model: ModelManifestSchema,
  modelChunk: 'raw',
  hubStatus: HubStatusSchema,
  hubJobs: JobEventSchema,
  hubCmd: HubCommandSchema,
  reply: HubReplySchema,
} as const satisfies { readonly [K in TopicKind]: z.ZodType | 'raw' };
