/**
 * One redistillation round for one site (run by the JobQueue, one at a time): the round's decision (round.ts: read
 * the site's stored windows, split off held-out windows, UNI-KD in the worker thread with source = the labelled
 * source train split and target = the site's returned windows, gate) → sign and publish, or reject.
 * Too few windows → `JobSkipped` with the reason. Every outcome is recorded in the site registry (the schedule's
 * catch-up and the new-window counter read it).
 */
import { describeTurn, type Turn } from '../../shared/ml/sensor-frame';
import { JobSkipped, type Job, type ReportProgress } from './job-queue';
import type { WindowSet } from '../../shared/ml/types';
import { decodeCnnArtifact } from '../../shared/artifact/cnn-artifact';
import { ErrorCode, SitekdError } from '../../shared/errors';
import type { GateDecision } from './gate';
import type { Logger } from '../../shared/log';
import type { MlRunner } from '../worker/ml-runner';
import type { Evaluation } from '../worker/ml-worker-protocol';
import type { ModelFiles } from '../models/model-files';
import type { ModelPublisher } from '../models/model-publisher';
import type { SampleStore } from '../store/sample-store';
import type { RedistillRecord, SiteRegistry } from '../sites/site-registry';
import { turnVoters, type InputLayout, type TeacherBundle } from '../models/teacher';
import { runRound, type RoundSettings } from './round';

export type { RoundSettings } from './round';

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
  /** `site-adapt` with turns on: the turn of the site's sensors the candidate applies. */
  readonly turn?: Turn;
}

export async function runRedistill(job: Job<RedistillResult>, d: RedistillDeps, report: ReportProgress, signal: AbortSignal): Promise<RedistillResult> {
  const started = d.now();
  const { site } = job;
  report(0.01, turnVoters(d.settings) > 0 ? 'waiting for the teacher and the turn voters' : 'waiting for the teacher');
  const bundle = await d.teacher();
  const marker = d.store.lastSeq(site);
  const record = (r: Omit<RedistillRecord, 'at' | 'jobId'>): Promise<void> =>
    d.registry.recordRedistill(site, { at: d.now(), jobId: job.id, ...r }).catch((err: unknown) => d.log.error('cannot record the round', { site, error: err }));
  const round = await runRound(
    { store: d.store, source: d.source, input: d.input, run: d.run, settings: d.settings, now: d.now },
    {
      site, jobId: job.id, teacher: bundle, labelled: d.labelled(site), report, signal,
      current: async () => {
        const version = d.registry.modelVersion(site);
        // Judging against anything but the model the site runs would be a gate on the wrong baseline: a missing or
        // damaged file of the current version fails the round (no version at all: the site is due the generic student).
        const stored = version === undefined ? undefined : await d.files.load(site, version);
        if (version !== undefined && stored === undefined) {
          throw new SitekdError(ErrorCode.MODEL_MISSING, `site ${site} runs ${version}, but its file is missing or fails its check: the gate has nothing to compare with`, { details: { site, version } });
        }
        return { version, bytes: stored?.bytes ?? bundle.generic.bytes };
      },
    },
  );
  if (round.kind === 'skipped') {
    const previous = d.registry.lastRedistill(site);
    // The counter of new windows keeps running: the previous marker stays.
    await record({ outcome: 'skipped', message: round.reason, ...(previous?.seqMarker !== undefined ? { seqMarker: previous.seqMarker } : {}) });
    throw new JobSkipped(round.reason);
  }
  const { output: out, gate, trainWindows, heldOut } = round;
  const ev = out.evaluation;
  const currentVersion = round.current.version;
  const { reasons, ...figures } = gate;
  const base = {
    candidateAgreement: ev.candidateAgreement, currentAgreement: ev.currentAgreement, ...(ev.labelled ? { labelled: ev.labelled } : {}),
    windows: trainWindows, heldOut, trainSeconds: out.trainSeconds, reasons, gate: figures, currentVersion, ...(out.turn !== undefined && { turn: out.turn }),
  };
  let result: RedistillResult;
  if (gate.pass) {
    const manifest = await d.publisher.publish(site, out.artifact, {
      // What made it (`site-adapt`, `site-adapt+labels`, `unikd`), as the artifact says.
      algorithm: decodeCnnArtifact(out.artifact).algorithm,
      metrics: { candidateAgreement: ev.candidateAgreement, currentAgreement: ev.currentAgreement, heldOutWindows: ev.heldOut, trainWindows, ...(ev.labelled ? { labelledMacroF1: ev.labelled.candidateMacroF1 } : {}) },
      teacherVersion: bundle.teacher.version,
    });
    await record({ outcome: 'published', modelVersion: manifest.version, seqMarker: marker });
    result = { outcome: 'published', version: manifest.version, ...base, seconds: (d.now() - started) / 1000 };
  } else {
    await record({ outcome: 'rejected', seqMarker: marker, code: ErrorCode.GATE_REJECTED, message: gate.reasons.join('; ').slice(0, 1000) });
    result = { outcome: 'rejected', ...base, seconds: (d.now() - started) / 1000 };
  }
  d.registry.setNewWindows(site, d.store.countSince(site, marker));
  d.log.info('redistill round finished', { site, job: job.id, outcome: result.outcome, version: result.version, candidateAgreement: ev.candidateAgreement, currentAgreement: ev.currentAgreement, windows: trainWindows, heldOut, seconds: result.seconds, ...(out.turn !== undefined && { turn: describeTurn(out.turn) }), gate: reasons.join('; ') });
  return result;
}
