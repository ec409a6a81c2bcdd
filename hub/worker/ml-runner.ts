/**
 * Runs one training task in a fresh worker thread (hub/worker/ml-worker.ts) and ends the worker after it: tfjs memory is
 * returned to the system between rounds, and an aborted round (hub shutdown) is stopped by `terminate()` at once —
 * synchronous tfjs code cannot watch an AbortSignal.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ErrorCode, SitekdError, type ErrorCode as Code } from '../../shared/errors';
import type { WorkerMessage, WorkerOutput, WorkerTask } from './ml-worker-protocol';

export interface RunOptions {
  readonly onProgress?: (epoch: number, epochs: number, losses: Record<string, number>, phase: 'reference' | 'candidate') => void;
  readonly signal?: AbortSignal;
  /** V8 heap cap of the worker (MB); tfjs tensors live outside it (wasm memory). */
  readonly maxHeapMb?: number;
}

/** The compiled worker next to this file (dist/hub/ml-worker.js). */
export const WORKER_FILE = join(__dirname, 'ml-worker.js');

export type MlRunner = <T extends WorkerTask>(task: T, opts?: RunOptions) => Promise<WorkerOutput<T>>;

export const runMlTask: MlRunner = <T extends WorkerTask>(task: T, opts: RunOptions = {}): Promise<WorkerOutput<T>> =>
  new Promise((resolve, reject) => {
    if (opts.signal?.aborted === true) {
      reject(aborted());
      return;
    }
    const worker = new Worker(WORKER_FILE, {
      workerData: task,
      ...(opts.maxHeapMb !== undefined ? { resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb } } : {}),
    });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = (): void => settle(() => reject(aborted()));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (msg: WorkerMessage) => {
      if (msg.type === 'progress') {
        try {
          opts.onProgress?.(msg.epoch, msg.epochs, msg.losses, msg.phase);
        } catch {
          // progress reporting must not break the run
        }
      } else if (msg.type === 'result') settle(() => resolve(msg.output as WorkerOutput<T>));
      else settle(() => reject(new SitekdError(knownCode(msg.code), msg.message)));
    });
    worker.on('error', (err) => settle(() => reject(new SitekdError(ErrorCode.JOB_FAILED, `training worker crashed: ${err.message}`, { cause: err }))));
    worker.on('exit', (code) => settle(() => reject(new SitekdError(ErrorCode.JOB_FAILED, `training worker exited with code ${code} before it finished`))));
  });

function aborted(): SitekdError {
  return new SitekdError(ErrorCode.JOB_REJECTED, 'the training run was aborted (hub stopping)');
}

function knownCode(code: string): Code {
  return (Object.values(ErrorCode) as string[]).includes(code) ? (code as Code) : ErrorCode.JOB_FAILED;
}
