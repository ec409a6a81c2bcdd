/**
 * A site's model history and its rollout watch, as the site registry persists them (hub/sites/site-registry.ts), with
 * the pure rules read from them:
 *  - every version the hub put on the broker for the site, oldest first: published by a round (or as the generic
 *    student), or published again by a rollback (with the version it replaced and why); a round's record also
 *    says how its rollout watch ended;
 *  - the highest version number ever published, which a rollback does not lower, so the next round never reuses
 *    the number of a version rolled back from (hub/models/versioning.ts);
 *  - the rollout being watched, if any (hub/jobs/rollout-watcher.ts), so a restarted hub goes on watching it.
 */
import { z } from 'zod';
import { versionNumber } from '../models/versioning';

/** Records kept per site (oldest dropped first): enough to find a way back, bounded like every persisted list. */
export const MAX_MODEL_RECORDS = 100;

export const ROLLOUT_OUTCOMES = ['watching', 'confirmed', 'rolled-back', 'inconclusive', 'superseded'] as const;
export type RolloutOutcome = (typeof ROLLOUT_OUTCOMES)[number];

export const ModelRecordSchema = z.strictObject({
  version: z.string().min(1).max(64),
  at: z.number(),
  /** `published`: a new version (a round, or the generic student); `rollback`: an earlier version published again. */
  kind: z.enum(['published', 'rollback']),
  /** A rollback: the version it replaced. */
  from: z.string().min(1).max(64).optional(),
  reason: z.string().max(1000).optional(),
  /** A rollback: who decided it (`command`: by hand, `evidence`: the rollout watch). */
  trigger: z.enum(['command', 'evidence']).optional(),
  /** A round's version: how the rollout watch of it ended (or that it is still watched). */
  rollout: z.enum(ROLLOUT_OUTCOMES).optional(),
});
export type ModelRecord = z.infer<typeof ModelRecordSchema>;

export const RolloutWatchSchema = z.strictObject({
  /** The version a round published, under watch. */
  version: z.string().min(1).max(64),
  /** The version it replaced: what a rollback on evidence goes back to. */
  previous: z.string().min(1).max(64),
  /** The sample store's `lastSeq(site)` at publication: later windows are post-rollout, earlier ones are not. */
  sinceSeq: z.number().int().min(0),
  startedAt: z.number(),
  /** Decisions taken so far (hub/jobs/rollout-watch.ts `WatchPlan.thresholds`). */
  looks: z.number().int().min(0).default(0),
});
export type RolloutWatch = z.infer<typeof RolloutWatchSchema>;

/** The history with `record` appended, oldest records dropped beyond MAX_MODEL_RECORDS. */
export function appendRecord(history: readonly ModelRecord[], record: ModelRecord): ModelRecord[] {
  return [...history, record].slice(-MAX_MODEL_RECORDS);
}

/** The history with the last record of `version` marked with a rollout outcome. */
export function markRollout(history: readonly ModelRecord[], version: string, outcome: RolloutOutcome): ModelRecord[] {
  let i = history.length - 1;
  while (i >= 0 && !((history[i] as ModelRecord).version === version && (history[i] as ModelRecord).kind === 'published')) i--;
  return i < 0 ? [...history] : history.map((r, k) => (k === i ? { ...r, rollout: outcome } : r));
}

/** The highest version number the site ever had: a rollback lowers the current version, never this. */
export function highestNumber(history: readonly ModelRecord[], persisted: number | undefined, current: string | undefined): number {
  return Math.max(persisted ?? 0, versionNumber(current), ...history.map((r) => versionNumber(r.version)));
}

/** Versions the site was rolled back from: a rollback without an explicit target never goes back to one. */
export function rolledBackFrom(history: readonly ModelRecord[]): Set<string> {
  return new Set(history.flatMap((r) => (r.kind === 'rollback' && r.from !== undefined ? [r.from] : [])));
}

/**
 * The version the site served before `current`: the newest record of another version, skipping versions it was
 * rolled back from. Undefined when there is none.
 */
export function servedBefore(history: readonly ModelRecord[], current: string | undefined): string | undefined {
  const bad = rolledBackFrom(history);
  for (let i = history.length - 1; i >= 0; i--) {
    const v = (history[i] as ModelRecord).version;
    if (v !== current && !bad.has(v)) return v;
  }
  return undefined;
}

/** The newest `count` distinct versions of the history, newest first (what the hub keeps on disk). */
export function recentVersions(history: readonly ModelRecord[], count: number): string[] {
  const out: string[] = [];
  for (let i = history.length - 1; i >= 0 && out.length < count; i--) {
    const v = (history[i] as ModelRecord).version;
    if (!out.includes(v)) out.push(v);
  }
  return out;
}
