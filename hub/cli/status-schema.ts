/**
 * The parts of the hub's `status` and `sites` replies that `sitekd status | models | jobs` read, checked with zod
 * (the reply's `result` is an open record on the wire: docs/protocol.md "Commands"). Objects are not strict: a newer
 * hub may add fields, which these commands ignore; a field they need that is missing or of the wrong type is
 * MSG_SCHEMA.
 */
import { z } from 'zod';
import { ErrorCode, SitekdError } from '../../shared/errors';

const Num = z.number().finite();
const Str = z.string().max(10_000);

const AgentSchema = z.object({
  agent: Str,
  state: z.enum(['online', 'offline', 'stale']),
  modelVersion: Str.nullable(),
  agentVersion: Str.nullable().optional(),
  backend: Str.nullable().optional(),
  lastSeenAt: Num,
});

const TelemetrySchema = z.object({
  ageSeconds: Num,
  windowsPerSec: Num,
  inferP99Ms: Num.nullable(),
  outboxDepth: Num,
  driftScore: Num.nullable(),
  modelVersion: Str.nullable(),
});

const AlertSchema = z.object({ kind: Str, site: Str, agent: Str.optional(), message: Str });

const RoundSchema = z.object({
  jobId: Str,
  outcome: Str,
  trigger: Str,
  finishedAt: Num,
  seconds: Num.nullable(),
  version: Str.nullable(),
  candidateAgreement: Num.nullable(),
  currentAgreement: Num.nullable(),
  windows: Num.nullable(),
  heldOut: Num.nullable(),
  reasons: z.array(Str),
  error: z.object({ code: Str, message: Str }).nullable(),
});

const ModelRecordSchema = z.object({
  version: Str,
  at: Num,
  kind: Str,
  from: Str.optional(),
  reason: Str.optional(),
  trigger: Str.optional(),
  rollout: Str.optional(),
});

export const SiteDetailsSchema = z.object({
  /** With several hubs: the one serving the site (set by `sitekd status` when it merges their replies). */
  hub: Str.optional(),
  site: Str,
  modelVersion: Str.nullable(),
  agentsOnline: Num,
  windowsStored: Num,
  newWindows: Num,
  lastRedistill: z.object({ at: Num, outcome: Str, modelVersion: Str.optional(), code: Str.optional(), message: Str.optional() }).nullable(),
  models: z.array(ModelRecordSchema),
  agents: z.array(AgentSchema),
  // From hub/ops/hub-ops.ts; a hub from before it sends none of these.
  telemetry: z.record(Str, TelemetrySchema.nullable()).default({}),
  lastRound: RoundSchema.nullable().default(null),
  alerts: z.array(AlertSchema).default([]),
});
export type SiteDetails = z.infer<typeof SiteDetailsSchema>;

export const SitesReplySchema = z.object({ sites: z.array(SiteDetailsSchema) });

export const HubStatusReplySchema = z.object({
  state: z.literal('online'),
  hubVersion: Str,
  startedAt: Num,
  ts: Num,
  teacherVersion: Str.nullable(),
  /** One of several hubs (`--hub-id`). */
  hubId: Str.optional(),
  jobs: z.object({ running: Str.nullable(), queued: Num }),
  alerts: z.array(AlertSchema).default([]),
});
export type HubStatusReply = z.infer<typeof HubStatusReplySchema>;

/** Parses a reply's result; MSG_SCHEMA naming the first problem. */
export function parseReply<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new SitekdError(ErrorCode.MSG_SCHEMA, `the hub's ${what} reply is not understood: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
}
