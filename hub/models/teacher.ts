/**
 * The hub's teacher and the generic student, made once and kept in the state directory.
 *
 * Teacher: `--teacher FILE` (an artifact from `sitekd train-teacher`) when given, else `<state>/models/teacher.skdm`
 * from an earlier start, else trained now on the labelled source train split (64/128/128, `source-only`: there is
 * no target data at first start). Generic student: the 16/32/32 student distilled (`kd`) from that teacher on the
 * source windows, kept as `<state>/models/generic-student.skdm` and rebuilt when the teacher changes. The hub
 * serves it to every site without a student of its own, so a new agent predicts from its first window.
 *
 * Training runs in the worker (hub/worker/ml-runner.ts); this module only decides what to load or make, and checks that
 * what it loads fits the source data.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { decodeArtifact, type DecodedArtifact } from '../../shared/artifact/model-artifact';
import { ErrorCode, isSitekdError, SitekdError } from '../../shared/errors';
import type { BackendPreference } from '../../shared/ml/backend';
import { CnnSpecSchema, specFor, type CnnSpec } from '../../shared/ml/model-spec';
import type { Domain } from '../../shared/ml/types';
import { isValidId } from '../../shared/protocol/topics';
import { quarantineFile, writeFileAtomic } from '../store/atomic-file';
import type { Logger } from '../../shared/log';
import type { MlRunner } from '../worker/ml-runner';

/** What the models take and say: window shape, classes and, when the data set names them, the class and channel names. */
export type InputLayout = Omit<CnnSpec, 'midChannels' | 'finalChannels'> & { readonly classNames?: readonly string[]; readonly channelNames?: readonly string[] };

export interface ModelBytes {
  readonly bytes: Uint8Array;
  readonly version: string;
  readonly spec: CnnSpec;
  readonly sha256: string;
}

export interface TeacherBundle {
  readonly teacher: ModelBytes;
  readonly generic: ModelBytes;
  /** Where the teacher came from. */
  readonly teacherOrigin: 'file' | 'state' | 'trained';
  /**
   * Generic students of other teachers (hub config `turnVoters`), each from its own teacher trained with another
   * seed: they vote on a site's turn (shared/ml/site-adapt.ts `voters`). Never served to agents.
   */
  readonly voters?: readonly ModelBytes[];
}

export interface TeacherOptions {
  readonly stateDir: string;
  readonly teacherFile?: string | undefined;
  readonly source: Domain;
  readonly input: InputLayout;
  readonly teacherEpochs: number;
  readonly studentEpochs: number;
  readonly seed: number;
  readonly backend: BackendPreference;
  readonly run: MlRunner;
  readonly log: Logger;
  readonly now: () => number;
  readonly signal?: AbortSignal;
}

export const TEACHER_FILE = 'teacher.skdm';
export const GENERIC_FILE = 'generic-student.skdm';

export function modelsDir(stateDir: string): string {
  return join(stateDir, 'models');
}

/** A model version usable as a topic level: the artifact's own when valid, else derived from its hash. */
export function safeVersion(a: Pick<DecodedArtifact, 'version' | 'sha256'>, prefix: string): string {
  return isValidId(a.version) ? a.version : `${prefix}-${a.sha256.slice(0, 8)}`;
}

/** How many voter pairs a hub config asks for: `turnVoters`, only when a turn is searched (`adaptTurnDegrees`). */
export function turnVoters(c: { readonly adaptTurnDegrees: number; readonly turnVoters: number }): number {
  return c.adaptTurnDegrees > 0 ? c.turnVoters : 0;
}

/** Where one teacher + generic student pair is kept, and the seed it is made with. */
interface Slot {
  readonly teacherFile: string;
  readonly genericFile: string;
  readonly seed: number;
  /** Log context: which voter (absent for the hub's own pair). */
  readonly voter?: number;
}

export async function prepareTeacher(o: TeacherOptions): Promise<TeacherBundle> {
  await fs.mkdir(modelsDir(o.stateDir), { recursive: true });
  const own: Slot = { teacherFile: TEACHER_FILE, genericFile: GENERIC_FILE, seed: o.seed };
  const { teacher, origin } = await loadOrTrainTeacher(o, own);
  const generic = await loadOrDistillGeneric(o, teacher, own);
  return { teacher, generic, teacherOrigin: origin };
}

/**
 * The turn voters (TeacherBundle.voters): `count` teacher + generic student pairs trained as the hub's own with seeds
 * `seed + 1` …, kept as `<state>/models/voter-<i>-{teacher,student}.skdm` and loaded from there at later starts.
 */
export async function prepareVoters(o: TeacherOptions, count: number): Promise<ModelBytes[]> {
  await fs.mkdir(modelsDir(o.stateDir), { recursive: true });
  const voters: ModelBytes[] = [];
  for (let i = 1; i <= count; i++) {
    const slot: Slot = { teacherFile: `voter-${i}-teacher.skdm`, genericFile: `voter-${i}-student.skdm`, seed: o.seed + i, voter: i };
    voters.push(await loadOrDistillGeneric(o, (await loadOrTrainTeacher({ ...o, teacherFile: undefined }, slot)).teacher, slot));
  }
  return voters;
}

async function loadOrTrainTeacher(o: TeacherOptions, slot: Slot): Promise<{ teacher: ModelBytes; origin: TeacherBundle['teacherOrigin'] }> {
  const want = specFor(o.input, 'teacher');
  const ctx = slot.voter !== undefined ? { voter: slot.voter } : {};
  if (o.teacherFile !== undefined) {
    const bytes = await readBytes(o.teacherFile);
    const teacher = checkModel(bytes, o.input, `teacher ${o.teacherFile}`, 't');
    o.log.info('teacher loaded', { file: o.teacherFile, version: teacher.version });
    return { teacher, origin: 'file' };
  }
  const file = join(modelsDir(o.stateDir), slot.teacherFile);
  const stored = await loadStored(file, o.input, 'teacher', 't', o.log);
  const storedSource = stored === undefined ? undefined : decodeArtifact(stored.bytes).source;
  if (stored !== undefined && (storedSource === undefined || storedSource === o.source.id)) {
    o.log.info('teacher loaded', { ...ctx, file, version: stored.version });
    return { teacher: stored, origin: 'state' };
  }
  if (stored !== undefined) {
    // A changed --source must not keep serving a teacher of other subjects (the generic student follows the teacher).
    o.log.warn('the stored teacher was trained on another source; setting it aside and training a new one', { file, had: storedSource, source: o.source.id });
    await quarantineFile(file);
  }
  o.log.info('training the teacher from the source domain', { ...ctx, source: o.source.id, windows: o.source.train.n, epochs: o.teacherEpochs });
  const version = `t-${idPart(o.source.id)}-${slot.voter !== undefined ? `v${slot.voter}-` : ''}${o.now().toString(36)}`;
  const out = await o.run(
    {
      kind: 'train', backend: o.backend, algorithm: 'source-only', spec: want, source: o.source.train, target: o.source.train,
      seed: slot.seed, hparams: { epochs: o.teacherEpochs },
      meta: { kind: 'teacher', version, algorithm: 'source-only', source: o.source.id, seed: slot.seed, metrics: {}, ...named(o.input) },
    },
    { onProgress: (e, n) => o.log.info('teacher epoch', { ...ctx, epoch: e, epochs: n }), ...(o.signal ? { signal: o.signal } : {}) },
  );
  await writeFileAtomic(file, out.artifact);
  const teacher = checkModel(out.artifact, o.input, 'trained teacher', 't');
  o.log.info('teacher trained', { ...ctx, version: teacher.version, seconds: Math.round(out.trainSeconds * 10) / 10, backend: out.backend });
  return { teacher, origin: 'trained' };
}

async function loadOrDistillGeneric(o: TeacherOptions, teacher: ModelBytes, slot: Slot): Promise<ModelBytes> {
  const ctx = slot.voter !== undefined ? { voter: slot.voter } : {};
  const file = join(modelsDir(o.stateDir), slot.genericFile);
  const stored = await loadStored(file, o.input, 'generic student', 'g', o.log);
  if (stored !== undefined) {
    const a = decodeArtifact(stored.bytes);
    if (a.teacherVersion === teacher.version && stored.spec.midChannels === specFor(o.input, 'student').midChannels) {
      o.log.info('generic student loaded', { ...ctx, file, version: stored.version });
      return stored;
    }
    o.log.info('generic student was made from another teacher; distilling a new one', { ...ctx, had: a.teacherVersion, teacher: teacher.version });
  }
  o.log.info('distilling the generic student', { ...ctx, epochs: o.studentEpochs, windows: o.source.train.n });
  const version = `g-${slot.voter !== undefined ? `v${slot.voter}-` : ""}${o.now().toString(36)}`;
  const out = await o.run(
    {
      kind: 'train', backend: o.backend, algorithm: 'kd', spec: specFor(o.input, 'student'), source: o.source.train, target: o.source.train,
      teacher: teacher.bytes, seed: slot.seed, hparams: { epochs: o.studentEpochs },
      meta: { kind: 'student', version, algorithm: 'kd', teacherVersion: teacher.version, source: o.source.id, seed: slot.seed, metrics: {}, ...named(o.input) },
    },
    { onProgress: (e, n) => o.log.info('generic student epoch', { ...ctx, epoch: e, epochs: n }), ...(o.signal ? { signal: o.signal } : {}) },
  );
  await writeFileAtomic(file, out.artifact);
  const generic = checkModel(out.artifact, o.input, 'generic student', 'g');
  o.log.info('generic student distilled', { ...ctx, version: generic.version, seconds: Math.round(out.trainSeconds * 10) / 10 });
  return generic;
}

/** A model from the state directory, or undefined when absent; a corrupt or unfit file is set aside and remade. */
async function loadStored(file: string, input: InputLayout, what: string, prefix: string, log: Logger): Promise<ModelBytes | undefined> {
  const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new SitekdError(ErrorCode.MODEL_LOAD, `cannot read ${file}`, { cause: err });
  });
  if (bytes === undefined) return undefined;
  try {
    return checkModel(bytes, input, what, prefix);
  } catch (err) {
    if (!isSitekdError(err)) throw err;
    log.warn('stored model unusable; setting it aside and making a new one', { file, code: err.code, error: err.message });
    await quarantineFile(file);
    return undefined;
  }
}

/** Decodes and checks that the model takes the source data's windows and classes. */
export function checkModel(bytes: Uint8Array, input: InputLayout, what: string, prefix: string): ModelBytes {
  const a = decodeArtifact(bytes, { specSchema: CnnSpecSchema });
  const s = a.spec;
  if (s.inChannels !== input.inChannels || s.windowLength !== input.windowLength || s.numClasses !== input.numClasses) {
    throw new SitekdError(
      ErrorCode.MODEL_SPEC_MISMATCH,
      `${what} takes ${s.inChannels}×${s.windowLength} windows and ${s.numClasses} classes; the source data has ${input.inChannels}×${input.windowLength} and ${input.numClasses}`,
      { details: { spec: s, input } },
    );
  }
  return { bytes, version: safeVersion(a, prefix), spec: s, sha256: a.sha256 };
}

async function readBytes(file: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(file);
  } catch (cause) {
    throw new SitekdError(ErrorCode.MODEL_LOAD, `cannot read model artifact ${file}`, { cause, details: { path: file } });
  }
}

/** The class names to store in an artifact, when the data set has them. */
export function named(input: InputLayout): { classNames?: readonly string[] } {
  return input.classNames !== undefined && input.classNames.length === input.numClasses ? { classNames: input.classNames } : {};
}

function idPart(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 32);
  return /^[A-Za-z0-9]/.test(cleaned) ? cleaned : `x${cleaned}`;
}

