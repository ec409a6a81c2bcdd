/**
 * Running one task on one training worker (hub/worker/ml-worker.ts), and `runMlTask`: a fresh worker per task, ended
 * after it (what the hub did before the warm pool of hub/worker/ml-pool.ts; kept for one-off commands, tests and
 * `npm run bench:rounds-parallel -- --fresh-workers`). An aborted task (hub shutdown) is stopped by `terminate()` at
 * once: synchronous tfjs code cannot watch an AbortSignal, so its worker is given up.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ErrorCode, SitekdError, type ErrorCode as Code } from '../../shared/errors';
import type { BackendPreference } from '../../shared/ml/backend';
import type { TaskMemory, TaskRequest, WorkerMessage, WorkerOutput, WorkerStart, WorkerTask } from './ml-worker-protocol';

export interface RunOptions {
  readonly onProgress?: (epoch: number, epochs: number, losses: Record<string, number>, phase: 'reference' | 'candidate') => void;
  readonly signal?: AbortSignal;
  /** V8 heap cap of the worker (MB); tfjs tensors live outside it (wasm memory). */
  readonly maxHeapMb?: number;
}

/** The compiled worker next to this file (dist/hub/worker/ml-worker.js). */
export const WORKER_FILE = join(__dirname, 'ml-worker.js');

export type MlRunner = <T extends WorkerTask>(task: T, opts?: RunOptions) => Promise<WorkerOutput<T>>;

/**
 * How a task on a worker ended: an answer (`result`, or the task's own coded `error`) leaves the worker usable; `lost`
 * (aborted, crashed, exited) means the worker is terminated and must be replaced.
 */
export type TaskOutcome<T extends WorkerTask> =
  | { readonly kind: 'result'; readonly output: WorkerOutput<T>; readonly memory: TaskMemory }
  | { readonly kind: 'error'; readonly error: SitekdError; readonly memory: TaskMemory }
  | { readonly kind: 'lost'; readonly error: SitekdError };

export function startWorker(opts: { readonly file?: string; readonly backend?: BackendPreference; readonly maxHeapMb?: number } = {}): Worker {
  return new Worker(opts.file ?? WORKER_FILE, {
    workerData: { ...(opts.backend !== undefined ? { backend: opts.backend } : {}) } satisfies WorkerStart,
    ...(opts.maxHeapMb !== undefined ? { resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb } } : {}),
  });
}

/** Sends `task` to an idle `worker` and resolves when it answered or was lost; never rejects. */
export function runOnWorker<T extends WorkerTask>(worker: Worker, task: T, opts: RunOptions = {}): Promise<TaskOutcome<T>> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: TaskOutcome<T>): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (outcome.kind === 'lost') void worker.terminate();
      resolve(outcome);
    };
    const onAbort = (): void => settle({ kind: 'lost', error: aborted() });
    const onMessage = (msg: WorkerMessage): void => {
      if (msg.type === 'progress') {
        try {
          opts.onProgress?.(msg.epoch, msg.epochs, msg.losses, msg.phase);
        } catch {
          // progress reporting must not break the run
        }
      } else if (msg.type === 'result') settle({ kind: 'result', output: msg.output as WorkerOutput<T>, memory: msg.memory });
      else settle({ kind: 'error', error: new SitekdError(knownCode(msg.code), msg.message), memory: msg.memory });
    };
    const onError = (err: Error): void =>
      settle({ kind: 'lost', error: new SitekdError(ErrorCode.JOB_FAILED, `training worker crashed: ${err.message}`, { cause: err }) });
    const onExit = (code: number): void =>
      settle({ kind: 'lost', error: new SitekdError(ErrorCode.JOB_FAILED, `training worker exited with code ${code} before it finished`) });
    if (opts.signal?.aborted === true) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    worker.postMessage({ type: 'task', task } satisfies TaskRequest);
  });
}

/** One task in a fresh worker, ended after it. */
export const runMlTask: MlRunner = async <T extends WorkerTask>(task: T, opts: RunOptions = {}): Promise<WorkerOutput<T>> => {
  if (opts.signal?.aborted === true) throw aborted();
  const worker = startWorker({ ...(opts.maxHeapMb !== undefined ? { maxHeapMb: opts.maxHeapMb } : {}) });
  const outcome = await runOnWorker(worker, task, opts);
  void worker.terminate();
  if (outcome.kind === 'result') return outcome.output;
  throw outcome.error;
};

export function aborted(): SitekdError {
  return new SitekdError(ErrorCode.JOB_REJECTED, 'the training run was aborted (hub stopping)');
}

function knownCode(code: string): Code {
  return (Object.values(ErrorCode) as string[]).includes(code) ? (code as Code) : ErrorCode.JOB_FAILED;
}
