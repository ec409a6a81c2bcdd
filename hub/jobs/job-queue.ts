/**
 * The hub's queue of redistill jobs: FIFO, `concurrency` jobs at a time (1 by default: a round is CPU-bound and
 * shares the teacher), and never two jobs for the same site. A request for a site that already has a queued or
 * running job is coalesced into it: both requests want "a round on this site's newest windows", and a queued job
 * reads the store only when it starts. A running job still coalesces, so a burst of triggers during a long round
 * does not pile up rounds; the next trigger after it finishes starts a fresh one.
 *
 * Every transition (and every progress report of the running job) goes to the listeners, which the hub forwards
 * to `sitekd/v1/hub/jobs`. The job function never throws out of the queue: errors become state `failed` with a
 * code, and `JobSkipped` becomes state `skipped`.
 */
import { ErrorCode, isSitekdError, SitekdError } from '../../shared/errors';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'skipped';

export interface JobError {
  readonly code: ErrorCode;
  readonly message: string;
}

export interface Job<R> {
  readonly id: string;
  readonly site: string;
  /** Why it was requested, e.g. `schedule`, `threshold`, `demand` (opaque to the queue). */
  readonly trigger: string;
  readonly state: JobState;
  /** 0..1, as last reported by the running job. */
  readonly progress: number;
  readonly note: string | undefined;
  readonly queuedAt: number;
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
  readonly result: R | undefined;
  readonly error: JobError | undefined;
  readonly skipReason: string | undefined;
}

export type JobEventType = 'queued' | 'started' | 'progress' | 'done' | 'failed' | 'skipped';
export interface JobEvent<R> {
  readonly type: JobEventType;
  /** A snapshot taken at the event. */
  readonly job: Job<R>;
}

/** Progress of the running job, clamped to 0..1; reports after the job ended are ignored. */
export type ReportProgress = (progress: number, note?: string) => void;
/** `signal` is aborted by `close({ abort: true })`; a job that can stop early should watch it. */
export type JobFn<R> = (job: Job<R>, report: ReportProgress, signal: AbortSignal) => Promise<R>;

/** Thrown by a job function that decided there is nothing to do (e.g. too few new windows): state `skipped`. */
export class JobSkipped extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'JobSkipped';
  }
}

export interface EnqueueResult {
  readonly id: string;
  readonly state: 'queued' | 'running';
  /** True when an existing job for the site was returned instead of a new one. */
  readonly coalesced: boolean;
}

export interface JobQueueOptions<R> {
  readonly run: JobFn<R>;
  readonly now: () => number;
  readonly concurrency?: number;
  /** Finished jobs kept for `get`/`history` (oldest dropped first). */
  readonly historySize?: number;
  readonly newId?: () => string;
}

type MutableJob<R> = { -readonly [K in keyof Job<R>]: Job<R>[K] };

export class JobQueue<R> {
  private readonly queued: MutableJob<R>[] = [];
  private readonly running = new Map<string, MutableJob<R>>();
  private readonly bySite = new Map<string, MutableJob<R>>(); // queued or running
  private readonly finished: Job<R>[] = [];
  private readonly listeners = new Set<(e: JobEvent<R>) => void>();
  private readonly idle: Array<() => void> = [];
  private readonly abort = new AbortController();
  private readonly concurrency: number;
  private readonly historySize: number;
  private readonly newId: () => string;
  private closed = false;
  private counter = 0;

  constructor(private readonly opts: JobQueueOptions<R>) {
    this.concurrency = opts.concurrency ?? 1;
    this.historySize = opts.historySize ?? 100;
    for (const [name, v, min] of [['concurrency', this.concurrency, 1], ['historySize', this.historySize, 0]] as const) {
      if (!Number.isSafeInteger(v) || v < min) throw new SitekdError(ErrorCode.CONFIG_INVALID, `job queue ${name} must be an integer ≥ ${min}, got ${v}`);
    }
    this.newId = opts.newId ?? (() => `job-${opts.now().toString(36)}-${++this.counter}`);
  }

  /** Queues a job for `site`, or returns the one already queued or running. Throws `JOB_REJECTED` after close(). */
  enqueue(site: string, opts: { readonly trigger: string }): EnqueueResult {
    if (this.closed) throw new SitekdError(ErrorCode.JOB_REJECTED, `the job queue is closed; no job for site ${site}`, { details: { site } });
    const existing = this.bySite.get(site);
    if (existing !== undefined) return { id: existing.id, state: existing.state === 'running' ? 'running' : 'queued', coalesced: true };
    const job: MutableJob<R> = {
      id: this.newId(), site, trigger: opts.trigger, state: 'queued', progress: 0, note: undefined, queuedAt: this.opts.now(),
      startedAt: undefined, finishedAt: undefined, result: undefined, error: undefined, skipReason: undefined,
    };
    this.queued.push(job);
    this.bySite.set(site, job);
    this.emit('queued', job);
    // Started on a microtask, so the caller always sees `queued` first and can reply before the job runs.
    queueMicrotask(() => this.pump());
    return { id: job.id, state: 'queued', coalesced: false };
  }

  /** A job by id: queued, running, or still in the history. */
  get(id: string): Job<R> | undefined {
    const live = [...this.running.values(), ...this.queued].find((j) => j.id === id);
    return live !== undefined ? { ...live } : this.finished.find((j) => j.id === id);
  }

  /** Running jobs, then queued ones in order. */
  active(): Job<R>[] {
    return [...this.running.values(), ...this.queued].map((j) => ({ ...j }));
  }

  /** Finished jobs, oldest first. */
  history(): Job<R>[] {
    return [...this.finished];
  }

  /** Adds a listener for every transition and progress report; returns the function that removes it. */
  onEvent(listener: (e: JobEvent<R>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when nothing is queued or running. */
  drain(): Promise<void> {
    if (this.queued.length === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Stops accepting jobs, skips the queued ones and waits for the running ones; with `abort`, their signal is
   * aborted first (for shutdown under a deadline).
   */
  async close(opts: { readonly abort?: boolean } = {}): Promise<void> {
    this.closed = true;
    for (const job of this.queued.splice(0)) this.finish(job, 'skipped', { skipReason: 'the job queue was closed' });
    if (opts.abort === true) this.abort.abort(new SitekdError(ErrorCode.JOB_REJECTED, 'the job queue was closed'));
    await this.drain();
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.queued.length > 0) {
      const job = this.queued.shift() as MutableJob<R>;
      this.running.set(job.id, job);
      Object.assign(job, { state: 'running', startedAt: this.opts.now() });
      this.emit('started', job);
      void this.execute(job);
    }
    if (this.queued.length === 0 && this.running.size === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  private async execute(job: MutableJob<R>): Promise<void> {
    const report: ReportProgress = (progress, note) => {
      if (job.state !== 'running' || !Number.isFinite(progress)) return;
      job.progress = Math.min(1, Math.max(0, progress));
      job.note = note;
      this.emit('progress', job);
    };
    try {
      const result = await this.opts.run({ ...job }, report, this.abort.signal);
      this.finish(job, 'done', { result, progress: 1 });
    } catch (err) {
      if (err instanceof JobSkipped) this.finish(job, 'skipped', { skipReason: err.reason });
      else this.finish(job, 'failed', { error: toJobError(err) });
    }
    this.running.delete(job.id);
    this.pump();
  }

  private finish(job: MutableJob<R>, state: 'done' | 'failed' | 'skipped', fields: Partial<MutableJob<R>>): void {
    Object.assign(job, fields, { state, finishedAt: this.opts.now() });
    this.bySite.delete(job.site);
    this.finished.push({ ...job });
    if (this.finished.length > this.historySize) this.finished.splice(0, this.finished.length - this.historySize);
    this.emit(state, job);
  }

  private emit(type: JobEventType, job: MutableJob<R>): void {
    const event: JobEvent<R> = { type, job: { ...job } };
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A broken listener (e.g. a publish that threw) must not stop the queue or the other listeners.
      }
    }
  }
}

function toJobError(err: unknown): JobError {
  if (isSitekdError(err)) return { code: err.code, message: err.message };
  return { code: ErrorCode.JOB_FAILED, message: err instanceof Error ? err.message : String(err) };
}
