/**
 * Messages between the hub and its training workers (hub/worker/ml-worker.ts, `worker_threads` Workers kept warm by
 * hub/worker/ml-pool.ts). Plain data only:
 * typed arrays are structured-cloned, artifacts travel as bytes. The hub's main thread never loads tfjs; all
 * training and evaluation happen in the worker, so the MQTT loop stays responsive and the second core is used.
 */
import type { CnnArtifactMeta } from '../../shared/artifact/cnn-artifact';
import type { HParams } from '../../shared/ml/algorithms/algorithm';
import type { UniKdOptions } from '../../shared/ml/algorithms/unikd-options';
import type { BackendPreference } from '../../shared/ml/backend';
import type { Turn } from '../../shared/ml/sensor-frame';
import type { SiteAdaptSettings } from '../../shared/ml/site-adapt';
import type { CnnSpec } from '../../shared/ml/model-spec';
import type { WindowSet } from '../../shared/ml/types';
import type { PredictOutput, PredictTask } from './predict-protocol';

/** Train one network: the hub's own teacher (`source-only`, teacher spec) or the generic student (`kd`). */
export interface TrainTask {
  readonly kind: 'train';
  readonly backend: BackendPreference;
  readonly algorithm: 'source-only' | 'kd' | 'unikd';
  readonly spec: CnnSpec;
  readonly source: WindowSet;
  readonly target: WindowSet;
  readonly teacher?: Uint8Array;
  readonly seed: number;
  readonly hparams: Partial<HParams>;
  readonly unikd?: Partial<UniKdOptions>;
  /** Stored in the artifact (version, kind, provenance); the worker adds hparams, options and backend. */
  readonly meta: Omit<CnnArtifactMeta, 'hparams' | 'options' | 'backend'>;
}

/** How a round makes its candidate (hub/config.ts `roundRecipe`; measured by `npm run bench:adaptation`). */
export type RoundRecipe = 'site-adapt' | 'unikd';

/** One redistillation round: a candidate for the site from its returned windows, then everything the gate needs. */
export interface RedistillTask {
  readonly kind: 'redistill';
  readonly backend: BackendPreference;
  readonly spec: CnnSpec;
  /**
   * `site-adapt`: the generic student adapted to the site without gradient steps (shared/ml/site-adapt.ts: the
   * site's batch-norm statistics and a centroid head), warm-started from the serving student's centroids when that
   * student was made this way; `unikd`: UNI-KD on source + the site's windows from the hub's teacher.
   */
  readonly recipe: RoundRecipe;
  /** Labelled source train split: sent only with `unikd` (`site-adapt` never reads it; copying it to the worker took the hub's main thread ~6 MB of structured clone per round). */
  readonly source?: WindowSet;
  /** The site's returned training windows (unlabelled, channels-first). */
  readonly target: WindowSet;
  /** The site's held-out returned windows. */
  readonly heldOut: WindowSet;
  /** An operator's labelled set for the site, if any. */
  readonly labelled?: WindowSet;
  /** Fit a `site-adapt` candidate's head to `labelled` (hub/worker/labelled-eval.ts); default true. */
  readonly fitLabelledHead?: boolean;
  readonly teacher: Uint8Array;
  /** The generic student (what `site-adapt` adapts). */
  readonly generic: Uint8Array;
  /** Generic students of other teachers that vote on the site's turn (hub config `turnVoters`; read only with turns on). */
  readonly voters?: readonly Uint8Array[];
  /** The student the site runs now (generic or an earlier round). */
  readonly current: Uint8Array;
  readonly seed: number;
  readonly hparams: Partial<HParams>;
  readonly unikd: Partial<UniKdOptions>;
  /** How `site-adapt` adapts. */
  readonly adapt: SiteAdaptSettings;
  /**
   * How the `adapted-teacher` reference is adapted: as `adapt` but with no turn search of its own (cross-fitted, it is
   * turned as each fold's candidate; hub/jobs/round.ts referenceAdaptSettings says why).
   */
  readonly referenceAdapt: SiteAdaptSettings;
  readonly meta: Omit<CnnArtifactMeta, 'hparams' | 'options' | 'backend'>;
  /**
   * Whose argmax the gate compares with on the held-out windows: `teacher` (the hub's teacher as it is) or
   * `adapted-teacher` (the hub's teacher adapted to the site's training windows the same label-free way as
   * `site-adapt`: deterministic, so it changes only with the teacher's version and the site's windows).
   */
  readonly reference: GateReference;
  /**
   * Cross-fitting (hub/jobs/cross-fit.ts; `site-adapt` only): `target` is then every window of the site, and the gate's
   * vectors come from the folds — per fold, a candidate and a reference adapted to the other fold, judged on this
   * fold's uniformly sampled windows (`heldOut` is both folds' judged windows, fold 0 first).
   */
  readonly crossFit?: readonly [WorkerFold, WorkerFold];
}

/** One cross-fitting fold: all its windows, and its uniformly sampled ones (the judged). */
export interface WorkerFold {
  readonly windows: WindowSet;
  readonly judged: WindowSet;
}

export type GateReference = 'teacher' | 'adapted-teacher';

export type WorkerTask = TrainTask | RedistillTask | PredictTask;

export interface TrainOutput {
  readonly artifact: Uint8Array;
  readonly history: ReadonlyArray<Record<string, number>>;
  readonly trainSeconds: number;
  readonly backend: string;
}

/** Per window, 1 where the candidate / the current student is right (or agrees with the reference), else 0. */
export interface PairedVectors {
  readonly candidate: Uint8Array;
  readonly current: Uint8Array;
}

export interface Evaluation {
  readonly reference: GateReference;
  readonly heldOut: number;
  /** Shares of `agrees`, 0..1. */
  readonly candidateAgreement: number;
  readonly currentAgreement: number;
  /** Agreement with the reference's argmax on each held-out window: the gate's paired input (hub/jobs/gate.ts). */
  readonly agrees: PairedVectors;
  /** Cross-fitted with turns on: agreement with the reference adapted unturned (hub/worker/cross-fit-eval.ts). */
  readonly unturned?: PairedVectors;
  readonly labelled?: {
    readonly n: number;
    readonly candidateMacroF1: number;
    readonly currentMacroF1: number;
    readonly candidateAccuracy: number;
    readonly currentAccuracy: number;
    /** Correctness on each labelled window (of a fitted head: cross-fitted, hub/worker/labelled-eval.ts). */
    readonly correct: PairedVectors;
    /** Whether the candidate's head was fitted to the labelled set, and why (not), for the gate's reasons. */
    readonly head: { readonly fitted: boolean; readonly why: string };
  };
}

export interface RedistillOutput extends TrainOutput {
  readonly evaluation: Evaluation;
  /** `site-adapt` with turns on: the turn of the site's sensors the candidate applies (shared/ml/sensor-frame.ts). */
  readonly turn?: Turn;
  /**
   * Cross-fitted `site-adapt` with turns on and a fold's candidate turned: the candidate adapted with no turn, judged
   * (per fold, adapted to the other) by the reference adapted unturned, or by the labelled set when there is one — what
   * the round decides on when the turned candidate is rejected (hub/jobs/round.ts).
   */
  readonly withoutTurn?: RedistillOutput;
}

export type WorkerOutput<T extends WorkerTask> = T extends PredictTask ? PredictOutput : T extends RedistillTask ? RedistillOutput : TrainOutput;

/** tfjs memory of a worker after a task (hub/worker/task-scope.ts): what the pool watches for growth. */
export interface TaskMemory {
  /** `tf.memory()` after the task's tensors and variables were disposed. */
  readonly numTensors: number;
  readonly numBytes: number;
  /** The wasm backend's linear memory (it grows to the largest task's peak and never shrinks); 0 on other backends. */
  readonly wasmBytes: number;
}

/** Hub → worker: one task at a time; the worker answers with progress messages, then one `result` or `error`. */
export interface TaskRequest {
  readonly type: 'task';
  readonly task: WorkerTask;
}

/** `workerData` of a worker: the backend to set up before the first task arrives (a warm pool worker). */
export interface WorkerStart {
  readonly backend?: BackendPreference;
}

export type WorkerMessage =
  | {
      readonly type: 'progress';
      /** `reference`: the gate's reference is ready; `candidate`: the student (or the one network of a `train` task). */
      readonly phase: 'reference' | 'candidate';
      readonly epoch: number;
      readonly epochs: number;
      readonly losses: Record<string, number>;
    }
  | { readonly type: 'result'; readonly output: TrainOutput | RedistillOutput | PredictOutput; readonly memory: TaskMemory }
  | { readonly type: 'error'; readonly code: string; readonly message: string; readonly memory: TaskMemory };
