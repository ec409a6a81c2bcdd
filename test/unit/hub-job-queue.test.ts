import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, isSitekdError, SitekdError } from '../../shared/errors';
import { JobQueue, JobSkipped, type JobEvent, type JobFn, type ReportProgress } from '../../hub/jobs/job-queue';

/** A job body the test finishes by hand: `gate(site).resolve(value)`. */
function controlledRun<R>(): {
  run: JobFn<R>;
  started: string[];
  gate: (site: string) => { resolve: (v: R) => void; reject: (e: unknown) => void; report: ReportProgress; signal: AbortSignal };
} {
  const gates = new Map<string, { resolve: (v: R) => void; reject: (e: unknown) => void; report: ReportProgress; signal: AbortSignal }>();
  const started: string[] = [];
  return {
    started,
    run: (job, report, signal) =>
      new Promise<R>((resolve, reject) => {
        started.push(job.site);
        gates.set(job.site, { resolve, reject, report, signal });
      }),
    gate: (site) => {
      const g = gates.get(site);
      if (g === undefined) throw new Error(`no running job for ${site}`);
      return g;
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
let clockMs = 0;
const now = (): number => ++clockMs;

function record<R>(q: JobQueue<R>): Array<[string, string, string]> {
  const events: Array<[string, string, string]> = [];
  q.onEvent((e: JobEvent<R>) => events.push([e.type, e.job.site, e.job.state]));
  return events;
}

test('runs jobs first in, first out, one at a time, with every transition as an event', async () => {
  const c = controlledRun<string>();
  const q = new JobQueue<string>({ run: c.run, now });
  const events = record(q);
  const a = q.enqueue('s1', { trigger: 'schedule' });
  const b = q.enqueue('s2', { trigger: 'demand' });
  assert.deepEqual([a.state, a.coalesced, b.state], ['queued', false, 'queued']);
  assert.notEqual(a.id, b.id);
  await tick();
  assert.deepEqual(c.started, ['s1']);
  c.gate('s1').report(0.5, 'epoch 1/2');
  c.gate('s1').resolve('v2');
  await tick();
  assert.deepEqual(c.started, ['s1', 's2']);
  c.gate('s2').resolve('v7');
  await q.drain();
  assert.deepEqual(events, [
    ['queued', 's1', 'queued'],
    ['queued', 's2', 'queued'],
    ['started', 's1', 'running'],
    ['progress', 's1', 'running'],
    ['done', 's1', 'done'],
    ['started', 's2', 'running'],
    ['done', 's2', 'done'],
  ]);
  const done = q.get(a.id);
  assert.equal(done?.result, 'v2');
  assert.equal(done?.progress, 1);
  assert.equal(done?.trigger, 'schedule');
  assert.ok((done?.queuedAt ?? 0) < (done?.startedAt ?? 0) && (done?.startedAt ?? 0) < (done?.finishedAt ?? 0));
});

test('a request for a site with a queued or running job is coalesced into it', async () => {
  const c = controlledRun<number>();
  const q = new JobQueue<number>({ run: c.run, now });
  const first = q.enqueue('s1', { trigger: 'threshold' });
  q.enqueue('s2', { trigger: 'threshold' });
  const queuedS2 = q.enqueue('s2', { trigger: 'demand' });
  assert.deepEqual(q.enqueue('s1', { trigger: 'demand' }), { id: first.id, state: 'queued', coalesced: true });
  await tick();
  assert.deepEqual(q.enqueue('s1', { trigger: 'demand' }), { id: first.id, state: 'running', coalesced: true });
  assert.equal(queuedS2.coalesced, true);
  c.gate('s1').resolve(1);
  await tick();
  const next = q.enqueue('s1', { trigger: 'demand' });
  assert.equal(next.coalesced, false, 'after it finished, a new job starts');
  assert.notEqual(next.id, first.id);
  assert.deepEqual(q.active().map((j) => [j.site, j.state]), [['s2', 'running'], ['s1', 'queued']]);
  c.gate('s2').resolve(2);
  await tick();
  c.gate('s1').resolve(3);
  await q.drain();
  assert.deepEqual(c.started, ['s1', 's2', 's1']);
});

test('with concurrency 2 two sites run at once, never the same site twice', async () => {
  const c = controlledRun<number>();
  const q = new JobQueue<number>({ run: c.run, now, concurrency: 2 });
  for (const s of ['s1', 's2', 's3', 's1']) q.enqueue(s, { trigger: 'schedule' });
  await tick();
  assert.deepEqual(c.started, ['s1', 's2']);
  c.gate('s2').resolve(0);
  await tick();
  assert.deepEqual(c.started, ['s1', 's2', 's3']);
  c.gate('s1').resolve(0);
  c.gate('s3').resolve(0);
  await q.drain();
  assert.equal(q.history().length, 3);
});

test('errors become state failed with a code; the queue goes on', async () => {
  const outcomes = new Map<string, () => Promise<string>>([
    ['coded', () => Promise.reject(new SitekdError(ErrorCode.DISTILL_NONFINITE, 'loss is NaN'))],
    ['plain', () => Promise.reject(new Error('boom'))],
    ['thrown-string', () => Promise.reject('just a string')],
    ['ok', () => Promise.resolve('fine')],
  ]);
  const q = new JobQueue<string>({ run: (job) => (outcomes.get(job.site) as () => Promise<string>)(), now });
  const ids = [...outcomes.keys()].map((s) => q.enqueue(s, { trigger: 'demand' }).id);
  await q.drain();
  const jobs = ids.map((id) => q.get(id));
  assert.deepEqual(jobs.map((j) => [j?.state, j?.error?.code, j?.error?.message]), [
    ['failed', ErrorCode.DISTILL_NONFINITE, 'loss is NaN'],
    ['failed', ErrorCode.JOB_FAILED, 'boom'],
    ['failed', ErrorCode.JOB_FAILED, 'just a string'],
    ['done', undefined, undefined],
  ]);
});

test('a job that throws JobSkipped ends as skipped with its reason', async () => {
  const q = new JobQueue<string>({ run: () => Promise.reject(new JobSkipped('only 12 new windows')), now });
  const events = record(q);
  const { id } = q.enqueue('s1', { trigger: 'schedule' });
  await q.drain();
  assert.deepEqual([q.get(id)?.state, q.get(id)?.skipReason, q.get(id)?.error], ['skipped', 'only 12 new windows', undefined]);
  assert.deepEqual(events.at(-1), ['skipped', 's1', 'skipped']);
});

test('progress is clamped to 0..1 and ignored when not finite or after the job ended', async () => {
  const c = controlledRun<number>();
  const q = new JobQueue<number>({ run: c.run, now });
  const progress: Array<[number, string | undefined]> = [];
  q.onEvent((e) => e.type === 'progress' && progress.push([e.job.progress, e.job.note]));
  q.enqueue('s1', { trigger: 'demand' });
  await tick();
  const { report, resolve } = c.gate('s1');
  report(-1);
  report(0.25, 'teacher logits');
  report(Number.NaN);
  report(7);
  assert.equal(q.active()[0]?.progress, 1);
  resolve(1);
  await q.drain();
  report(0.5);
  assert.deepEqual(progress, [[0, undefined], [0.25, 'teacher logits'], [1, undefined]]);
});

test('drain resolves at once when idle and after the last job otherwise', async () => {
  const c = controlledRun<number>();
  const q = new JobQueue<number>({ run: c.run, now });
  await q.drain();
  q.enqueue('s1', { trigger: 'demand' });
  let drained = false;
  const d = q.drain().then(() => (drained = true));
  await tick();
  assert.equal(drained, false);
  c.gate('s1').resolve(1);
  await d;
  assert.equal(drained, true);
});

test('close skips queued jobs, waits for the running one and rejects new requests with JOB_REJECTED', async () => {
  const c = controlledRun<number>();
  const q = new JobQueue<number>({ run: c.run, now });
  const events = record(q);
  const running = q.enqueue('s1', { trigger: 'demand' });
  const waiting = q.enqueue('s2', { trigger: 'demand' });
  await tick();
  let closed = false;
  const closing = q.close().then(() => (closed = true));
  assert.throws(() => q.enqueue('s3', { trigger: 'demand' }), (e) => isSitekdError(e, ErrorCode.JOB_REJECTED));
  assert.equal(q.get(waiting.id)?.state, 'skipped');
  await tick();
  assert.equal(closed, false, 'the running job is awaited');
  assert.equal(c.gate('s1').signal.aborted, false);
  c.gate('s1').resolve(5);
  await closing;
  assert.equal(q.get(running.id)?.state, 'done');
  assert.deepEqual(c.started, ['s1']);
  assert.deepEqual(events.filter((e) => e[0] === 'skipped'), [['skipped', 's2', 'skipped']]);
});

test('close with abort aborts the running job\'s signal', async () => {
  const q = new JobQueue<number>({
    run: (_job, _report, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    now,
  });
  const { id } = q.enqueue('s1', { trigger: 'demand' });
  await tick();
  await q.close({ abort: true });
  assert.deepEqual([q.get(id)?.state, q.get(id)?.error?.code], ['failed', ErrorCode.JOB_REJECTED]);
});

test('the history of finished jobs is bounded, oldest dropped first', async () => {
  const q = new JobQueue<number>({ run: () => Promise.resolve(1), now, historySize: 3 });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push(q.enqueue(`s${i}`, { trigger: 'demand' }).id);
    await q.drain();
  }
  assert.deepEqual(q.history().map((j) => j.id), ids.slice(2));
  assert.equal(q.get(ids[0] as string), undefined);
});

test('a throwing listener neither stops the queue nor the other listeners', async () => {
  const q = new JobQueue<number>({ run: () => Promise.resolve(1), now });
  q.onEvent(() => {
    throw new Error('publish failed');
  });
  const seen: string[] = [];
  const off = q.onEvent((e) => seen.push(e.type));
  const { id } = q.enqueue('s1', { trigger: 'demand' });
  await q.drain();
  assert.equal(q.get(id)?.state, 'done');
  assert.deepEqual(seen, ['queued', 'started', 'done']);
  off();
  q.enqueue('s2', { trigger: 'demand' });
  await q.drain();
  assert.equal(seen.length, 3, 'a removed listener hears nothing');
});

test('event snapshots do not change afterwards, and ids come from newId when given', async () => {
  let n = 0;
  const q = new JobQueue<number>({ run: () => Promise.resolve(1), now, newId: () => `j${++n}` });
  const snaps: JobEvent<number>[] = [];
  q.onEvent((e) => snaps.push(e));
  assert.equal(q.enqueue('s1', { trigger: 'demand' }).id, 'j1');
  await q.drain();
  assert.deepEqual(snaps.map((e) => e.job.state), ['queued', 'running', 'done']);
});

test('invalid options are CONFIG_INVALID', () => {
  const run: JobFn<number> = () => Promise.resolve(1);
  for (const o of [{ concurrency: 0 }, { concurrency: 1.5 }, { historySize: -1 }]) {
    assert.throws(() => new JobQueue<number>({ run, now, ...o }), (e) => isSitekdError(e, ErrorCode.CONFIG_INVALID), JSON.stringify(o));
  }
});
