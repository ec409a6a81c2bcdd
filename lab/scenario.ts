/**
 * One cross-domain scenario end to end: a DANN teacher (or a given one), then students distilled with each requested
 * algorithm, all scored on the target's test split. Used by `sitekd distill`, `sitekd demo` and the benchmarks.
 */
import type { AlgorithmName, HParams } from '../shared/ml/algorithms/algorithm';
import { UNIKD_PRESETS, type UniKdOptions, type UniKdPreset } from '../shared/ml/algorithms/unikd-options';
import type { Cnn } from '../shared/ml/cnn';
import { evaluate, type Score } from '../shared/ml/evaluate';
import { countParams, inputFor, specFor } from '../shared/ml/model-spec';
import { train } from '../shared/ml/train';
import { selectByConsensus } from '../shared/ml/teacher-selection';
import type { Domain } from '../shared/ml/types';

export type StudentAlgorithm = Exclude<AlgorithmName, 'dann'>;

export interface ScenarioRequest {
  readonly source: Domain;
  readonly target: Domain;
  readonly seed: number;
  readonly numClasses: number;
  readonly students: readonly StudentAlgorithm[];
  readonly hparams?: Partial<HParams>;
  readonly teacherHparams?: Partial<HParams>;
  readonly preset?: UniKdPreset;
  readonly unikd?: Partial<UniKdOptions>;
  /** DANN teachers to train (seeds seed, seed+1000, …); with more than one, the consensus teacher is used. */
  readonly teacherCandidates?: number;
  /** A trained teacher to distill from; trained with DANN when absent. */
  readonly teacher?: Cnn;
  readonly onEpoch?: (what: string, epoch: number, epochs: number, losses: Record<string, number>) => void;
}

export interface ModelOutcome {
  readonly algorithm: AlgorithmName;
  readonly net: Cnn;
  readonly params: number;
  readonly trainSeconds: number;
  /** Every target test window. */
  readonly score: Score;
  /** The official UNI-KD metric: last partial batch of 32 dropped. */
  readonly scoreOfficial: Score;
  readonly options?: UniKdOptions;
  readonly hparams?: HParams;
}

export interface ScenarioOutcome {
  readonly teacher: ModelOutcome;
  /** With several teacher candidates: every candidate's outcome and the consensus choice. */
  readonly candidates?: { readonly outcomes: ModelOutcome[]; readonly chosen: number; readonly agreement: number[] };
  readonly students: ModelOutcome[];
}

function outcome(algorithm: AlgorithmName, net: Cnn, target: Domain, trainSeconds: number, hparams?: HParams, options?: UniKdOptions): ModelOutcome {
  const score = evaluate(net, target.test);
  return {
    algorithm,
    net,
    params: countParams(net.spec),
    trainSeconds,
    score,
    // With fewer than 32 test windows the official loader would score nothing; score them all instead.
    scoreOfficial: target.test.n >= 32 ? evaluate(net, target.test, { dropLastBatch: 32 }) : score,
    ...(hparams ? { hparams } : {}),
    ...(options ? { options } : {}),
  };
}

export function runScenario(req: ScenarioRequest): ScenarioOutcome {
  const { source, target } = req;
  const input = inputFor(source.train.channels, source.train.length, req.teacher?.spec.numClasses ?? req.numClasses);
  let teacher: ModelOutcome;
  let candidates: ScenarioOutcome['candidates'];
  if (req.teacher) {
    teacher = outcome('dann', req.teacher, target, 0);
  } else {
    const outcomes: ModelOutcome[] = [];
    for (let c = 0; c < Math.max(1, req.teacherCandidates ?? 1); c++) {
      const r = train({
        algorithm: 'dann', spec: specFor(input, 'teacher'), source: source.train, target: target.train, seed: req.seed + 1000 * c,
        ...(req.teacherHparams ? { hparams: req.teacherHparams } : {}),
        onEpoch: (e, n, l) => req.onEpoch?.(c === 0 ? 'teacher' : `teacher #${c + 1}`, e, n, l),
      });
      outcomes.push(outcome('dann', r.net, target, r.trainSeconds, r.hparams));
    }
    if (outcomes.length === 1) {
      teacher = outcomes[0] as ModelOutcome;
    } else {
      const choice = selectByConsensus(outcomes.map((o) => o.net), target.train);
      teacher = outcomes[choice.index] as ModelOutcome;
      candidates = { outcomes, chosen: choice.index, agreement: choice.agreement };
    }
  }
  const students = req.students.map((alg) => {
    const unikd = { ...(req.preset ? UNIKD_PRESETS[req.preset] : {}), ...(req.unikd ?? {}) };
    const r = train({
      algorithm: alg, spec: specFor({ ...input, numClasses: teacher.net.spec.numClasses }, 'student'), source: source.train, target: target.train,
      seed: req.seed, teacher: teacher.net, unikd, ...(req.hparams ? { hparams: req.hparams } : {}),
      onEpoch: (e, n, l) => req.onEpoch?.(alg, e, n, l),
    });
    return outcome(alg, r.net, target, r.trainSeconds, r.hparams, r.unikd);
  });
  return { teacher, students, ...(candidates ? { candidates } : {}) };
}
