/**
 * What the offline commands accept: name, summary and options of demo, train-teacher, distill, eval, import-uci and
 * adapt-eval.
 * Light on purpose (no tfjs): `sitekd --help` and `sitekd <command> --help` read only this.
 */
import type { CommandSpec } from '../shared/cli/command';
import { backendOptions, dataOptions, fallbackDataOptions, loggingOptions, pairOptions } from '../shared/cli/option-groups';
import { opt } from '../shared/cli/options';
import { BACKEND_PREFERENCES } from '../shared/ml/backend-names';

const epochs = opt.int({ description: 'training epochs', min: 1, max: 10_000, default: 10 });
const seed = opt.int({ description: 'random seed', min: 0, default: 0 });
const json = opt.flag({ description: 'print one JSON object with the results' });

export const demoSpec = {
  name: 'demo',
  summary: 'distill one scenario with every algorithm and print them side by side',
  options: { ...fallbackDataOptions, epochs, seed, ...backendOptions, ...loggingOptions },
} as const satisfies CommandSpec;

export const trainTeacherSpec = {
  name: 'train-teacher',
  summary: 'train a DANN teacher (64/128/128 CNN) on a labelled source and an unlabelled target',
  options: {
    ...pairOptions,
    epochs,
    seed,
    out: opt.string({ description: 'teacher artifact to write', placeholder: 'file', required: true }),
    json,
    ...backendOptions,
    ...loggingOptions,
  },
} as const satisfies CommandSpec;

export const distillSpec = {
  name: 'distill',
  summary: 'distill a student for a target domain with UNI-KD (or kd / source-only)',
  options: {
    ...pairOptions,
    teacher: opt.string({ description: 'teacher artifact', placeholder: 'file', defaultLabel: 'a DANN teacher trained first' }),
    algorithm: opt.choice(['unikd', 'kd', 'source-only'], { description: 'distillation algorithm', placeholder: 'name', default: 'unikd' }),
    preset: opt.choice(['code', 'paper'], { description: 'UNI-KD flags: the released code, or the paper intent', placeholder: 'name', default: 'code' }),
    epochs: opt.int({ description: 'training epochs of teacher and student', min: 1, max: 10_000, default: 10 }),
    teachers: opt.int({ description: 'DANN teachers to train; >1 distills from their consensus choice (no target labels)', min: 1, max: 16, default: 1 }),
    seed,
    out: opt.string({ description: 'write the student artifact here', placeholder: 'file' }),
    json,
    ...backendOptions,
    ...loggingOptions,
  },
} as const satisfies CommandSpec;

export const evalSpec = {
  name: 'eval',
  summary: 'score a model artifact on a domain split (macro-F1, accuracy, confusion matrix)',
  options: {
    model: opt.string({ description: 'model artifact (teacher or student)', placeholder: 'file', required: true }),
    ...dataOptions,
    domain: opt.string({ description: 'domain id to score', placeholder: 'id', required: true }),
    split: opt.choice(['train', 'test'], { description: 'which split of the domain', placeholder: 'name', default: 'test' }),
    json: opt.flag({ description: 'print one JSON object' }),
    ...backendOptions,
    ...loggingOptions,
  },
} as const satisfies CommandSpec;

export const importUciSpec = {
  name: 'import-uci',
  summary: 'import the original UCI HAR archive as one domain per subject',
  options: {
    archive: opt.string({ description: "the 'UCI HAR Dataset' folder (or its parent)", placeholder: 'dir', required: true }),
    out: opt.string({ description: 'output dataset directory (manifest.json + .f32 + .labels.u8)', placeholder: 'dir', required: true }),
    json: opt.flag({ description: 'print one JSON object' }),
    ...loggingOptions,
  },
} as const satisfies CommandSpec;

export const adaptEvalSpec = {
  name: 'adapt-eval',
  summary: "measure the hub's redistillation round per site: agent sampling, rounds, gate, scored on labelled test data",
  options: {
    ...dataOptions,
    source: opt.list({ description: "labelled source domain ids (the hub's --source)", placeholder: 'ids', required: true }),
    sites: opt.list({ description: 'domain ids to adapt to; each is one site', placeholder: 'ids', required: true }),
    windows: opt.int({ description: 'windows each site returns in all', min: 1, max: 1_000_000, required: true }),
    rounds: opt.int({ description: 'rounds per site, after every windows/rounds returned windows', min: 1, max: 1000, default: 1 }),
    seed,
    epochs: opt.int({ description: "student epochs per round and of the generic student", min: 1, max: 10_000, defaultLabel: "the hub's (10)" }),
    'teacher-epochs': opt.int({ description: "epochs of the hub's teacher and of the gate's adapted teacher", min: 1, max: 10_000, defaultLabel: "the hub's (10)" }),
    'round-recipe': opt.choice(['site-adapt', 'unikd'], { description: "how the hub's round makes a candidate", placeholder: 'name', defaultLabel: "the hub's (site-adapt)" }),
    'holdout-fraction': opt.number({ description: "share of a site's returned batches the hub keeps out of training for its gate", placeholder: 'x', min: 0.01, max: 0.9, defaultLabel: "the hub's (0.5)" }),
    'gate-confidence': opt.number({ description: "the hub's gate: one-sided confidence that a candidate is not worse", placeholder: 'p', min: 0.5, max: 0.999, defaultLabel: "the hub's" }),
    'min-train-windows': opt.int({ description: "the hub's round: fewer windows to adapt to (per fold when cross-fitting) skip the round", min: 2, max: 10_000_000, defaultLabel: "the hub's" }),
    'gate-split': opt.choice(['cross-fit', 'holdout'], { description: "how the hub's site-adapt round gets its gate's evidence", placeholder: 'name', defaultLabel: "the hub's (cross-fit)" }),
    'gate-reference': opt.choice(['adapted-teacher', 'teacher'], { description: "the model the hub's gate judges candidates against", placeholder: 'name', defaultLabel: "the hub's (adapted-teacher)" }),
    'adapt-source-prior': opt.number({ description: "the hub's site-adapt: share of the model's own batch-norm statistics kept against the site's", placeholder: 'x', min: 0, max: 1, defaultLabel: "the hub's (0.25)" }),
    'adapt-turn-degrees': opt.number({ description: "the hub's site-adapt: largest turn of a site's 3-axis sensors tried, in degrees (0: none)", placeholder: 'deg', min: 0, max: 180, defaultLabel: "the hub's (40)" }),
    'turn-voters': opt.int({ description: "the hub's site-adapt with a turn: extra teacher + generic student pairs voting on the turn", placeholder: 'k', min: 0, max: 8, defaultLabel: "the hub's (3)" }),
    'random-share': opt.number({ description: "share of the agent's returned windows sampled uniformly (the rest: its most uncertain)", placeholder: 'x', min: 0, max: 1, defaultLabel: "the agent's" }),
    'labelled-per-class': opt.int({ description: "give each site an operator's labelled set: this many windows per class of its train split (the hub gates on it and fits the head to it)", min: 1, max: 100_000, defaultLabel: 'none (label-free)' }),
    json: opt.flag({ description: 'end with one line of JSON holding the summary and every figure' }),
    backend: opt.choice(BACKEND_PREFERENCES, {
      description: "tfjs backend of the hub's training worker and of the scoring",
      placeholder: 'name',
      defaultLabel: "env SITEKD_BACKEND, else the hub's (wasm)",
    }),
    ...loggingOptions,
  },
} as const satisfies CommandSpec;
