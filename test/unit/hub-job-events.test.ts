import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobEventSchema } from '../../shared/protocol/messages';
import type { Job, JobEvent } from '../../hub/jobs/job-queue';
import { toWireJobEvent } from '../../hub/jobs/job-events';
import type { RedistillResult } from '../../hub/jobs/redistill-job';

function job(overrides: Partial<Job<RedistillResult>> = {}): Job<RedistillResult> {
  return {
    id: 'j-1', site: 'site-a', trigger: 'command', state: 'running', progress: 0.5, note: 'epoch 5/10', queuedAt: 1, startedAt: 2,
    finishedAt: undefined, result: undefined, error: undefined, skipReason: undefined, ...overrides,
  };
}

const result: RedistillResult = {
  outcome: 'published', version: '2-abcdef01', candidateAgreement: 0.9, currentAgreement: 0.8, windows: 500, heldOut: 100,
  seconds: 12.5, trainSeconds: 11, reasons: ['teacher agreement ok'], currentVersion: '1-00000000',
  gate: { pass: true, decidedBy: 'agreement', agreement: { n: 100, candidateOnly: 12, currentOnly: 2, pValue: 0.006, lowerBound: 0, neededNetWins: 1, pass: true } },
};

test('queue events map to valid wire JobEvents; a gate rejection is `rejected`', () => {
  const cases: Array<[JobEvent<RedistillResult>, string]> = [
    [{ type: 'queued', job: job({ state: 'queued' }) }, 'queued'],
    [{ type: 'started', job: job() }, 'running'],
    [{ type: 'progress', job: job() }, 'running'],
    [{ type: 'done', job: job({ state: 'done', result }) }, 'done'],
    [{ type: 'done', job: job({ state: 'done', result: { ...result, outcome: 'rejected', version: undefined } as RedistillResult }) }, 'rejected'],
    [{ type: 'failed', job: job({ state: 'failed', error: { code: 'SITEKD_ERR_JOB_FAILED', message: 'boom' } }) }, 'failed'],
    [{ type: 'skipped', job: job({ state: 'skipped', skipReason: 'too few windows' }) }, 'skipped'],
  ];
  for (const [e, state] of cases) {
    const w = toWireJobEvent(e, 1_700_000_000_000);
    assert.equal(w.state, state);
    assert.ok(JobEventSchema.safeParse(w).success, `${e.type} → ${JSON.stringify(w)}`);
  }
  const done = toWireJobEvent(cases[3]![0], 0);
  assert.deepEqual(done.result, { version: '2-abcdef01', candidateAgreement: 0.9, currentAgreement: 0.8, windows: 500, seconds: 12.5 });
  assert.equal(toWireJobEvent(cases[5]![0], 0).message, 'SITEKD_ERR_JOB_FAILED: boom');
  assert.equal(toWireJobEvent(cases[2]![0], 0).progress, 0.5);
});
