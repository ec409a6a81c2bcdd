/**
 * A warm pool of training workers (hub/worker/ml-worker.ts), sized to the hub's `roundConcurrency`. A fresh worker per
 * task spent most of a `site-adapt` round (~0.7 s) on starting the thread, loading the modules and setting tfjs up, and
 * two rounds at once did that start-up side by side (docs/scaling.md "Rounds in parallel"); a pool worker does it once.
 *
 * Guarantees kept from the fresh-worker runner (hub/worker/ml-runner.ts), tested by test/integration/hub-ml-pool.test.ts:
 *  - an aborted task (hub stopping) is stopped at once: its worker is terminated and replaced;
 *  - a crashed worker fails only its own task (SITEKD_ERR_JOB_FAILED) and is replaced;
 *  - tfjs memory does not grow across tasks: each task's tensors are freed in the worker (hub/worker/task-scope.ts),
 *    and a worker is recycled after `maxTasksPerWorker` tasks or when its tfjs memory after a task is above the bounds;
 *  - the heap cap applies: pool workers get `maxHeapMb`; a task asking for another cap runs in a fresh worker.
 * More tasks at once than warm workers (a rollout watch's `predict` during two rounds) run in fresh workers, ended
 * after: nothing waits for a round to finish, as before. Idle workers are unref'd, so they never keep a process alive.
 */
import type { Worker } from 'node:worker_threads';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { silentLogger, type Logger } from '../../shared/log';
import type { BackendPreference } from '../../shared/ml/backend';
import type { TaskMemory, WorkerOutput, WorkerTask } from './ml-worker-protocol';
import { runOnWorker, startWorker, type MlRunner, type RunOptions } from './ml-runner';

export interface MlPoolOptions {
  /** Warm workers (the hub's `roundConcurrency`). */
  readonly size: number;
  /** Backend each worker sets up as it starts (the hub's `backend`). */
  readonly backend?: BackendPreference;
  readonly maxHeapMb?: number;
  /** A worker is replaced after this many tasks (default 200). */
  readonly maxTasksPerWorker?: number;
  /** …or when, after a task, live tensors hold more than this (MB, default 64): the task code leaked. */
  readonly maxTensorMb?: number;
  /** …or when the wasm backend's memory, which never shrinks, grew above this (MB, default 1024). */
  readonly maxWasmMb?: number;
  /** The worker script (default hub/worker/ml-worker.js); tests wrap it to inject faults. */
  readonly workerFile?: string;
  readonly log?: Logger;
}

export interface MlPoolStats {
  /** Warm workers alive now, and their thread ids. */
  readonly warm: number;
  readonly threadIds: readonly number[];
  readonly started: number;
  readonly tasks: number;
  /** Tasks run in a fresh worker because every warm one was busy (or another heap cap was asked for). */
  readonly overflow: number;
  readonly aborted: number;
  readonly crashed: number;
  readonly recycled: number;
  /** Per warm worker (by thread id), its tfjs memory after its last task. */
  readonly memory: Readonly<Record<number, TaskMemory>>;
}

interface Slot {
  readonly worker: Worker;
  busy: boolean;
  dead: boolean;
  tasks: number;
  /** When its last task started (the pool's task counter): the idle worker with the oldest takes the next task. */
  lastUsed: number;
  memory?: TaskMemory;
}

type Counter = 'started' | 'tasks' | 'overflow' | 'aborted' | 'crashed' | 'recycled';

const MB = 1024 * 1024;

export class MlWorkerPool {
  private readonly slots = new Set<Slot>();
  private readonly overflowWorkers = new Set<Worker>();
  private readonly counts: Record<Counter, number> = { started: 0, tasks: 0, overflow: 0, aborted: 0, crashed: 0, recycled: 0 };
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly o: MlPoolOptions) {
    if (!Number.isSafeInteger(o.size) || o.size < 1) throw new SitekdError(ErrorCode.CONFIG_INVALID, `the worker pool size must be an integer ≥ 1, got ${o.size}`);
    this.log = o.log ?? silentLogger;
  }

  /** The pool as the hub's MlRunner. */
  readonly run: MlRunner = <T extends WorkerTask>(task: T, opts: RunOptions = {}): Promise<WorkerOutput<T>> => this.submit(task, opts);

  /** Starts the warm workers now instead of at the first task (each sets its backend up meanwhile). */
  warmUp(): void {
    while (!this.closed && this.slots.size < this.o.size) this.spawn();
  }

  stats(): MlPoolStats {
    const memory: Record<number, TaskMemory> = {};
    for (const s of this.slots) if (s.memory !== undefined) memory[s.worker.threadId] = s.memory;
    return { ...this.counts, warm: this.slots.size, threadIds: [...this.slots].map((s) => s.worker.threadId), memory };
  }

  /** Ends every worker; tasks still running fail with SITEKD_ERR_JOB_FAILED, later ones are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = [...[...this.slots].map((s) => s.worker), ...this.overflowWorkers];
    this.slots.clear();
    this.overflowWorkers.clear();
    await Promise.all(workers.map(async (w) => w.terminate()));
  }

  private async submit<T extends WorkerTask>(task: T, opts: RunOptions): Promise<WorkerOutput<T>> {
    if (this.closed) throw new SitekdError(ErrorCode.JOB_REJECTED, 'the training worker pool is closed (hub stopping)');
    this.counts.tasks++;
    const ownCap = opts.maxHeapMb !== undefined && opts.maxHeapMb !== this.o.maxHeapMb;
    const slot = ownCap ? undefined : this.idleSlot();
    if (slot === undefined) return this.runFresh(task, opts);
    slot.busy = true;
    slot.lastUsed = this.counts.tasks;
    slot.worker.ref();
    const outcome = await runOnWorker(slot.worker, task, opts);
    slot.busy = false;
    slot.tasks++;
    if (outcome.kind === 'lost') {
      this.counts[outcome.error.code === ErrorCode.JOB_REJECTED ? 'aborted' : 'crashed']++;
      this.replace(slot, outcome.error.message);
      throw outcome.error;
    }
    slot.memory = outcome.memory;
    slot.worker.unref();
    const why = this.recycleReason(slot, outcome.memory);
    if (why !== undefined) {
      this.counts.recycled++;
      this.replace(slot, why);
    }
    if (outcome.kind === 'error') throw outcome.error;
    return outcome.output;
  }

  /**
   * Tasks rotate over the workers: a pool not yet full starts another worker rather than reuse an idle one, and of the
   * idle workers the one idle longest takes the task. Every warm worker then stays warm — JIT-compiled as well as set
   * up — so when two rounds do run at once the second is not the first task of a cold worker (measured by
   * `npm run bench:rounds-parallel`: with "first idle" every task alone went to the same worker, and the other one's
   * round together was the slower one in most repeats).
   */
  private idleSlot(): Slot | undefined {
    if (!this.closed && this.slots.size < this.o.size) return this.spawn();
    let best: Slot | undefined;
    for (const s of this.slots) if (!s.busy && !s.dead && (best === undefined || s.lastUsed < best.lastUsed)) best = s;
    return best;
  }

  private async runFresh<T extends WorkerTask>(task: T, opts: RunOptions): Promise<WorkerOutput<T>> {
    this.counts.overflow++;
    const worker = startWorker({ ...this.workerOptions(), ...(opts.maxHeapMb !== undefined ? { maxHeapMb: opts.maxHeapMb } : {}) });
    worker.on('error', () => undefined); // reported through runOnWorker; an idle 'error' must not throw in the hub
    this.overflowWorkers.add(worker);
    try {
      const outcome = await runOnWorker(worker, task, opts);
      if (outcome.kind === 'result') return outcome.output;
      throw outcome.error;
    } finally {
      this.overflowWorkers.delete(worker);
      void worker.terminate();
    }
  }

  private spawn(): Slot {
    const worker = startWorker(this.workerOptions());
    const slot: Slot = { worker, busy: false, dead: false, tasks: 0, lastUsed: 0 };
    // A worker that dies while idle (e.g. out of memory while starting) leaves the pool; its task-time deaths are
    // reported to that task by runOnWorker. Without an 'error' listener an idle crash would throw in the hub.
    worker.on('error', (err) => this.log.warn('training worker crashed while idle', { error: err.message }));
    worker.on('exit', () => {
      slot.dead = true;
      this.slots.delete(slot);
    });
    worker.unref();
    this.slots.add(slot);
    this.counts.started++;
    return slot;
  }

  private replace(slot: Slot, why: string): void {
    slot.dead = true;
    this.slots.delete(slot);
    void slot.worker.terminate();
    this.log.info('training worker replaced', { why, tasks: slot.tasks });
    if (!this.closed) this.spawn();
  }

  private recycleReason(slot: Slot, m: TaskMemory): string | undefined {
    if (slot.tasks >= (this.o.maxTasksPerWorker ?? 200)) return `it ran ${slot.tasks} tasks`;
    if (m.numBytes > (this.o.maxTensorMb ?? 64) * MB) return `${(m.numBytes / MB).toFixed(0)} MB of tensors stayed alive after a task`;
    if (m.wasmBytes > (this.o.maxWasmMb ?? 1024) * MB) return `its wasm memory grew to ${(m.wasmBytes / MB).toFixed(0)} MB`;
    return undefined;
  }

  private workerOptions(): { file?: string; backend?: BackendPreference; maxHeapMb?: number } {
    const o = this.o;
    return { ...(o.workerFile !== undefined ? { file: o.workerFile } : {}), ...(o.backend !== undefined ? { backend: o.backend } : {}), ...(o.maxHeapMb !== undefined ? { maxHeapMb: o.maxHeapMb } : {}) };
  }
}
