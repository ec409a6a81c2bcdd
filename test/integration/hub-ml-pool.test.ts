/**
 * The hub's warm pool of training workers (hub/worker/ml-pool.ts) with real worker threads and real tfjs (wasm): tasks
 * run one at a time in order on a warm worker with the results of a fresh worker, tfjs memory stays flat across tasks,
 * two tasks at once take two warm workers, an aborted task's worker is terminated and replaced, a crashed worker fails
 * only its own task (the one fault injected: a wrapper of the worker script that exits mid-task) and is replaced.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeCnnArtifact } from '../../shared/artifact/cnn-artifact';
import { defaultSyntheticSpec, generateSites } from '../../shared/data/synthetic';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import { inputFor, specFor } from '../../shared/ml/model-spec';
import type { WindowSet } from '../../shared/ml/types';
import { MlWorkerPool } from '../../hub/worker/ml-pool';
import { runMlTask, WORKER_FILE } from '../../hub/worker/ml-runner';
import type { RedistillTask, TrainTask } from '../../hub/worker/ml-worker-protocol';
import type { PredictTask } from '../../hub/worker/predict-protocol';

const sites = generateSites(defaultSyntheticSpec.tiny);
const SRC = sites[0]?.train as WindowSet;
const TGT = sites[1]?.train as WindowSet;
const HELD = sites[1]?.test as WindowSet;
const SPEC = specFor(inputFor(SRC.channels, SRC.length, defaultSyntheticSpec.tiny.numClasses), 'student');
const pools: MlWorkerPool[] = [];
const dir = mkdtempSync(join(tmpdir(), 'sitekd-pool-'));

after(async () => {
  await Promise.all(pools.map(async (p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

function pool(opts: Partial<ConstructorParameters<typeof MlWorkerPool>[0]> = {}): MlWorkerPool {
  const p = new MlWorkerPool({ size: 1, backend: 'wasm', ...opts });
  pools.push(p);
  return p;
}

function trainTask(seed: number, epochs = 1): TrainTask {
  return {
    kind: 'train', backend: 'wasm', algorithm: 'source-only', spec: SPEC, source: SRC, target: SRC, seed, hparams: { epochs, batchSize: 8 },
    meta: { kind: 'teacher', version: '1-00000000', algorithm: 'source-only', source: 'site-0', seed, metrics: {} },
  };
}

function redistillTask(net: Uint8Array): RedistillTask {
  return {
    kind: 'redistill', backend: 'wasm', spec: SPEC, recipe: 'site-adapt', source: SRC, target: TGT, heldOut: HELD, teacher: net, generic: net, current: net,
    seed: 0, hparams: {}, unikd: {}, adapt: { iterations: 2, sourcePrior: 0.25 }, referenceAdapt: { iterations: 2, sourcePrior: 0.25 }, reference: 'adapted-teacher',
    meta: { kind: 'student', version: '2-00000000', algorithm: 'site-adapt', source: 'site-0', seed: 0, metrics: {} },
  };
}

const weights = (bytes: Uint8Array): unknown => decodeCnnArtifact(bytes).weights;

test('tasks run in order on one warm worker, as a fresh worker would, and tfjs memory does not grow across them', async () => {
  const p = pool();
  const net = (await p.run(trainTask(1))).artifact;
  const thread = p.stats().threadIds[0];
  const predict: PredictTask = { kind: 'predict', backend: 'wasm', models: [net, net], windows: HELD, adaptLast: { iterations: 2, sourcePrior: 0.25 } };
  const seen: number[] = [];
  for (let round = 0; round < 3; round++) {
    const r = await p.run(redistillTask(net));
    assert.equal(r.evaluation.heldOut, HELD.n);
    assert.equal((await p.run(predict)).logits.length, 2);
    // A task's coded error leaves the worker usable: windows of the wrong length.
    const bad: PredictTask = { ...predict, windows: { ...HELD, length: HELD.length / 2, x: HELD.x.subarray(0, HELD.x.length / 2) } };
    await assert.rejects(p.run(bad), (err) => isSitekdError(err) && err.code !== ErrorCode.JOB_FAILED);
    const m = p.stats().memory[thread as number];
    assert.ok(m !== undefined && m.wasmBytes > 0, 'the worker reports its wasm memory');
    seen.push(m.numTensors, m.numBytes);
  }
  assert.deepEqual(seen.slice(2), seen.slice(0, 4), `live tensors / bytes after each round: ${seen.join(', ')}`);
  // The same seed gives the same network on the warm worker (after other tasks) and on a fresh one.
  const again = await p.run(trainTask(1));
  assert.deepEqual(weights(again.artifact), weights(net));
  assert.deepEqual(weights((await runMlTask(trainTask(1))).artifact), weights(net));
  assert.deepEqual(p.stats().threadIds, [thread], 'one warm worker served every task');
  assert.equal(p.stats().started, 1);
  assert.equal(p.stats().tasks, 11);
});

test('two tasks at once take two warm workers; a third, or another heap cap, gets a fresh worker', async () => {
  const p = pool({ size: 2, maxHeapMb: 512 });
  const [a, b] = await Promise.all([p.run(trainTask(2)), p.run(trainTask(3))]);
  assert.notDeepEqual(weights(a.artifact), weights(b.artifact));
  assert.equal(p.stats().started, 2);
  assert.equal(p.stats().overflow, 0);
  await Promise.all([p.run(trainTask(2)), p.run(trainTask(3)), p.run(trainTask(4))]);
  assert.equal(p.stats().overflow, 1);
  await p.run(trainTask(2), { maxHeapMb: 256 });
  assert.equal(p.stats().overflow, 2);
  assert.equal(p.stats().started, 2, 'no warm worker was replaced');
});

test('tasks one after another rotate over the warm workers, so none of them stays cold', async () => {
  const p = pool({ size: 2 });
  for (let i = 0; i < 4; i++) await p.run(trainTask(i));
  const { threadIds, memory, started, overflow } = p.stats();
  assert.equal(started, 2);
  assert.equal(overflow, 0);
  assert.deepEqual(Object.keys(memory).map(Number).sort(), [...threadIds].sort(), 'each warm worker ran tasks and reported its memory');
});

test('an aborted task stops at once: its worker is terminated and replaced, the next task runs', async () => {
  const p = pool();
  await p.run(trainTask(1));
  const [old] = p.stats().threadIds;
  const ac = new AbortController();
  let progress = 0;
  let afterAbort = 0;
  const long = p.run(trainTask(1, 10_000), {
    signal: ac.signal,
    onProgress: () => {
      if (ac.signal.aborted) afterAbort++;
      if (++progress === 2) ac.abort();
    },
  });
  await assert.rejects(long, (err) => isSitekdError(err) && err.code === ErrorCode.JOB_REJECTED);
  assert.equal(afterAbort, 0, 'no progress is reported after the abort');
  assert.equal(p.stats().aborted, 1);
  assert.ok(!p.stats().threadIds.includes(old as number), 'the aborted worker left the pool');
  assert.equal((await p.run(trainTask(1))).backend, 'wasm');
  assert.equal(p.stats().started, 2);
});

test('a worker that crashes mid-task fails only its task, with a coded error, and is replaced', async () => {
  // Fault injection: the real worker script, wrapped so that a task with seed 666 ends the thread at its first progress.
  const file = join(dir, 'crashing-worker.js');
  writeFileSync(file, [
    "const { parentPort } = require('node:worker_threads');",
    'let crash = false;',
    "parentPort.on('message', (m) => { crash = m.task.seed === 666; });",
    'const post = parentPort.postMessage.bind(parentPort);',
    "parentPort.postMessage = (msg, t) => { if (crash && msg.type === 'progress') process.exit(7); return post(msg, t); };",
    `require(${JSON.stringify(WORKER_FILE)});`,
  ].join('\n'));
  const p = pool({ size: 2, workerFile: file });
  const [crashed, fine] = await Promise.allSettled([p.run(trainTask(666, 3)), p.run(trainTask(5))]);
  assert.equal(crashed.status, 'rejected');
  assert.ok(crashed.status === 'rejected' && isSitekdError(crashed.reason) && crashed.reason.code === ErrorCode.JOB_FAILED, String(crashed.status === 'rejected' ? crashed.reason : ''));
  assert.match((crashed as PromiseRejectedResult).reason.message, /exited with code 7/);
  assert.equal(fine.status, 'fulfilled');
  assert.equal(p.stats().crashed, 1);
  assert.equal(p.stats().warm, 2, 'the crashed worker was replaced');
  await Promise.all([p.run(trainTask(5)), p.run(trainTask(6))]);
  assert.equal(p.stats().overflow, 0);
});

test('a closed pool rejects tasks with JOB_REJECTED', async () => {
  const p = pool();
  await p.close();
  await assert.rejects(p.run(trainTask(1)), (err) => isSitekdError(err) && err.code === ErrorCode.JOB_REJECTED);
});
