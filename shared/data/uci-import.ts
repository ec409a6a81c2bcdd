/**
 * Imports the ORIGINAL UCI-HAR archive ("UCI HAR Dataset/") into our per-subject layout (har.ts), so
 * the project does not depend on AdaTime's preprocessed .pt files being available.
 *
 * Input (per split s ∈ {train, test}):
 *   <s>/Inertial Signals/<signal>_<s>.txt  one window per row, 128 whitespace-separated floats
 *   <s>/subject_<s>.txt                     subject id (1..30) per row
 *   <s>/y_<s>.txt                           activity id 1..6 per row
 * Output: one domain per subject, channels in AdaTime's order (body_acc xyz, body_gyro xyz,
 * total_acc xyz), labels = activity id − 1.
 *
 * UCI puts each subject wholly into train or test; we re-split every subject ~70/30 (see
 * {@link splitSubject}) because the UNI-KD protocol needs train and test windows for every domain.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, SitekdError } from '../errors';
import type { Domain, WindowSet } from '../ml/types';
import { writeDataset } from './har-writer';

export const UCI_SIGNALS = [
  'body_acc_x',
  'body_acc_y',
  'body_acc_z',
  'body_gyro_x',
  'body_gyro_y',
  'body_gyro_z',
  'total_acc_x',
  'total_acc_y',
  'total_acc_z',
] as const;

/** Index = UCI activity id − 1 (WALKING, WALKING_UPSTAIRS, WALKING_DOWNSTAIRS, SITTING, STANDING, LAYING). */
export const UCI_CLASS_NAMES = ['walk', 'upstairs', 'downstairs', 'sit', 'stand', 'lie'] as const;
export const UCI_SAMPLING_RATE_HZ = 50;
export const DEFAULT_TEST_FRACTION = 0.3;

export interface UciImportOptions {
  /** Fraction of each subject's windows that go to test (default 0.3). */
  readonly testFraction?: number;
}

export interface UciImportSummary {
  /** Output dataset directory. */
  readonly dir: string;
  readonly domains: ReadonlyArray<{ readonly id: string; readonly train: number; readonly test: number }>;
  readonly totalWindows: number;
}

/**
 * sklearn's `_approximate_mode`: split `nDraws` over classes proportionally to `counts`, flooring,
 * then giving the leftovers to the largest remainders. sklearn breaks remainder ties at random; we
 * break them by lower class index so the result is deterministic. Integer math keeps ties exact.
 */
function approximateMode(counts: readonly number[], nDraws: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return counts.map(() => 0);
  const floored = counts.map((c) => Math.floor((c * nDraws) / total));
  const remainder = counts.map((c, i) => c * nDraws - (floored[i] as number) * total);
  let left = nDraws - floored.reduce((a, b) => a + b, 0);
  const order = counts.map((_, i) => i).sort((a, b) => (remainder[b] as number) - (remainder[a] as number) || a - b);
  for (const i of order) {
    if (left <= 0) break;
    floored[i] = (floored[i] as number) + 1;
    left--;
  }
  return floored;
}

/**
 * Per-class test counts for one subject, following sklearn's stratified `train_test_split`:
 * n_test = ceil(testFraction · n), the train share is allocated first with {@link approximateMode}
 * and the rest of each class is test. With testFraction 0.3 this reproduces AdaTime's per-class
 * train/test counts for all 30 UCI-HAR subjects (checked against the manifest of ../shared/data).
 */
export function allocateTestCounts(classCounts: readonly number[], testFraction: number = DEFAULT_TEST_FRACTION): number[] {
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new SitekdError(ErrorCode.CONFIG_INVALID, `testFraction must be in (0, 1), got ${testFraction}`);
  }
  const n = classCounts.reduce((a, b) => a + b, 0);
  // Plain float ceil exactly as sklearn computes it (no rounding tweaks), so the counts are identical
  // to a Python run even where the float product lands just above an integer.
  const nTest = Math.ceil(testFraction * n);
  const train = approximateMode(classCounts, n - nTest);
  return classCounts.map((c, i) => c - (train[i] as number));
}

/**
 * Deterministic ~70/30 split of one subject's windows, given in original (time) order.
 * Rule: per-class test counts from {@link allocateTestCounts}; within a class with m windows of
 * which t go to test, the k-th window (0-based, original order) is test iff
 * floor((k+1)·t/m) > floor(k·t/m) — i.e. test windows are spread evenly through the recording
 * (roughly every third-to-fourth window) instead of taking the tail, which in UCI order would cut
 * whole activity bouts out of train.
 *
 * AdaTime's own split cannot be reproduced exactly: it picked test windows at random (seed not
 * published) and shuffled, so only the per-class counts match, not which windows or their order.
 * Returns window indices (into `labels`) in original order.
 */
export function splitSubject(
  labels: ArrayLike<number>,
  numClasses: number,
  testFraction: number = DEFAULT_TEST_FRACTION,
): { train: number[]; test: number[] } {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i] as number] = (counts[labels[i] as number] as number) + 1;
  const testCounts = allocateTestCounts(counts, testFraction);
  const seen = new Array<number>(numClasses).fill(0);
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i] as number;
    const k = seen[c] as number;
    seen[c] = k + 1;
    const m = counts[c] as number;
    const t = testCounts[c] as number;
    if (Math.floor(((k + 1) * t) / m) > Math.floor((k * t) / m)) test.push(i);
    else train.push(i);
  }
  return { train, test };
}

/** `dir` itself if it holds train/ and test/, else `dir/UCI HAR Dataset`. */
function findArchiveRoot(dir: string): string {
  const candidates = [path.resolve(dir), path.resolve(dir, 'UCI HAR Dataset')];
  const root = candidates.find((d) => fs.existsSync(path.join(d, 'train', 'y_train.txt')));
  if (root === undefined) {
    throw new SitekdError(ErrorCode.DATA_NOT_FOUND, `no UCI HAR archive (train/y_train.txt) in ${candidates.join(' or ')}`);
  }
  return root;
}

/** Non-empty lines of a text file, each split on whitespace. */
function readRows(file: string): string[][] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SitekdError(ErrorCode.DATA_NOT_FOUND, `${file} is missing`, { cause: err });
  }
  const rows: string[][] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t !== '') rows.push(t.split(/\s+/));
  }
  return rows;
}

function parseNumber(tok: string, file: string, row: number): number {
  // Number() accepts the archive's "2.5180850e-002" notation and rejects junk (NaN), unlike parseFloat.
  const v = Number(tok);
  if (!Number.isFinite(v)) {
    throw new SitekdError(ErrorCode.DATA_NONFINITE, `${file}: row ${row + 1} holds "${tok}", not a finite number`);
  }
  return v;
}

function readIntColumn(file: string): number[] {
  return readRows(file).map((cols, r) => {
    const v = parseNumber(cols[0] ?? '', file, r);
    if (cols.length !== 1 || !Number.isInteger(v)) {
      throw new SitekdError(ErrorCode.DATA_MANIFEST_INVALID, `${file}: row ${r + 1} should be one integer`);
    }
    return v;
  });
}

interface UciSplit {
  readonly n: number;
  readonly length: number;
  /** [n, 9, length] */
  readonly x: Float32Array;
  readonly y: number[];
  readonly subjects: number[];
}

function readSplit(root: string, split: 'train' | 'test'): UciSplit {
  const dir = path.join(root, split);
  const subjects = readIntColumn(path.join(dir, `subject_${split}.txt`));
  const yFile = path.join(dir, `y_${split}.txt`);
  const y = readIntColumn(yFile).map((a, r) => {
    if (a < 1 || a > UCI_CLASS_NAMES.length) {
      throw new SitekdError(ErrorCode.DATA_MANIFEST_INVALID, `${yFile}: row ${r + 1} has activity ${a}, expected 1..${UCI_CLASS_NAMES.length}`);
    }
    return a - 1;
  });
  const n = subjects.length;
  if (y.length !== n) {
    throw new SitekdError(ErrorCode.DATA_TRUNCATED, `${split}: ${n} subject rows but ${y.length} label rows`);
  }
  const channels = UCI_SIGNALS.length;
  let length = -1;
  let x = new Float32Array(0);
  UCI_SIGNALS.forEach((signal, c) => {
    const file = path.join(dir, 'Inertial Signals', `${signal}_${split}.txt`);
    const rows = readRows(file);
    if (rows.length !== n) {
      throw new SitekdError(ErrorCode.DATA_TRUNCATED, `${file}: ${rows.length} rows, expected ${n} (one per window)`);
    }
    if (length < 0) {
      length = rows[0]?.length ?? 0;
      x = new Float32Array(n * channels * length);
    }
    rows.forEach((cols, i) => {
      if (cols.length !== length) {
        throw new SitekdError(ErrorCode.DATA_TRUNCATED, `${file}: row ${i + 1} has ${cols.length} values, expected ${length}`);
      }
      const base = (i * channels + c) * length;
      for (let t = 0; t < length; t++) x[base + t] = parseNumber(cols[t] as string, file, i);
    });
  });
  return { n, length, x, y, subjects };
}

function gather(windows: ReadonlyArray<{ split: UciSplit; i: number }>, idx: readonly number[], length: number): WindowSet {
  const channels = UCI_SIGNALS.length;
  const stride = channels * length;
  const x = new Float32Array(idx.length * stride);
  const y = new Uint8Array(idx.length);
  idx.forEach((w, j) => {
    const src = windows[w] as { split: UciSplit; i: number };
    x.set(src.split.x.subarray(src.i * stride, (src.i + 1) * stride), j * stride);
    y[j] = src.split.y[src.i] as number;
  });
  return { n: idx.length, channels, length, x, y };
}

/**
 * Reads the archive at `archiveDir` (the "UCI HAR Dataset" folder or its parent) and writes one
 * domain per subject (id = subject number) to `outDir` with {@link writeDataset}.
 */
export function importUciHar(archiveDir: string, outDir: string, opts: UciImportOptions = {}): UciImportSummary {
  const root = findArchiveRoot(archiveDir);
  const splits = [readSplit(root, 'train'), readSplit(root, 'test')];
  const length = (splits[0] as UciSplit).length;
  if (splits.some((s) => s.n > 0 && s.length !== length)) {
    throw new SitekdError(ErrorCode.DATA_TRUNCATED, 'train and test windows have different lengths');
  }
  // Windows of each subject in original order: train file first, then test file (in the real
  // archive a subject is in only one of them).
  const bySubject = new Map<number, Array<{ split: UciSplit; i: number }>>();
  for (const split of splits) {
    split.subjects.forEach((s, i) => {
      const list = bySubject.get(s) ?? [];
      list.push({ split, i });
      bySubject.set(s, list);
    });
  }
  const domains: Domain[] = [...bySubject.keys()]
    .sort((a, b) => a - b)
    .map((subject) => {
      const windows = bySubject.get(subject) ?? [];
      const labels = windows.map((w) => w.split.y[w.i] as number);
      const { train, test } = splitSubject(labels, UCI_CLASS_NAMES.length, opts.testFraction);
      return { id: String(subject), train: gather(windows, train, length), test: gather(windows, test, length) };
    });

  const manifest = writeDataset(outDir, {
    name: 'HAR',
    classNames: UCI_CLASS_NAMES,
    channelNames: UCI_SIGNALS,
    samplingRateHz: UCI_SAMPLING_RATE_HZ,
    domains,
    extra: {
      full_name: 'UCI-HAR Inertial Signals, imported per subject from the original UCI archive by sitekd',
      split_rule:
        `per subject and class, ceil(${opts.testFraction ?? DEFAULT_TEST_FRACTION}·n) test windows allocated like sklearn's stratified split ` +
        '(ties by class index), spread evenly in original order; AdaTime counts match, window choice does not',
      licence: 'UCI-HAR: CC BY 4.0 (Anguita et al., ESANN 2013)',
    },
  });
  return {
    dir: manifest.dir,
    domains: domains.map((d) => ({ id: d.id, train: d.train.n, test: d.test.n })),
    totalWindows: domains.reduce((a, d) => a + d.train.n + d.test.n, 0),
  };
}
