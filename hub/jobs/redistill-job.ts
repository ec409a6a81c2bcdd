/**
 * One redistillation round for one site (run by the JobQueue, one at a time):
 *   read the site's stored windows → deterministic held-out split by batch id (store.split) → UNI-KD in the worker
 *   thread with source = the labelled source train split and target = the site's returned windows (this is where the
 *   data-domain discriminator is refined with the site's data) → gate (hub/jobs/gate.ts) → sign and publish, or reject.
 * Too few windows → `JobSkipped` with the reason. Every outcome is recorded in the site registry (the schedule's
 * catch-up and the new-window counter read it).
 */
import { JobSkipped, type Job, type ReportProgress } from './job-queue';
import type { HParams } from '../../shared/ml/algorithms/algorithm';
import { UNIKD_PRESETS } from '../../shared/ml/algorithms/unikd-options';
import type { BackendPreference } from '../../shared/ml/backend';
import { specFor } from '../../shared/ml/model-spec';
import type { WindowSet } from '../../shared/ml/types';
import { ErrorCode, SitekdError } from '../../shared/errors';
import { decideGate, pairedCounts, type GateDecision } from './gate';
import type { Logger } from '../../shared/log';
import type { MlRunner } from '../worker/ml-runner';
import type { Evaluation } from '../worker/ml-worker-protocol';
import type { ModelFiles } from '../models/model-files';
import type { ModelPublisher } from '../models/model-publisher';
import type { SampleSet, SampleStore } from '../store/sample-store';
import type { RedistillRecord, SiteRegistry } from '../sites/site-registry';
import type { InputLayout, TeacherBundle } from '../models/teacher';
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
  readonly gateReference: 'adapted-teacher' | 'teacher';
  /** Epochs of the gate's adapted teacher. */
  readonly teacherEpochs: number;
  readonly backend: BackendPreference;
  readonly hparams?: Partial<HParams>;
}

export interface RedistillDeps {
  readonly store: SampleStore;
  readonly registry: SiteRegistry;
  readonly publisher: ModelPublisher;
  readonly files: ModelFiles;
  /** Resolves once the teacher and the generic student exist. */
  readonly teacher: () => Promise<TeacherBundle>;
  /** The labelled source train split (channels-first). */
  readonly source: WindowSet;
  readonly input: InputLayout;
  /** An operator's labelled set for the site, if configured. */
  readonly labelled: (site: string) => WindowSet | undefined;
  readonly run: MlRunner;
  readonly settings: RoundSettings;
  readonly now: () => number;
  readonly log: Logger;
}

export interface RedistillResult {
  readonly outcome: 'published' | 'rejected';
  /** The published version (outcome `published`). */
  readonly version?: string;
  readonly candidateAgreement: number;
  readonly currentAgreement: number;
  readonly labelled?: Evaluation['labelled'];
  /** Windows trained on and held out. */
  readonly windows: number;
  readonly heldOut: number;
  readonly seconds: number;
  readonly trainSeconds: number;
  readonly reasons: readonly string[];
  /** The gate's figures: discordant counts, p-value and bound of each paired test, and what decided. */
  readonly gate: Omit<GateDecision, 'reasons'>;
  readonly currentVersion: string | undefined;
}

/**
 * Train / held-out windows of the site. By batch id first (store.split): a batch's windows overlap in time, so
 * keeping a batch on one side keeps near-copies of held-out windows out of training. With only a few batches that
 * split can leave too few windows on one side (5 batches of 32 and 20 % held out: no held-out batch one time in
 * three); then single windows are held out, by a hash of batch id and sequence number (still the same side in
 * every round), accepting that neighbours of a held-out window may be trained on.
 */
async function splitWindows(store: SampleStore, site: string, s: RoundSettings): Promise<{ train: SampleSet; heldOut: SampleSet; by: 'batch' | 'window' }> {
  const byBatch = await store.split(site, s.holdoutFraction, { limit: s.maxRoundWindows });
  const enough = byBatch.train.n >= s.minTrainWindows && byBatch.heldOut.n >= s.minHeldOutWindows;
  if (enough || byBatch.train.n + byBatch.heldOut.n < s.minTrainWindows + s.minHeldOutWindows) return { ...byBatch, by: 'batch' };
  return { ...(await store.split(site, s.holdoutFraction, { limit: s.maxRoundWindows, by: 'window' })), by: 'window' };
}

export async function runRedistill(job: Job<RedistillResult>, d: RedistillDeps, report: ReportProgress, signal: AbortSignal): Promise<RedistillResult> {
  const started = d.now();
  const { site } = job;
  const s = d.settings;
  report(0.01, 'waiting for the teacher');
  const bundle = await d.teacher();
  const marker = d.store.lastSeq(site);
  const { train, heldOut, by } = await splitWindows(d.store, site, s);
  const previous = d.registry.lastRedistill(site);
  const record = (r: Omit<RedistillRecord, 'at' | 'jobId'>): Promise<void> =>
    d.registry.recordRedistill(site, { at: d.now(), jobId: job.id, ...r }).catch((err: unknown) => d.log.error('cannot record the round', { site, error: err }));
  if (train.n < s.minTrainWindows || heldOut.n < s.minHeldOutWindows) {
    const reason = `too few windows: ${train.n} to train on (need ${s.minTrainWindows}) and ${heldOut.n} uniformly sampled held out (need ${s.minHeldOutWindows})`;
    // The counter of new windows keeps running: the previous marker stays.
    await record({ outcome: 'skipped', message: reason, ...(previous?.seqMarker !== undefined ? { seqMarker: previous.seqMarker } : {}) });
    throw new JobSkipped(reason);
  }
  if (train.channels !== d.input.inChannels || train.windowLength !== d.input.windowLength || train.numClasses !== d.input.numClasses) {
    throw new SitekdError(ErrorCode.MODEL_SPEC_MISMATCH, `site ${site} stores ${train.windowLength}×${train.channels} windows with ${train.numClasses} classes; the models take ${d.input.windowLength}×${d.input.inChannels} and ${d.input.numClasses}`);
  }
  const currentVersion = d.registry.modelVersion(site);
  // Judging against anything but the model the site runs would be a gate on the wrong baseline: a missing or damaged
  // file of the current version fails the round (no version at all: the site is due the generic student).
  const stored = currentVersion === undefined ? undefined : await d.files.load(site, currentVersion);
  if (currentVersion !== undefined && stored === undefined) {
    throw new SitekdError(ErrorCode.MODEL_MISSING, `site ${site} runs ${currentVersion}, but its file is missing or fails its check: the gate has nothing to compare with`, { details: { site, version: currentVersion } });
  }
  const current = stored?.bytes ?? bundle.generic.bytes;
  const labelled = d.labelled(site);
  report(0.05, `training on ${train.n} site windows (${heldOut.n} held out by ${by})`);
  const out = await d.run(
    {
      kind: 'redistill', backend: s.backend, spec: specFor(d.input, 'student'), source: d.source,
      target: sampleSetToWindowSet(train), heldOut: sampleSetToWindowSet(heldOut), ...(labelled ? { labelled } : {}),
      teacher: bundle.teacher.bytes, current, seed: s.seed + versionNumber(currentVersion),
      hparams: { ...s.hparams, epochs: s.epochs }, unikd: UNIKD_PRESETS[s.preset],
      meta: { kind: 'student', version: `c-${job.id}`, algorithm: 'unikd', teacherVersion: bundle.teacher.version, target: site, seed: s.seed, metrics: {} },
      reference: s.gateReference, referenceEpochs: s.teacherEpochs,
    },
    {
      signal,
      onProgress: (epoch, epochs, losses, phase) => {
        // With an adapted teacher: 5-45 % for it, 45-90 % for the student; without: 5-90 % for the student.
        const [from, span] = s.gateReference === 'teacher' ? [0.05, 0.85] : phase === 'reference' ? [0.05, 0.4] : [0.45, 0.45];
        const what = phase === 'reference' ? 'adapted teacher' : 'student';
        report(from + (span * epoch) / epochs, `${what} epoch ${epoch}/${epochs}${losses['total'] !== undefined ? ` loss ${losses['total'].toFixed(4)}` : ''}`);
      },
    },
  );
  const ev = out.evaluation;
  report(0.92, 'gate');
  const { reasons, ...figures } = decideGate({
    agreement: pairedCounts(ev.agrees.candidate, ev.agrees.current), reference: ev.reference,
    ...(ev.labelled ? { labelled: { correct: pairedCounts(ev.labelled.correct.candidate, ev.labelled.correct.current), candidateMacroF1: ev.labelled.candidateMacroF1, currentMacroF1: ev.labelled.currentMacroF1 } } : {}),
    settings: { confidence: s.gateConfidence, margin: s.gateMargin, minHeldOut: s.minHeldOutWindows },
  });
  const gate = { pass: figures.pass, reasons };
  const base = {
    candidateAgreement: ev.candidateAgreement, currentAgreement: ev.currentAgreement, ...(ev.labelled ? { labelled: ev.labelled } : {}),
    windows: train.n, heldOut: heldOut.n, trainSeconds: out.trainSeconds, reasons, gate: figures, currentVersion,
  };
  let result: RedistillResult;
  if (gate.pass) {
    const manifest = await d.publisher.publish(site, out.artifact, {
      algorithm: 'unikd',
      metrics: { candidateAgreement: ev.candidateAgreement, currentAgreement: ev.currentAgreement, heldOutWindows: ev.heldOut, trainWindows: train.n, ...(ev.labelled ? { labelledMacroF1: ev.labelled.candidateMacroF1 } : {}) },
      teacherVersion: bundle.teacher.version,
    });
    await record({ outcome: 'published', modelVersion: manifest.version, seqMarker: marker });
    result = { outcome: 'published', version: manifest.version, ...base, seconds: (d.now() - started) / 1000 };
  } else {
    await record({ outcome: 'rejected', seqMarker: marker, code: ErrorCode.GATE_REJECTED, message: gate.reasons.join('; ').slice(0, 1000) });
    result = { outcome: 'rejected', ...base, seconds: (d.now() - started) / 1000 };
  }
  d.registry.setNewWindows(site, d.store.countSince(site, marker));
  d.log.info('redistill round finished', { site, job: job.id, outcome: result.outcome, version: result.version, candidateAgreement: ev.candidateAgreement, currentAgreement: ev.currentAgreement, windows: train.n, heldOut: heldOut.n, seconds: result.seconds, gate: reasons.join('; ') });
  return result;
}
