/**
 * A group commit's durable writes (a new file written atomically, then a line appended and fsynced) run in one
 * worker thread (hub/store/durable-write-worker.ts) as one synchronous sequence, in this order, the second only if the
 * first succeeded. The writes and their guarantees are those of shared/fs/atomic-file.ts; only where they run
 * changes: under load, the hub's main thread has hundreds of inbound messages to handle per event-loop turn, and a
 * sequence of eight awaited fs calls waited that turn eight times (docs/scaling.md). Failures are `STORE_WRITE`.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { TMP_SUFFIX } from './atomic-file';

export interface DurableJob {
  readonly id: number;
  readonly write?: { readonly file: string; readonly tmp: string; readonly bytes: Uint8Array };
  readonly append?: { readonly file: string; readonly text: string };
}

/** What `run` is asked: `tmp` is derived (the store's fixed suffix, deleted at open if a crash left it). */
export interface DurableRequest {
  readonly write?: { readonly file: string; readonly bytes: Uint8Array };
  readonly append?: { readonly file: string; readonly text: string };
}

export type DurableReply = { readonly id: number; readonly ok: true } | { readonly id: number; readonly ok: false; readonly failed: 'write' | 'append'; readonly message: string };

const WORKER_FILE = join(__dirname, 'durable-write-worker.js');

export class DurableWriter {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: unknown) => void; job: DurableRequest }>();

  /**
   * Writes `write.bytes` to `write.file` atomically, then appends `append.text` to `append.file` and fsyncs it.
   * Rejects with `STORE_WRITE` (details.failed says which; after a failed append the new file is left to the caller).
   */
  run(job: DurableRequest): Promise<void> {
    const id = this.nextId++;
    const full: DurableJob = { id, ...(job.write !== undefined ? { write: { ...job.write, tmp: `${job.write.file}${TMP_SUFFIX}` } } : {}), ...(job.append !== undefined ? { append: job.append } : {}) };
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, job });
      const w = this.ensureWorker();
      w.ref(); // while a write is waiting, the process waits for it
      w.postMessage(full);
    });
  }

  /** Stops the thread (a later run starts another). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(WORKER_FILE);
    w.unref(); // an idle writer never keeps the process alive (ref'd while a write waits)
    w.on('message', (r: DurableReply) => this.settle(r));
    w.on('error', (err) => this.failAll(err));
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
      this.failAll(new Error('the durable-write worker exited'));
    });
    this.worker = w;
    return w;
  }

  private settle(r: DurableReply): void {
    const p = this.waiting.get(r.id);
    if (p === undefined) return;
    this.waiting.delete(r.id);
    if (this.waiting.size === 0) this.worker?.unref();
    if (r.ok) return p.resolve();
    const path = r.failed === 'write' ? p.job.write?.file : p.job.append?.file;
    p.reject(new SitekdError(ErrorCode.STORE_WRITE, `cannot ${r.failed === 'write' ? 'write' : 'append to'} ${path}: ${r.message}`, { details: { path, failed: r.failed } }));
  }

  private failAll(err: unknown): void {
    for (const [id, p] of [...this.waiting]) {
      this.waiting.delete(id);
      p.reject(new SitekdError(ErrorCode.STORE_WRITE, 'the durable-write worker failed', { cause: err }));
    }
  }
}
