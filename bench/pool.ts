/**
 * Runs independent jobs on worker threads, one tfjs backend per worker. Why: tfjs-wasm cannot use threads in Node
 * (docs/backends.md §2), so the second core only helps by running a second, independent training at the same time.
 */
import { Worker } from 'node:worker_threads';

export async function runPool<J, R>(workerFile: string, jobs: readonly J[], concurrency: number, onResult?: (r: R, job: J) => void): Promise<R[]> {
  const results: R[] = new Array<R>(jobs.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, jobs.length) }, async () => {
    const worker = new Worker(workerFile);
    try {
      while (next < jobs.length) {
        const i = next++;
        const job = jobs[i] as J;
        results[i] = await new Promise<R>((resolve, reject) => {
          const onMessage = (msg: { ok: true; result: R } | { ok: false; error: string }): void => {
            worker.off('error', reject);
            if (msg.ok) resolve(msg.result);
            else reject(new Error(msg.error));
          };
          worker.once('message', onMessage);
          worker.once('error', reject);
          worker.postMessage(job);
        });
        onResult?.(results[i] as R, job);
      }
    } finally {
      await worker.terminate();
    }
  });
  await Promise.all(lanes);
  return results;
}
