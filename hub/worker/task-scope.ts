/**
 * One task's tfjs lifetime inside a long-lived worker (hub/worker/ml-pool.ts). A fresh worker per task returned every
 * tensor to the system when it ended; a warm worker must instead free what a task made, or each round would leave its
 * networks behind. The task code disposes most of what it creates, but not the networks it loads (a fresh worker
 * never needed to), so the scope frees them all: every tensor made in the task and not `tf.keep`-ed (the per-backend
 * constants of shared/ml/ops.ts are kept on purpose and made once), and every variable registered during the task.
 */
import { tf } from '../../shared/ml/tf';
import type { TaskMemory } from './ml-worker-protocol';

/** Runs a synchronous tfjs task and disposes what it left alive; the result must be plain data (no tensors). */
export function inTaskScope<R>(fn: () => R): R {
  const engine = tf.engine();
  const before = new Set(Object.keys(engine.registeredVariables));
  engine.startScope();
  try {
    return fn();
  } finally {
    engine.endScope();
    for (const [name, v] of Object.entries(engine.registeredVariables)) if (!before.has(name)) v.dispose();
  }
}

/** The worker's tfjs memory now. */
export function taskMemory(): TaskMemory {
  const m = tf.memory();
  // Only the wasm backend has a linear memory; its size is the worker's real tfjs footprint there.
  const heap = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
  return { numTensors: m.numTensors, numBytes: m.numBytes, wasmBytes: heap?.length ?? 0 };
}
