/**
 * The decision part of one redistillation round for one site, with no side effect outside the worker:
 *   read the site's stored windows → deterministic held-out split by batch id (store.split) → the candidate in the
 *   worker thread (the settings' recipe: the generic student adapted to the site's returned windows, or UNI-KD with
 *   source = the labelled source train split and target = those windows) → gate (gate.ts).
 * It publishes nothing and records nothing: the hub's job (redistill-job.ts) signs and publishes a passed candidate
 * and records every outcome, and `sitekd adapt-eval` (lab/adapt-eval*.ts) applies the decision itself to measure the
 * round on labelled data. Both call this one function, so what the benchmark measures is what the hub ships.
 */
import type { ReportProgress } from './job-queue';
import type { HParams } from '../../shared/ml/algorithms/algorithm';
import { UNIKD_PRESETS } from '../../shared/ml/algorithms/unikd-options';
import type { BackendPreference } from '../../shared/ml/backend';
import { specFor } from '../../shared/ml/model-spec';
import { axisGroups } from '../../shared/ml/sensor-frame';
import type { SiteAdaptSettings } from '../../shared/ml/site-adapt';
import type { WindowSet } from '../../shared/ml/types';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { decideGate, pairedCounts, type GateDecision, type GateInput, type GateSettings } from './gate';
import type { MlRunner } from '../worker/ml-runner';
import type { Evaluation, GateReference, RedistillOutput, RoundRecipe, WorkerFold } from '../worker/ml-worker-protocol';
import { crossFitSplit, joinWindows } from './cross-fit';
import type { SampleSet, SampleStore } from '../store/sample-store';
import { named, type InputLayout, type TeacherBundle } from '../models/teacher';
import { versionNumber } from '../models/versioning';
import { sampleSetToWindowSet } from '../store/windows';

export interface RoundSettings {
  readonly holdoutFraction: number;
  readonly minTrainWindows: number;
  readonly minHeldOutWindows: number;
  readonly maxRoundWindows: number;
  readonly epochs: number;
  readonly seed: number;
  readonly preset: 'code' | 'paper';
  /** The gate's one-sided confidence and margin (hub/jobs/gate.ts). */
  readonly gateConfidence: number;
  readonly gateMargin: number;
  /** Wins minus losses needed, a share of the judged windows (hub/jobs/gate.ts). */
  readonly gateMinGain: number;
  readonly gateReference: GateReference;
  /** How the candidate is made, and the nearest-centroid rounds of `site-adapt` (hub/worker/ml-worker-protocol.ts). */
  readonly roundRecipe: RoundRecipe;
  readonly adaptIterations: number;
  readonly adaptSourcePrior: number;
  /** Largest turn of the site's 3-axis sensors tried (shared/ml/sensor-frame.ts); 0: none. */
  readonly adaptTurnDegrees: number;
  /** Extra students voting on the turn (TeacherBundle.voters; hub/models/teacher.ts turnVoters). */
  readonly turnVoters: number;
  /** Fit a `site-adapt` candidate's head to the site's labelled set, when there is one (hub/worker/labelled-eval.ts). */
  readonly fitLabelledHead: boolean;
  /**
   * How `site-adapt` rounds get the gate's evidence: `cross-fit` (two folds, each judged by a candidate adapted to the
   * other; the published student adapted to all windows: hub/jobs/cross-fit.ts) or `holdout` (a held-out share never
   * adapted to). `unikd` rounds always hold out.
   */
  readonly gateSplit: GateSplit;
  readonly backend: BackendPreference;
  readonly hparams?: Partial<HParams>;
}

export type GateSplit = 'cross-fit' | 'holdout';

export interface RoundDeps {
  readonly store: SampleStore;
  /** The labelled source train split (channels-first). */
  readonly source: WindowSet;
  readonly input: InputLayout;
  readonly run: MlRunner;
  readonly settings: RoundSettings;
  readonly now: () => number;
}

/** The student a site serves: its version (undefined when none was published) and artifact bytes. */
export interface CurrentModel {
  readonly version: string | undefined;
  readonly bytes: Uint8Array;
}

export interface RoundRequest {
  readonly site: string;
  /** Names the candidate (`c-<jobId>`) until it is published. */
  readonly jobId: string;
  readonly teacher: TeacherBundle;
  /** The site's current student; asked for only once the round has enough windows to train. */
  readonly current: () => Promise<CurrentModel>;
  /** An operator's labelled set for the site, if configured. */
  readonly labelled?: WindowSet | undefined;
  readonly report: ReportProgress;
  readonly signal: AbortSignal;
}

/** Where a round's time went, in seconds (measured with `RoundDeps.now`). */
export interface RoundTiming {
  /** Reading and splitting the stored windows. */
  readonly read: number;
  /** Worker start, tfjs backend and model loading, and the gate's reference (the teacher adapted to the site); cross-fitted, both folds' candidate, reference and predictions. */
  readonly reference: number;
  /** The candidate (site adaptation or UNI-KD student), from the reference to its last epoch. */
  readonly student: number;
  /** After the student's last epoch: the gate's predictions on the held-out windows, encoding, the worker's reply. */
  readonly evaluate: number;
  readonly total: number;
}

export type RoundOutcome =
  | { readonly kind: 'skipped'; readonly reason: string; readonly trainWindows: number; readonly heldOut: number; readonly setAside: number }
  | {
      readonly kind: 'decided';
      /** Held-out windows not sampled uniformly: neither trained on nor judged (sample-set.ts `RoundSplit`). */
      readonly setAside: number;
      readonly trainWindows: number;
      readonly heldOut: number;
      readonly heldOutBy: 'batch' | 'window';
      readonly current: CurrentModel;
      /** The candidate artifact, its training history and the gate's figures. */
      readonly output: RedistillOutput;
      readonly gate: GateDecision;
      readonly timing: RoundTiming;
    };

/**
 * Train / held-out windows of the site. By batch id first (store.split): a batch's windows overlap in time, so
 * keeping a batch on one side keeps near-copies of held-out windows out of training. With only a few batches that
 * split can leave too few windows on one side (5 batches of 32 and 20 % held out: no held-out batch one time in
 * three); then single windows are held out, by a hash of batch id and sequence number (still the same side in
 * every round), accepting that neighbours of a held-out window may be trained on.
 */
async function splitWindows(store: SampleStore, site: string, s: RoundSettings): Promise<{ train: SampleSet; heldOut: SampleSet; setAside: number; by: 'batch' | 'window' }> {
  const byBatch = await store.split(site, s.holdoutFraction, { limit: s.maxRoundWindows });
  const enough = byBatch.train.n >= s.minTrainWindows && byBatch.heldOut.n >= s.minHeldOutWindows;
  if (enough || byBatch.train.n + byBatch.heldOut.n < s.minTrainWindows + s.minHeldOutWindows) return { ...byBatch, by: 'batch' };
  return { ...(await store.split(site, s.holdoutFraction, { limit: s.maxRoundWindows, by: 'window' })), by: 'window' };
}

/** What a round adapts to and judges on, or why it is skipped. */
type Prepared =
  | { readonly skip: string; readonly trainWindows: number; readonly heldOut: number; readonly setAside: number }
  | { readonly skip?: undefined; readonly target: WindowSet; readonly heldOut: WindowSet; readonly crossFit?: [WorkerFold, WorkerFold]; readonly trainWindows: number; readonly setAside: number; readonly by: 'batch' | 'window'; readonly shape: SampleSet };

async function prepare(d: RoundDeps, site: string): Promise<Prepared> {
  const s = d.settings;
  {
    if (s.gateSplit === 'cross-fit' && s.roundRecipe === 'site-adapt') {
      const all = await d.store.read(site, { limit: s.maxRoundWindows });
      // Each fold's candidate is adapted to one fold, so each fold needs what a candidate needs: minTrainWindows.
      const { folds, by } = crossFitSplit(all, s.minTrainWindows);
      const judged = folds[0].judged.n + folds[1].judged.n;
      const fold = Math.min(folds[0].windows.n, folds[1].windows.n);
      if (fold < s.minTrainWindows || judged < s.minHeldOutWindows) {
        const reason = `too few windows to cross-fit: ${all.n} in folds of ${folds[0].windows.n} and ${folds[1].windows.n} (each needs ${s.minTrainWindows}), ${judged} uniformly sampled to judge (need ${s.minHeldOutWindows})`;
        return { skip: reason, trainWindows: all.n, heldOut: judged, setAside: 0 };
      }
      const ws = folds.map((f) => ({ windows: sampleSetToWindowSet(f.windows), judged: sampleSetToWindowSet(f.judged) })) as [WorkerFold, WorkerFold];
      return { target: sampleSetToWindowSet(all), heldOut: joinWindows(ws[0].judged, ws[1].judged), crossFit: ws, trainWindows: all.n, setAside: 0, by, shape: all };
    }
    const { train, heldOut, setAside, by } = await splitWindows(d.store, site, s);
    if (train.n < s.minTrainWindows || heldOut.n < s.minHeldOutWindows) {
      return { skip: `too few windows: ${train.n} to train on (need ${s.minTrainWindows}) and ${heldOut.n} uniformly sampled held out (need ${s.minHeldOutWindows})`, trainWindows: train.n, heldOut: heldOut.n, setAside };
    }
    return { target: sampleSetToWindowSet(train), heldOut: sampleSetToWindowSet(heldOut), trainWindows: train.n, setAside, by, shape: train };
  }
}

/** Degrees between the turns of a site's sensors that `site-adapt` tries. */
export const TURN_STEP_DEGREES = 10;

/**
 * How the hub's config adapts a model to a site, as the worker takes it (candidate, gate reference, rollout watch):
 * with the data set's 3-axis channel groups when it names any, so that a turned mounting can be searched.
 */
export function siteAdaptSettings(s: Pick<RoundSettings, 'adaptIterations' | 'adaptSourcePrior' | 'adaptTurnDegrees'>, input: Pick<InputLayout, 'channelNames'>): SiteAdaptSettings {
  const groups = axisGroups(input.channelNames ?? []);
  const frame = groups.length > 0 && s.adaptTurnDegrees > 0 ? { groups, maxDegrees: s.adaptTurnDegrees, stepDegrees: TURN_STEP_DEGREES } : undefined;
  return { iterations: s.adaptIterations, sourcePrior: s.adaptSourcePrior, ...(frame !== undefined && { frame }) };
}

/**
 * How the gate's adapted-teacher reference (and the rollout watch's) is adapted: the same steps, but it never searches a
 * turn of its own. With turns on, a cross-fitted round turns each fold's reference as that fold's candidate turned
 * (hub/worker/cross-fit-eval.ts), so the reference judges the rest of the adaptation, and also judges with the
 * reference unturned, against which the candidate must be not worse than the margin too (hub/jobs/gate.ts `unturned`):
 * a reference turned alike shares the mistake when the losses mislead (HAR subject 10: turns that made the student and
 * the teacher alike surer and worse, e.g. 57.0 → 50.0 macro-F1; docs/adaptation.md §1.5).
 */
export function referenceAdaptSettings(s: Pick<RoundSettings, 'adaptIterations' | 'adaptSourcePrior'>): SiteAdaptSettings {
  return { iterations: s.adaptIterations, sourcePrior: s.adaptSourcePrior };
}

/**
 * The gate on the worker's output. With turns on, a turned candidate the gate rejects gives way to the same candidate
 * adapted without a turn, judged as with turns off (RedistillOutput.withoutTurn): a turn not confirmed costs the site
 * the turn, not the rest of the adaptation.
 */
export function decideRound(raw: RedistillOutput, settings: GateSettings): { output: RedistillOutput; gate: GateDecision } {
  const { withoutTurn, ...turned } = raw;
  const gate = decideGate(gateInput(turned.evaluation, settings));
  if (gate.pass || withoutTurn === undefined) return { output: turned, gate };
  const plain = decideGate(gateInput(withoutTurn.evaluation, settings));
  const reasons = [...gate.reasons, ...plain.reasons.map((x) => `without a turn: ${x}`), plain.pass ? 'the candidate adapted without a turn is published instead' : 'without a turn it is rejected too'];
  return plain.pass ? { output: withoutTurn, gate: { ...plain, reasons } } : { output: turned, gate: { ...gate, reasons } };
}

function gateInput(ev: Evaluation, settings: GateSettings): GateInput {
  return {
    agreement: pairedCounts(ev.agrees.candidate, ev.agrees.current), reference: ev.reference,
    ...(ev.unturned !== undefined && { unturned: pairedCounts(ev.unturned.candidate, ev.unturned.current) }),
    ...(ev.labelled ? { labelled: { correct: pairedCounts(ev.labelled.correct.candidate, ev.labelled.correct.current), candidateMacroF1: ev.labelled.candidateMacroF1, currentMacroF1: ev.labelled.currentMacroF1, head: ev.labelled.head.why } } : {}),
    settings,
  };
}

/** One round's decision (see the module comment). Throws MODEL_SPEC_MISMATCH for stored windows the models cannot take. */
export async function runRound(d: RoundDeps, r: RoundRequest): Promise<RoundOutcome> {
  const s = d.settings;
  const started = d.now();
  const p = await prepare(d, r.site);
  if (p.skip !== undefined) return { kind: 'skipped', reason: p.skip, trainWindows: p.trainWindows, heldOut: p.heldOut, setAside: p.setAside };
  const train = p.shape;
  if (train.channels !== d.input.inChannels || train.windowLength !== d.input.windowLength || train.numClasses !== d.input.numClasses) {
    throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `site ${r.site} stores ${train.windowLength}×${train.channels} windows with ${train.numClasses} classes; the models take ${d.input.windowLength}×${d.input.inChannels} and ${d.input.numClasses}`);
  }
  const current = await r.current();
  const read = d.now();
  r.report(0.05, `training on ${p.trainWindows} site windows (${p.heldOut.n} ${p.crossFit ? 'judged in cross-fitted folds split' : 'held out'} by ${p.by})`);
  const phaseEnd = { reference: read, candidate: read };
  const raw = await d.run(
    {
      kind: 'redistill', backend: s.backend, spec: specFor(d.input, 'student'), recipe: s.roundRecipe, adapt: siteAdaptSettings(s, d.input), referenceAdapt: referenceAdaptSettings(s), ...(s.roundRecipe === 'unikd' ? { source: d.source } : {}),
      target: p.target, heldOut: p.heldOut, ...(p.crossFit ? { crossFit: p.crossFit } : {}), ...(r.labelled ? { labelled: r.labelled, fitLabelledHead: s.fitLabelledHead } : {}),
      teacher: r.teacher.teacher.bytes, generic: r.teacher.generic.bytes, ...(r.teacher.voters !== undefined && r.teacher.voters.length > 0 && { voters: r.teacher.voters.map((v) => v.bytes) }), current: current.bytes, seed: s.seed + versionNumber(current.version),
      hparams: { ...s.hparams, epochs: s.epochs }, unikd: UNIKD_PRESETS[s.preset],
      meta: { kind: 'student', version: `c-${r.jobId}`, algorithm: 'unikd', teacherVersion: r.teacher.teacher.version, target: r.site, seed: s.seed, metrics: {}, ...named(d.input) },
      reference: s.gateReference,
    },
    {
      signal: r.signal,
      onProgress: (epoch, epochs, losses, phase) => {
        phaseEnd[phase] = d.now();
        // 5-15 % for worker start and the gate's reference, 15-90 % for the candidate.
        const [from, span] = phase === 'reference' ? [0.05, 0.1] : [0.15, 0.75];
        const what = phase === 'reference' ? `${s.gateReference} reference` : s.roundRecipe === 'unikd' ? 'student' : 'site adaptation';
        r.report(from + (span * epoch) / epochs, `${what} epoch ${epoch}/${epochs}${losses['total'] !== undefined ? ` loss ${losses['total'].toFixed(4)}` : ''}`);
      },
    },
  );
  const ran = d.now();
  r.report(0.92, 'gate');
  const { output, gate } = decideRound(raw, { confidence: s.gateConfidence, margin: s.gateMargin, minGain: s.gateMinGain, minHeldOut: s.minHeldOutWindows });
  const ms = (a: number, b: number): number => Math.max(0, b - a) / 1000;
  const refEnd = Math.max(read, phaseEnd.reference);
  const timing: RoundTiming = {
    read: ms(started, read), reference: ms(read, refEnd), student: ms(refEnd, Math.max(refEnd, phaseEnd.candidate)),
    evaluate: ms(Math.max(refEnd, phaseEnd.candidate), ran), total: ms(started, d.now()),
  };
  return { kind: 'decided', trainWindows: p.trainWindows, heldOut: p.heldOut.n, setAside: p.setAside, heldOutBy: p.by, current, output, gate, timing };
}
