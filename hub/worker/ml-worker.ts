/**
 * The hub's training worker (a `worker_threads` entry; hub/worker/ml-runner.ts starts one per task and ends it after):
 * selects the tfjs backend (wasm by default), trains, evaluates and posts the artifact bytes back. Everything here is
 * synchronous tfjs work that would otherwise freeze the hub's MQTT loop for seconds to minutes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { cnnFromArtifact, decodeCnnArtifact, encodeCnn } from '../../shared/artifact/cnn-artifact';
import { isSitekdError } from '../../shared/errors';
import { selectBackend } from '../../shared/ml/backend';
import type { Cnn } from '../../shared/ml/cnn';
import { evaluate } from '../../shared/ml/evaluate';
import { argmaxRows, predictLogits, train, type TrainResult } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { agreement } from '../jobs/gate';
import type { Evaluation, RedistillOutput, RedistillTask, TrainOutput, TrainTask, WorkerMessage, WorkerTask } from './ml-worker-protocol';

function post(msg: WorkerMessage): void {
  parentPort?.postMessage(msg);
}

function loadNet(bytes: Uint8Array): Cnn {
  return cnnFromArtifact(decodeCnnArtifact(bytes));
}

function trainNet(task: TrainTask | RedistillTask, algorithm: 'source-only' | 'kd' | 'unikd', teacher: Cnn | undefined, target: WindowSet): TrainResult {
  return train({
    algorithm, spec: task.spec, source: task.source, target, seed: task.seed, hparams: task.hparams,
    ...(task.kind === 'redistill' ? { unikd: task.unikd } : task.unikd !== undefined ? { unikd: task.unikd } : {}),
    ...(teacher !== undefined ? { teacher } : {}),
    onEpoch: (epoch, epochs, losses) => post({ type: 'progress', phase: 'candidate', epoch, epochs, losses }),
  });
}

function encodeResult(task: TrainTask | RedistillTask, r: TrainResult, backend: string, metrics: Record<string, number>): Uint8Array {
  return encodeCnn(r.net, {
    ...task.meta,
    hparams: r.hparams,
    options: r.unikd ?? {},
    backend,
    metrics: { ...task.meta.metrics, ...metrics, finalLoss: r.history.at(-1)?.['total'] ?? 0 },
  });
}

function runTrain(task: TrainTask, backend: string): TrainOutput {
  const teacher = task.teacher === undefined ? undefined : loadNet(task.teacher);
  const r = trainNet(task, task.algorithm, teacher, task.target);
  return { artifact: encodeResult(task, r, backend, {}), history: r.history, trainSeconds: r.trainSeconds, backend };
}

/** The gate's judge: the teacher itself, or a DANN teacher adapted in this round to the site's windows. */
function referenceNet(task: RedistillTask, teacher: Cnn): Cnn {
  if (task.reference === 'teacher') return teacher;
  return train({
    algorithm: 'dann', spec: teacher.spec, source: task.source, target: task.target, seed: task.seed + 7919,
    hparams: { ...task.hparams, epochs: task.referenceEpochs },
    onEpoch: (epoch, epochs, losses) => post({ type: 'progress', phase: 'reference', epoch, epochs, losses }),
  }).net;
}

function runRedistill(task: RedistillTask, backend: string): RedistillOutput {
  const teacher = loadNet(task.teacher);
  const current = loadNet(task.current);
  const reference = referenceNet(task, teacher);
  const r = trainNet(task, 'unikd', teacher, task.target);
  // Gate inputs: every model in eval mode on the same held-out windows; the reference's argmax is what counts.
  const ref = argmaxRows(predictLogits(reference, task.heldOut));
  const evaluation: Evaluation = {
    reference: task.reference,
    heldOut: task.heldOut.n,
    candidateAgreement: agreement(argmaxRows(predictLogits(r.net, task.heldOut)), ref),
    currentAgreement: agreement(argmaxRows(predictLogits(current, task.heldOut)), ref),
    ...(task.labelled !== undefined ? { labelled: scoreLabelled(r.net, current, task.labelled) } : {}),
  };
  const metrics: Record<string, number> = {
    candidateAgreement: evaluation.candidateAgreement,
    currentAgreement: evaluation.currentAgreement,
    heldOutWindows: evaluation.heldOut,
    trainWindows: task.target.n,
    ...(evaluation.labelled ? { labelledMacroF1: evaluation.labelled.candidateMacroF1, labelledAccuracy: evaluation.labelled.candidateAccuracy } : {}),
  };
  return { artifact: encodeResult(task, r, backend, metrics), history: r.history, trainSeconds: r.trainSeconds, backend, evaluation };
}

function scoreLabelled(candidate: Cnn, current: Cnn, ws: WindowSet): NonNullable<Evaluation['labelled']> {
  const c = evaluate(candidate, ws);
  const p = evaluate(current, ws);
  return { n: ws.n, candidateMacroF1: c.macroF1, currentMacroF1: p.macroF1, candidateAccuracy: c.accuracy, currentAccuracy: p.accuracy };
}

async function main(task: WorkerTask): Promise<void> {
  try {
    const backend = (await selectBackend(task.backend)).name;
    const output = task.kind === 'train' ? runTrain(task, backend) : runRedistill(task, backend);
    parentPort?.postMessage({ type: 'result', output } satisfies WorkerMessage, [output.artifact.buffer as ArrayBuffer]);
  } catch (err) {
    post({
      type: 'error',
      code: isSitekdError(err) ? err.code : 'SITEKD_ERR_JOB_FAILED',
      message: err instanceof Error ? err.message : String(err),
    });
  }
}

void main(workerData as WorkerTask);
