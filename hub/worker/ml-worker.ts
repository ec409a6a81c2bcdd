/**
 * The hub's training worker (a `worker_threads` entry, kept warm by hub/worker/ml-pool.ts): takes tasks as messages, one
 * at a time; per task it selects the tfjs backend (wasm by default, set up once), trains, evaluates, posts the artifact
 * bytes back and frees the task's tensors (hub/worker/task-scope.ts). Everything here is
 * synchronous tfjs work that would otherwise freeze the hub's MQTT loop for seconds to minutes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { cnnFromArtifact, decodeCnnArtifact, encodeCnn } from '../../shared/artifact/cnn-artifact';
import { ErrorCode, isSitekdError, SitekdError } from '../../shared/errors';
import { selectBackend } from '../../shared/ml/backend';
import type { Cnn } from '../../shared/ml/cnn';
import { HParamsSchema } from '../../shared/ml/algorithms/algorithm';
import { disposeVars } from '../../shared/ml/params';
import type { Turn } from '../../shared/ml/sensor-frame';
import { adaptToSite, centroidsOfHead } from '../../shared/ml/site-adapt';
import { argmaxRows, predictLogits, train, type TrainResult } from '../../shared/ml/train';
import type { WindowSet } from '../../shared/ml/types';
import { matches } from '../jobs/gate';
import { crossFitAgreement, type CrossFitVectors } from './cross-fit-eval';
import { labelledRound } from './labelled-eval';
import type { Evaluation, PairedVectors, RedistillOutput, RedistillTask, TaskRequest, TrainOutput, TrainTask, WorkerMessage, WorkerStart, WorkerTask } from './ml-worker-protocol';
import { inTaskScope, taskMemory } from './task-scope';
import { runPredict } from './predict-worker';

function post(msg: WorkerMessage): void {
  parentPort?.postMessage(msg);
}

function loadNet(bytes: Uint8Array): Cnn {
  return cnnFromArtifact(decodeCnnArtifact(bytes));
}

function trainNet(task: TrainTask | RedistillTask, algorithm: 'source-only' | 'kd' | 'unikd', teacher: Cnn | undefined, target: WindowSet): TrainResult {
  const source = task.source;
  if (source === undefined) throw new SitekdError(ErrorCode.JOB_FAILED, `a ${algorithm} run needs the labelled source split and the task has none`);
  return train({
    algorithm, spec: task.spec, source, target, seed: task.seed, hparams: task.hparams,
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

/**
 * The gate's judge: the hub's teacher as it is, or (default) the teacher adapted to the site's training windows the
 * same label-free way as the `site-adapt` candidate. The unadapted teacher is what the generic student was distilled
 * to imitate, so the generic student agrees with it most exactly where both are wrong on the site. The DANN teacher
 * this replaced was retrained from a random start every round and often ranked candidates the wrong way round
 * (bench/results/adaptation-har.md, before this change); the adapted teacher is deterministic (it changes only with
 * the teacher's version and the site's windows), costs no training, and no candidate is distilled from it.
 */
function referenceNet(task: RedistillTask, teacher: Cnn): Cnn {
  const net = task.reference === 'teacher' ? teacher : adaptToSite(teacher, task.target, task.referenceAdapt).net;
  post({ type: 'progress', phase: 'reference', epoch: 1, epochs: 1, losses: {} });
  return net;
}

/** Warm start: the serving student's centroids, when a round of this recipe made it (its head is a centroid head). */
function warmStart(task: RedistillTask, current: Cnn, generic: Cnn): Float32Array | undefined {
  const warm = current.spec.numClasses === generic.spec.numClasses && decodeCnnArtifact(task.current).algorithm === 'site-adapt';
  return warm ? centroidsOfHead(current) : undefined;
}

/** The gate's vectors of a cross-fitted round (hub/worker/cross-fit-eval.ts). */
function crossFitted(task: RedistillTask, folds: NonNullable<RedistillTask['crossFit']>, teacher: Cnn, current: Cnn, voters: readonly Cnn[]): CrossFitVectors {
  const generic = loadNet(task.generic);
  try {
    const init = warmStart(task, current, generic);
    const agrees = crossFitAgreement(folds, { teacher, generic, current, reference: task.reference, adapt: task.adapt, referenceAdapt: task.referenceAdapt, init, voters });
    post({ type: 'progress', phase: 'reference', epoch: 1, epochs: 1, losses: {} });
    return agrees;
  } finally {
    disposeVars(generic.vars);
  }
}

/** Judged on held-out windows neither the candidate nor the reference adapted to. */
function heldOutJudged(task: RedistillTask, reference: Cnn, current: Cnn, net: Cnn): PairedVectors {
  // Gate inputs: every model in eval mode on the same held-out windows; the reference's argmax is what counts. The
  // gate gets per-window agreement (a paired comparison), not only the two rates.
  const ref = argmaxRows(predictLogits(reference, task.heldOut));
  return { candidate: matches(argmaxRows(predictLogits(net, task.heldOut)), ref), current: matches(argmaxRows(predictLogits(current, task.heldOut)), ref) };
}

/** The round's candidate: see RedistillTask.recipe. */
function candidateNet(task: RedistillTask, teacher: Cnn, current: Cnn, voters: readonly Cnn[]): { net: Cnn; result: TrainResult; turn?: Turn } {
  if (task.recipe === 'unikd') {
    const r = trainNet(task, 'unikd', teacher, task.target);
    return { net: r.net, result: r };
  }
  const started = performance.now();
  const generic = loadNet(task.generic);
  const init = warmStart(task, current, generic);
  const a = adaptToSite(generic, task.target, { ...task.adapt, ...(init !== undefined ? { init } : {}), voters });
  disposeVars(generic.vars);
  const warm = init !== undefined;
  post({ type: 'progress', phase: 'candidate', epoch: 1, epochs: 1, losses: {} });
  const history = [{ relabelled: a.relabelled, warmStart: warm ? 1 : 0, ...(a.turn !== undefined && { turnAxis: a.turn.axis, turnDegrees: a.turn.degrees }) }];
  return { net: a.net, ...(a.turn !== undefined && { turn: a.turn }), result: { net: a.net, hparams: HParamsSchema.parse(task.hparams), history, trainSeconds: (performance.now() - started) / 1000 } };
}

function runRedistill(task: RedistillTask, backend: string): RedistillOutput {
  const teacher = loadNet(task.teacher);
  const current = loadNet(task.current);
  const folds = task.recipe === 'site-adapt' ? task.crossFit : undefined;
  // The gate's reference (or the cross-fitted folds) first: the round's timing counts it apart from the candidate.
  const reference = folds === undefined ? referenceNet(task, teacher) : undefined;
  // Voters only matter where a turn is searched.
  const voters = task.recipe === 'site-adapt' && task.adapt.frame !== undefined ? (task.voters ?? []).map(loadNet) : [];
  let crossAgrees: CrossFitVectors | undefined;
  let made: ReturnType<typeof candidateNet>;
  try {
    crossAgrees = folds !== undefined ? crossFitted(task, folds, teacher, current, voters) : undefined;
    made = candidateNet(task, teacher, current, voters);
  } finally {
    for (const v of voters) disposeVars(v.vars);
  }
  const out = finish(task, backend, current, made, crossAgrees?.agrees ?? heldOutJudged(task, reference ?? teacher, current, made.net), crossAgrees?.unturned);
  // With turns on, also the candidate without a turn: what the round decides on when the turned one is rejected (by
  // the references or, when the site has one, by the operator's labelled set, with a head fitted to it alike).
  if (crossAgrees?.plain === undefined) return out;
  const { frame: _frame, ...plainAdapt } = task.adapt;
  const plainTask = { ...task, adapt: plainAdapt };
  return { ...out, withoutTurn: finish(plainTask, backend, current, candidateNet(plainTask, teacher, current, []), crossAgrees.plain, undefined) };
}

/** The output for one candidate and its gate vectors (with the operator's labelled set, when there is one). */
function finish(task: RedistillTask, backend: string, current: Cnn, made: ReturnType<typeof candidateNet>, agrees: PairedVectors, unturned: PairedVectors | undefined): RedistillOutput {
  const fit = task.recipe !== 'site-adapt' ? `${task.recipe} rounds do not fit one` : task.fitLabelledHead === false ? 'fitLabelledHead is off' : true;
  const lab = task.labelled !== undefined ? labelledRound(made.net, current, task.labelled, fit) : undefined;
  const net = lab?.net ?? made.net;
  const r = net === made.net ? made.result : { ...made.result, net };
  const evaluation: Evaluation = {
    reference: task.reference,
    heldOut: task.heldOut.n,
    candidateAgreement: share(agrees.candidate),
    currentAgreement: share(agrees.current),
    agrees,
    ...(unturned !== undefined && { unturned }),
    ...(lab !== undefined ? { labelled: lab.scores } : {}),
  };
  const metrics: Record<string, number> = {
    candidateAgreement: evaluation.candidateAgreement,
    currentAgreement: evaluation.currentAgreement,
    heldOutWindows: evaluation.heldOut,
    trainWindows: task.target.n,
    ...(evaluation.labelled ? { labelledMacroF1: evaluation.labelled.candidateMacroF1, labelledAccuracy: evaluation.labelled.candidateAccuracy } : {}),
  };
  // A fitted head is not a centroid head: the next round must not warm-start from it (warmStart).
  const meta = { ...task.meta, algorithm: lab?.scores.head.fitted === true ? 'site-adapt+labels' : task.recipe };
  return { artifact: encodeResult({ ...task, meta }, r, backend, metrics), history: r.history, trainSeconds: r.trainSeconds, backend, evaluation, ...(made.turn !== undefined && { turn: made.turn }) };
}

/** Share of ones in a 0/1 vector (0 when empty). */
function share(v: Uint8Array): number {
  let ones = 0;
  for (const x of v) ones += x;
  return v.length === 0 ? 0 : ones / v.length;
}

async function runTask(task: WorkerTask): Promise<void> {
  try {
    const backend = (await selectBackend(task.backend)).name;
    if (task.kind === 'predict') {
      const output = inTaskScope(() => runPredict(task, backend));
      return post({ type: 'result', output, memory: taskMemory() });
    }
    const output = inTaskScope(() => (task.kind === 'train' ? runTrain(task, backend) : runRedistill(task, backend)));
    parentPort?.postMessage({ type: 'result', output, memory: taskMemory() } satisfies WorkerMessage, [output.artifact.buffer as ArrayBuffer]);
  } catch (err) {
    post({
      type: 'error',
      code: isSitekdError(err) ? err.code : 'SITEKD_ERR_JOB_FAILED',
      message: err instanceof Error ? err.message : String(err),
      memory: taskMemory(),
    });
  }
}

// Set the backend up before the first task (a warm pool worker); a failure here is reported by that task's own try.
const start = workerData as WorkerStart | undefined;
let chain: Promise<unknown> = start?.backend !== undefined ? selectBackend(start.backend).catch(() => undefined) : Promise.resolve();
// One task at a time, in the order they came (the pool sends the next one only after the last one's answer).
parentPort?.on('message', (msg: TaskRequest) => {
  chain = chain.then(() => runTask(msg.task));
});
