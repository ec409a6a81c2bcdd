/** Hub → : the retained hub status and job events; → hub: commands, and the hub's replies to them. */
import { z } from 'zod';
import { isValidPublishTopic, MAX_TOPIC_LENGTH } from './topics';
import { Count, ErrorInfo, Id, Text, TimeMs, Unit, Version } from './message-fields';

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
  /** One of several hubs on the broker (`--hub-id`): its id; absent for a hub alone. */
  hubId: Id.optional(),
  teacherVersion: Version.nullable(),
  sites: z.array(SiteSummary).max(10_000),
  jobs: z.strictObject({ running: Id.nullable(), queued: Count }),
});
const HubOffline = z.strictObject({ state: z.literal('offline'), ts: TimeMs.optional() });

/** Retained on `hub/status`; the hub's last will is `{state: 'offline'}`. */
export const HubStatusSchema = z.discriminatedUnion('state', [HubOnline, HubOffline]);
export type HubStatus = z.infer<typeof HubStatusSchema>;

export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'skipped', 'rejected'] as const;
/** `evidence`: the hub's own rollout watch (hub/jobs/rollout-watch.ts) rolled a site back. */
export const JOB_TRIGGERS = ['schedule', 'samples', 'command', 'startup', 'evidence'] as const;

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
      /** On a rollback: the version it replaced (`version` is the earlier one, published again). */
      rollbackFrom: Version.optional(),
      /** Agreement with the gate's reference on held-out windows of the site: candidate vs current student. */
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

export const HUB_COMMANDS = ['redistill', 'rollback', 'status', 'sites'] as const;

export const HubCommandSchema = z
  .strictObject({
    /** Correlation id, echoed in the reply (works on MQTT 3.1.1: no responseTopic/correlationData needed). */
    id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9_.:-]'),
    cmd: z.enum(HUB_COMMANDS),
    site: Id.optional(),
    /** `rollback` only: the version to go back to (default: the one the site served before its current one). */
    to: Version.optional(),
    /** `rollback` only: why, for the signed manifest, the site's model history and the log. */
    reason: Text(500).optional(),
    /** Where to reply; no wildcards, no `$`. */
    replyTo: z.string().refine(isValidPublishTopic, `must be a topic without + # or a leading $, at most ${MAX_TOPIC_LENGTH} bytes`).optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.cmd === 'redistill' || c.cmd === 'rollback') && c.site === undefined) ctx.addIssue({ code: 'custom', path: ['site'], message: `${c.cmd} needs a site` });
    for (const k of ['to', 'reason'] as const) {
      if (c[k] !== undefined && c.cmd !== 'rollback') ctx.addIssue({ code: 'custom', path: [k], message: 'only for rollback' });
    }
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
