/**
 * The markdown of bench/results/accuracy-har.md, built only from what ran: the options used, the workers that ran,
 * the networks' own widths and parameter counts. Every figure not measured here comes from bench/references.ts and
 * names its doc.
 */
import { OFFICIAL_F1, OFFICIAL_MEANS, OFFICIAL_SETTINGS, OFFICIAL_TRAIN_SECONDS, PAPER_F1_MEAN, type ThreeMeans } from './references';
import type { ModelScore, ScenarioJobResult } from './scenario-worker';

export interface AccuracyRun {
  readonly command: string;
  readonly startedAt: string;
  readonly epochs: number;
  readonly teacherEpochs: number;
  readonly teachers: number;
  readonly seeds: readonly number[];
  /** Worker threads that ran (the requested number, capped at the number of jobs). */
  readonly lanes: number;
  readonly cores: number;
  readonly wallSeconds: number;
  readonly load: { readonly start: string; readonly end: string };
  readonly scenarios: readonly { readonly source: string; readonly target: string }[];
  readonly results: readonly ScenarioJobResult[];
}

const CONSENSUS = ' [consensus]';
const f = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(2));
const key = (s: { source: string; target: string }): string => `${s.source}-${s.target}`;
const base = (name: string): string => name.replace(CONSENSUS, '');
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

/** Which official-code figure a column compares with, if any: the same algorithm as the released code runs it. */
function officialKind(name: string): keyof ThreeMeans | undefined {
  const b = base(name);
  if (b === 'teacher' || b === 'source-only') return b;
  return b === 'unikd-code' ? 'unikd' : undefined;
}

function paperKind(name: string): 'source-only' | 'unikd' | undefined {
  const b = base(name);
  if (b === 'source-only') return b;
  return b.startsWith('unikd') ? 'unikd' : undefined;
}

class Scores {
  constructor(private readonly run: AccuracyRun) {}

  names(): string[] {
    return this.run.results[0]?.models.map((m) => m.name) ?? [];
  }

  pick(name: string, sc: string, field: keyof ModelScore): number[] {
    return this.run.results.filter((r) => key(r.job) === sc).map((r) => r.models.find((m) => m.name === name)?.[field] as number);
  }

  /** Mean over scenarios of the per-scenario mean over seeds. */
  overall(name: string, field: keyof ModelScore): number {
    return meanSd(this.run.scenarios.map((s) => meanSd(this.pick(name, key(s), field)).mean)).mean;
  }

  /** `16/32/32 (13,366 params)` for every distinct network of the teachers or of the students. */
  networks(teachers: boolean): string {
    const seen = new Set<string>();
    for (const r of this.run.results) {
      for (const m of r.models) if ((base(m.name) === 'teacher') === teachers) seen.add(`${m.widths} (${m.params.toLocaleString('en-US')} params)`);
    }
    return [...seen].join(', ') || '–';
  }
}

function header(run: AccuracyRun, sc: Scores): string[] {
  const backend = [...new Set(run.results.map((r) => r.backend))].join(', ') || '?';
  const lines = [
    '# Accuracy on UCI-HAR: the 5 UNI-KD scenarios', '',
    `Command: \`${run.command}\``,
    `Run ${run.startedAt} on backend ${backend}, ${plural(run.lanes, 'worker thread')} (${plural(run.lanes, 'run')} in parallel ` +
      `on ${run.cores} cores); wall time ${run.wallSeconds.toFixed(0)} s for ${run.results.length} jobs. Machine ${run.load.start} at the start, ${run.load.end} at the end.`, '',
    '**Not the hub\'s path.** Each (scenario, seed) job trains a DANN teacher on the source\'s labelled and the target\'s unlabelled ' +
      'training windows (one teacher per scenario, as the official UNI-KD code does) and distills the students from it: the path of ' +
      '`sitekd distill` (lab/scenario.ts). The hub ships a different one: its teacher is trained source-only on the labelled source ' +
      'data, without target data (hub/models/teacher.ts), and each site\'s student is distilled with UNI-KD from that teacher in the ' +
      'hub\'s worker (hub/jobs/redistill-job.ts, hub/worker/ml-worker.ts), where a DANN teacher only serves as the gate\'s reference. ' +
      'So these figures are not the accuracy of the students the hub publishes.', '',
    `Macro-F1 (%) on each target's full test split, mean ± sd over ${plural(run.seeds.length, 'seed')} (${run.seeds.join(', ')}). Students: ${plural(run.epochs, 'epoch')}, ` +
      `${sc.networks(false)}. Teachers: DANN, ${plural(run.teacherEpochs, 'epoch')}, ${sc.networks(true)}.`,
  ];
  const same = run.epochs === OFFICIAL_SETTINGS.epochs && run.teacherEpochs === OFFICIAL_SETTINGS.epochs && run.seeds.join(',') === OFFICIAL_SETTINGS.seeds;
  if (!same) {
    lines.push('', `**The references are not like for like with this run:** the official code ran ${OFFICIAL_SETTINGS.epochs} epochs for ` +
      `teachers and students with seeds ${OFFICIAL_SETTINGS.seeds} (docs/pytorch-reference.md §1).`);
  }
  return [...lines, ''];
}

function scoreTable(run: AccuracyRun, sc: Scores): string[] {
  const names = sc.names();
  const three = (m: ThreeMeans): string => `${f(m.teacher)} / ${f(m['source-only'])} / ${f(m.unikd)}`;
  const off = OFFICIAL_F1.value;
  const means = OFFICIAL_MEANS.value;
  const lines = [
    `| scenario | ${names.join(' | ')} | official code, teacher / source-only / UNI-KD (${OFFICIAL_F1.source}) |`,
    `|---|${names.map(() => '---:').join('|')}|---:|`,
  ];
  for (const s of run.scenarios) {
    const cells = names.map((n) => { const m = meanSd(sc.pick(n, key(s), 'macroF1')); return `${f(m.mean)} ± ${f(m.sd)}`; });
    lines.push(`| ${s.source}→${s.target} | ${cells.join(' | ')} | ${f(off.teacher[key(s)])} / ${f(off['source-only'][key(s)])} / ${f(off.unikd[key(s)])} (official metric) |`);
  }
  const row = (label: string, field: keyof ModelScore, ref: string, bold = false): string => {
    const b = (x: string): string => (bold ? `**${x}**` : x);
    return `| ${label} | ${names.map((n) => b(f(sc.overall(n, field)))).join(' | ')} | ${ref} |`;
  };
  lines.push(row('**mean, full test split**', 'macroF1', `**${three(means.f1FullSplit)}** (full split)`, true));
  lines.push(row('mean, official metric (last partial batch of 32 dropped)', 'macroF1Official', `${three(means.f1Official)} (official metric)`));
  lines.push(row('mean accuracy, official metric', 'accuracyOfficial', `${three(means.accuracy)} (official metric)`));
  const paper = names.map((n) => { const k = paperKind(n); return k === undefined ? '–' : f(PAPER_F1_MEAN.value[k]); });
  lines.push(`| paper, derived main-5 mean (${PAPER_F1_MEAN.source}) | ${paper.join(' | ')} | |`, '');
  lines.push(`The official code's per-scenario figures exist only on its own metric; on a 5-scenario mean the two metrics differ by less ` +
    `than 0.6 (${OFFICIAL_MEANS.source}). Its spread between runs is large (per-scenario sd up to 34 F1): treat ±3 F1 on a mean as noise.`);
  return lines;
}

function timeTable(run: AccuracyRun, sc: Scores): string[] {
  const ref = OFFICIAL_TRAIN_SECONDS.value.mean;
  const lines = [
    '', `## Training time per run, seconds, mean over all ${run.results.length} jobs`, '',
    `sitekd: students ${plural(run.epochs, 'epoch')}, teachers ${plural(run.teacherEpochs, 'epoch')}, ${plural(run.lanes, 'run')} at a time on ` +
      `${run.cores} cores, each single-threaded. Official code: ${OFFICIAL_SETTINGS.epochs} epochs, ${OFFICIAL_SETTINGS.threads} threads ` +
      `(${OFFICIAL_TRAIN_SECONDS.source}). A figure is shown only for the same algorithm with the same epochs. These are wall-clock ` +
      'times: with other work on the cores (the load is in the header) they include waiting for a core. bench/results/speed.md has ' +
      'one run at a time.', '',
    '| model | network | sitekd (this run) | official code |', '|---|---|---:|---:|',
  ];
  for (const n of sc.names()) {
    const models = run.results.map((r) => r.models.find((m) => m.name === n));
    const t = meanSd(models.map((m) => m?.trainSeconds ?? NaN)).mean;
    const kind = officialKind(n);
    const epochs = base(n) === 'teacher' ? run.teacherEpochs : run.epochs;
    const r = kind !== undefined && epochs === OFFICIAL_SETTINGS.epochs ? ref[kind] : undefined;
    lines.push(`| ${n} | ${models[0]?.widths ?? '?'} | ${f(t)} | ${f(r)} |`);
  }
  return lines;
}

function notes(run: AccuracyRun): string[] {
  const lines = ['', 'UNI-KD presets: `code` = the released code\'s behaviour (default); `paper` = every paper-intent flag of ' +
    'shared/ml/algorithms/unikd-options.ts (target logits in the target KD term, adversarial gradient to the student, natural-log β, ' +
    'detached domain weights, no second target forward).'];
  if (run.teachers > 1) {
    const seeds = Array.from({ length: run.teachers }, (_, c) => (c === 0 ? 's' : `s+${1000 * c}`)).join(', ');
    const chosen = run.results.map((r) => `${r.job.source}→${r.job.target}/s${r.job.seed}: #${r.chosenTeacher + 1}`).join(', ');
    lines.push(`Columns without a tag distill from one DANN teacher per (scenario, seed), as the released code does. Columns tagged ` +
      `[consensus] use no target labels either: ${run.teachers} DANN teachers per (scenario, seed) (seeds ${seeds}), and the students ` +
      `distill from the one agreeing most with their majority vote on the target's unlabelled training windows ` +
      `(shared/ml/teacher-selection.ts). Chosen candidate per job: ${chosen}.`);
  } else {
    lines.push('Teacher selection uses no target labels: one DANN teacher per (scenario, seed), the last epoch.');
  }
  return lines;
}

export function renderAccuracy(run: AccuracyRun): string[] {
  const sc = new Scores(run);
  return [...header(run, sc), ...scoreTable(run, sc), ...timeTable(run, sc), ...notes(run)];
}
