/**
 * Every figure the benchmarks print that they did not measure themselves, each with the doc (and section) it comes
 * from, so a results table never shows a bare number. PyTorch figures: docs/pytorch-reference.md; the paper's
 * figures: docs/unikd.md §5. Change a number here only together with its doc.
 */

export interface Cited<T> {
  readonly source: string;
  readonly value: T;
}

/** What a reference was measured with, so a run with other settings can say it is not comparable. */
export const OFFICIAL_SETTINGS = { epochs: 10, seeds: '0,1,2', threads: 2 } as const;

/** Scenario key `source-target` → value. */
export type PerScenario = Readonly<Record<string, number>>;

/** Official UNI-KD code, macro-F1 (%), official metric (last partial test batch dropped), mean over seeds 0, 1, 2. */
export const OFFICIAL_F1: Cited<Readonly<Record<'teacher' | 'source-only' | 'unikd', PerScenario>>> = {
  source: 'docs/pytorch-reference.md §2',
  value: {
    teacher: { '2-11': 80.16, '7-13': 89.84, '12-16': 60.72, '9-18': 74.84, '6-23': 90.6 },
    'source-only': { '2-11': 56.58, '7-13': 77.91, '12-16': 60.2, '9-18': 56.07, '6-23': 67.59 },
    unikd: { '2-11': 98.89, '7-13': 93.3, '12-16': 64.04, '9-18': 68.8, '6-23': 93.81 },
  },
};

export interface ThreeMeans {
  readonly teacher: number;
  readonly 'source-only': number;
  readonly unikd: number;
}

/** Means over the 5 scenarios of the official code (seed-0 teacher), on three metrics. */
export const OFFICIAL_MEANS: Cited<{ readonly f1Official: ThreeMeans; readonly f1FullSplit: ThreeMeans; readonly accuracy: ThreeMeans }> = {
  source: 'docs/pytorch-reference.md §2',
  value: {
    f1Official: { teacher: 79.23, 'source-only': 63.67, unikd: 83.77 },
    f1FullSplit: { teacher: 79.65, 'source-only': 63.37, unikd: 84.15 },
    accuracy: { teacher: 80.31, 'source-only': 68.16, unikd: 84.17 },
  },
};

/** The paper's HAR main-5 mean macro-F1 (derived from its supplementary material). */
export const PAPER_F1_MEAN: Cited<{ readonly 'source-only': number; readonly unikd: number }> = {
  source: 'docs/unikd.md §5',
  value: { 'source-only': 58.25, unikd: 86.84 },
};

/** Official code, seconds of one 10-epoch training loop, 2 threads, mean over seeds 0, 1, 2. */
export const OFFICIAL_TRAIN_SECONDS: Cited<{ readonly perScenario: Readonly<Record<'teacher' | 'unikd' | 'source-only', PerScenario>>; readonly mean: ThreeMeans }> = {
  source: 'docs/pytorch-reference.md §3',
  value: {
    perScenario: {
      teacher: { '2-11': 2.86, '7-13': 2.7, '12-16': 2.77, '9-18': 2.31, '6-23': 2.76 },
      unikd: { '2-11': 3.17, '7-13': 2.69, '12-16': 3.12, '9-18': 3.04, '6-23': 3.46 },
      'source-only': { '2-11': 0.5, '7-13': 0.45, '12-16': 0.57, '9-18': 0.44, '6-23': 0.62 },
    },
    mean: { teacher: 2.68, unikd: 3.09, 'source-only': 0.52 },
  },
};

/** A PyTorch time in ms: Debian's PyTorch with 2 threads, and the fastest PyTorch configuration tried. */
export interface PytorchMs {
  readonly two: number;
  readonly best: number;
  readonly source: string;
  /** What the figure is, in a few words, for the table's last column. */
  readonly what: string;
}

const STEP = 'docs/pytorch-reference.md §3';
const STUDY = 'docs/pytorch-reference.md §4';

/** Keys are bench/speed-steps.ts task ids. */
export const PYTORCH_MS: Readonly<Record<string, PytorchMs>> = {
  'dann-step': { two: 42, best: 42, source: STEP, what: 'official code, 10-epoch loop ÷ steps' },
  'unikd-step-live': { two: 48, best: 48, source: STEP, what: 'official code, 10-epoch loop ÷ steps, teacher forward in every step' },
  'student-step': { two: 8, best: 8, source: STEP, what: 'official code source-only, 10-epoch loop ÷ steps' },
  'teacher-train-b32': { two: 18.0, best: 17.7, source: STUDY, what: 'backend study' },
  'study-student-train-b32': { two: 3.86, best: 3.86, source: STUDY, what: 'backend study, 16/32/16 student' },
  'study-student-b1': { two: 0.369, best: 0.142, source: STUDY, what: 'backend study, 16/32/16 student; best = OpenBLAS, 1 thread' },
  'study-student-b32': { two: 0.581, best: 0.581, source: STUDY, what: 'backend study, 16/32/16 student' },
  'teacher-b1': { two: 4.75, best: 0.649, source: STUDY, what: 'backend study; best = OpenBLAS, 1 thread' },
  'teacher-b32': { two: 3.37, best: 3.24, source: STUDY, what: 'backend study; best = OpenBLAS, 2 threads' },
};
