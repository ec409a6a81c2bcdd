/**
 * One zod schema per payload of the wire protocol (docs/protocol.md has a `### Name` section for each `NameSchema`
 * exported here; test/unit/protocol-docs.test.ts keeps both in step). This module is the list of payloads every
 * sender and receiver imports; the schemas live in one file per group of topics:
 *  - messages-agent.ts    agent → : status, predictions, telemetry;
 *  - messages-samples.ts  agent → hub: returned windows; hub → agent: the ack;
 *  - messages-model.ts    hub → : the signed model manifest;
 *  - messages-hub.ts      hub → : status and job events; → hub: commands, and the replies;
 *  - messages-sensor.ts   user sensor topics → agent: a reading;
 *  - message-fields.ts    the building blocks (ids, times, bounded numbers, binary fields) and size limits.
 *
 * Rules for every schema: strict objects (an unknown field is an error, so a typo is never silently ignored); every
 * number finite and bounded (zod 4's `z.number()` already refuses NaN and ±Infinity); every string and array bounded;
 * binary fields are `Uint8Array` (msgpack `bin`) checked for length and, when they hold float32, for NaN/Infinity.
 * Timestamps are milliseconds since the Unix epoch, as numbers.
 *
 * Only payload schemas end in `Schema` here: the docs test treats every such export as a payload.
 */
import type { z } from 'zod';
import { AgentStatusSchema, PredictionSchema, TelemetrySchema } from './messages-agent';
import { HubCommandSchema, HubReplySchema, HubStatusSchema, JobEventSchema } from './messages-hub';
import { ModelManifestSchema } from './messages-model';
import { SampleAckSchema, SampleBatchSchema } from './messages-samples';
import type { TopicKind } from './topics';

export {
  MAX_BATCH_WINDOWS,
  MAX_CHANNELS,
  MAX_CLASSES,
  MAX_MODEL_BYTES,
  MAX_READING_VALUES,
  MAX_WINDOW_LENGTH,
  PROB_SUM_TOLERANCE,
} from './message-fields';
export { AgentStatusSchema, PredictionSchema, TelemetrySchema, type AgentStatus, type Prediction, type Telemetry } from './messages-agent';
export { SELECTED_BY, SampleAckSchema, SampleBatchSchema, type SampleAck, type SampleBatch, type SelectedBy } from './messages-samples';
export { ModelManifestSchema, type ModelManifest } from './messages-model';
export {
  HUB_COMMANDS,
  HubCommandSchema,
  HubReplySchema,
  HubStatusSchema,
  JOB_STATES,
  JOB_TRIGGERS,
  JobEventSchema,
  type HubCommand,
  type HubReply,
  type HubStatus,
  type JobEvent,
} from './messages-hub';
export { readingValues, SensorReadingSchema, type SensorReading } from './messages-sensor';

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
