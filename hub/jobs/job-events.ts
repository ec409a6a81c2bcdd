/**
 * JobQueue transitions → JobEvents on `sitekd/v1/hub/jobs` (docs/protocol.md JobEvent). The queue knows `done`,
 * `failed` and `skipped`; a round whose candidate failed the gate is `done` for the queue and `rejected` on the wire.
 */
import { encodeJson } from '../../shared/protocol/codec';
import { JOB_TRIGGERS, type JobEvent as WireJobEvent } from '../../shared/protocol/messages';
import { hubJobsTopic } from '../../shared/protocol/topics';
import type { JobEvent } from './job-queue';
import type { Logger } from '../../shared/log';
import type { RedistillResult } from './redistill-job';
import type { SiteRegistry } from '../sites/site-registry';

export type JobTrigger = (typeof JOB_TRIGGERS)[number];

export interface JobEventDeps {
  readonly publish: (topic: string, payload: Uint8Array, opts: { qos: 0 | 1; retain: boolean }) => Promise<void>;
  readonly now: () => number;
  readonly log: Logger;
  readonly registry: Pick<SiteRegistry, 'recordRedistill' | 'lastRedistill'>;
}

/** The wire event for a queue event. */
export function toWireJobEvent(e: JobEvent<RedistillResult>, ts: number): WireJobEvent {
  const j = e.job;
  const trigger: JobTrigger = (JOB_TRIGGERS as readonly string[]).includes(j.trigger) ? (j.trigger as JobTrigger) : 'command';
  const base = { jobId: j.id, site: j.site, trigger, ts };
  switch (e.type) {
    case 'queued':
      return { ...base, state: 'queued' };
    case 'started':
      return { ...base, state: 'running', progress: 0 };
    case 'progress':
      return { ...base, state: 'running', progress: j.progress, ...(j.note !== undefined ? { message: j.note.slice(0, 1000) } : {}) };
    case 'skipped':
      return { ...base, state: 'skipped', ...(j.skipReason !== undefined ? { message: j.skipReason.slice(0, 1000) } : {}) };
    case 'failed':
      return { ...base, state: 'failed', message: `${j.error?.code ?? 'SITEKD_ERR_JOB_FAILED'}: ${j.error?.message ?? ''}`.slice(0, 1000) };
    case 'done': {
      const r = j.result;
      return {
        ...base,
        state: r?.outcome === 'published' ? 'done' : 'rejected',
        progress: 1,
        ...(r !== undefined ? { message: r.reasons.join('; ').slice(0, 1000) } : {}),
        ...(r !== undefined
          ? {
              result: {
                ...(r.version !== undefined ? { version: r.version } : {}),
                candidateAgreement: clamp01(r.candidateAgreement),
                currentAgreement: clamp01(r.currentAgreement),
                windows: r.windows,
                seconds: Math.min(1e7, Math.max(0, r.seconds)),
              },
            }
          : {}),
      };
    }
  }
}

export async function publishJobEvent(e: JobEvent<RedistillResult>, d: JobEventDeps): Promise<void> {
  const ev = toWireJobEvent(e, d.now());
  if (e.type === 'failed') {
    const prev = d.registry.lastRedistill(e.job.site);
    d.log.error('redistill failed', { site: e.job.site, job: e.job.id, code: e.job.error?.code, error: e.job.error?.message });
    await d.registry
      .recordRedistill(e.job.site, {
        at: d.now(), outcome: 'failed', jobId: e.job.id, ...(e.job.error ? { code: e.job.error.code, message: e.job.error.message.slice(0, 1000) } : {}),
        ...(prev?.seqMarker !== undefined ? { seqMarker: prev.seqMarker } : {}),
      })
      .catch(() => undefined);
  }
  if (e.type === 'skipped') d.log.info('redistill skipped', { site: e.job.site, job: e.job.id, reason: e.job.skipReason });
  try {
    await d.publish(hubJobsTopic(), encodeJson(ev), { qos: 1, retain: false });
  } catch (err) {
    d.log.warn('cannot publish a job event', { job: e.job.id, error: err });
  }
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}
