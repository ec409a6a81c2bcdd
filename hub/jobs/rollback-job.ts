/**
 * One rollback of one site, by hand (the `rollback` command, `sitekd rollback`) or on evidence (the rollout watch,
 * hub/jobs/rollout-watcher.ts): both take this path. The publisher checks the target and publishes the earlier version
 * again, signed, and records it in the site's model history (hub/models/model-publisher.ts `rollback`); this reports
 * the attempt as one JobEvent on `hub/jobs`, `done` or `failed`, as a round's outcome is reported, and says what was
 * published.
 */
import { isSitekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { encode } from '../../shared/protocol/codec';
import type { JobEvent } from '../../shared/protocol/messages';
import { hubJobsTopic } from '../../shared/protocol/topics';
import type { ModelPublisher, RollbackRequest } from '../models/model-publisher';

export type { RollbackRequest } from '../models/model-publisher';

export interface RollbackDeps {
  readonly publisher: Pick<ModelPublisher, 'rollback'>;
  readonly publish: (topic: string, payload: Uint8Array, opts: { qos: 0 | 1; retain: boolean }) => Promise<void>;
  readonly now: () => number;
  readonly newId: () => string;
  readonly log: Logger;
  /** After a rollback is published, e.g. to end the rollout watch of the version it replaced. */
  readonly onRolledBack?: (site: string, from: string, to: string) => Promise<void>;
}

/** What a rollback published: the reply of the `rollback` command. */
export interface RollbackOutcome {
  readonly site: string;
  /** The earlier version, now current again. */
  readonly version: string;
  /** The version it replaced. */
  readonly from: string;
  readonly reason: string;
  readonly trigger: RollbackRequest['trigger'];
  /** The rollback manifest's signed time, sha256 of the artifact, and signing key. */
  readonly createdAt: number;
  readonly sha256: string;
  readonly keyId: string;
  readonly jobId: string;
}

/** Publishes the rollback and its JobEvent. Throws the publisher's coded error (after a `failed` JobEvent). */
export async function runRollback(d: RollbackDeps, site: string, req: RollbackRequest): Promise<RollbackOutcome> {
  const jobId = d.newId();
  const started = d.now();
  const base = { jobId, site, trigger: req.trigger, ts: started } as const;
  let outcome: RollbackOutcome;
  try {
    const m = await d.publisher.rollback(site, req);
    const from = m.rollback?.from ?? '';
    outcome = { site, version: m.version, from, reason: req.reason, trigger: req.trigger, createdAt: m.createdAt, sha256: m.sha256, keyId: m.keyId, jobId };
  } catch (err) {
    const code = isSitekdError(err) ? err.code : 'SITEKD_ERR_JOB_FAILED';
    const message = err instanceof Error ? err.message : String(err);
    d.log.warn('rollback refused', { site, job: jobId, trigger: req.trigger, to: req.to, code, error: message });
    await sendEvent(d, { ...base, ts: d.now(), state: 'failed', message: `${code}: ${message}`.slice(0, 1000) });
    throw err;
  }
  await d.onRolledBack?.(site, outcome.from, outcome.version).catch((err: unknown) => d.log.error('rollback follow-up failed', { site, error: err }));
  const seconds = Math.min(1e7, Math.max(0, (d.now() - started) / 1000));
  await sendEvent(d, { ...base, ts: d.now(), state: 'done', progress: 1, message: req.reason.slice(0, 1000), result: { version: outcome.version, rollbackFrom: outcome.from, seconds } });
  return outcome;
}

async function sendEvent(d: RollbackDeps, e: JobEvent): Promise<void> {
  try {
    await d.publish(hubJobsTopic(), encode(e), { qos: 1, retain: false });
  } catch (err) {
    d.log.warn('cannot publish a job event', { job: e.jobId, error: err });
  }
}
